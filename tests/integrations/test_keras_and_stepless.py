"""Keras 3 runs logged by mlflow.keras.autolog() (JAX backend), and runs logged with mlflow.log_metric(k, v)."""

import numpy as np
import pytest

from posthoc.demo.loops import NAMING, TrainConfig, train
from posthoc.diagnose import diagnose
from posthoc.roles import resolve_roles


def test_keras_overfit(autologged):
    pytest.importorskip("keras")
    run_id, names = autologged.train("keras", "overfitting", seed=1)
    run = autologged.load(run_id)
    d = diagnose(run, strict=True)
    assert d.roles["train_loss"] == "loss" and d.roles["val_loss"] == "val_loss"
    # autolog's on_test_end copies (validation_loss at step 0 per epoch) are recognized, not read as val loss
    assert run.metrics["validation_loss"].ordered_by == "timestamp"
    assert any("validation_loss" in note for note in d.role_notes)
    assert d.primary == "overfitting"
    val = run.metrics["val_loss"]
    assert abs(d.findings[0].evidence["best_step"] - int(val.steps[np.argmin(val.values)])) <= 2


@pytest.mark.parametrize("seed", [5110118, 5110235])
def test_keras_healthy_runs_logged_per_epoch_are_not_underfitting(autologged, seed):
    """Keras logs epoch means, so the first logged loss is already below chance; these healthy runs end at 44-45%
    of it with val close behind, and were warned as underfitting when the bar sat at 40% of the first loss."""
    pytest.importorskip("keras")
    run_id, _ = autologged.train("keras", "healthy", seed=seed)
    d = diagnose(autologged.load(run_id), strict=True)
    assert d.status == "healthy" and not any(f.pattern == "underfitting" for f in d.findings)


def test_keras_nan(autologged):
    pytest.importorskip("keras")
    run_id, _ = autologged.train("keras", "nan_inf", seed=2)
    run = autologged.load(run_id)
    loss = run.metrics["loss"]
    first_bad = int(loss.steps[np.flatnonzero(~np.isfinite(loss.values))[0]])
    d = diagnose(run, strict=True)
    assert d.status == "failed"
    nan = next(f for f in d.findings if f.pattern == "nan_inf")
    assert nan.step_start == first_bad


def _log_without_step(autologged, history, name: str) -> str:
    """Log a history as a script calling mlflow.log_metric(key, value) in its loop would: no step."""
    import mlflow

    points = sorted((int(step), key, float(value)) for key, (steps, values) in history.metrics.items()
                    for step, value in zip(steps, values))
    with mlflow.start_run(run_name=name) as run:
        for _, key, value in points:
            mlflow.log_metric(key, value)
    return run.info.run_id


def test_a_rise_logged_without_steps_is_found_in_time_order(autologged):
    # plain SGD on a linear regression whose lr jumps 30x past the stability limit at step 120
    config = TrainConfig(dataset="diabetes", depth=0, optimizer="sgd", lr=0.01, lr_jump_step=120, lr_jump_factor=30,
                         steps=240, val_every=20, log_grad_norm=False, log_lr=False, seed=3)
    history = train(config)
    loss = history.metrics[NAMING["plain"]["train_loss"]][1]
    assert np.nanmax(loss[140:]) > 100 * np.nanmin(loss[:120])  # the injected rise really happened
    run = autologged.load(_log_without_step(autologged, history, "stepless-divergence"))
    series = run.metrics["train_loss"]
    assert series.ordered_by == "timestamp" and len(series) == len(loss) and list(series.steps) == list(range(len(loss)))
    d = diagnose(run, strict=True)
    assert d.status == "failed" and d.primary in ("divergence", "nan_inf")
    primary = next(f for f in d.findings if f.pattern == d.primary)
    assert primary.evidence["ordered_by"] == "timestamp" and primary.step_start >= 120  # after the lr jump
    assert any("ordered by timestamp" in note for note in d.role_notes)


def test_a_healthy_run_logged_without_steps_stays_healthy(autologged):
    history = train(TrainConfig(dataset="wine", depth=1, hidden=16, steps=200, val_every=10, seed=4))
    run = autologged.load(_log_without_step(autologged, history, "stepless-healthy"))
    roles = resolve_roles(run)
    # val was logged every 10 steps: placed on the train loss's steps by time, not numbered 0, 1, 2…
    assert roles.get("val_loss").steps[-1] >= 180
    d = diagnose(run, strict=True)
    assert d.status == "healthy" and d.roles["train_loss"] == "train_loss"


def test_keras_batch_level_logging_saw_tooth_is_not_a_fault(autologged):
    """log_every_n_steps=1 logs Keras' running mean within each epoch (a saw-tooth at epoch boundaries), and
    the validation loss only as step-0 copies after each epoch: placed on the batch steps by time."""
    pytest.importorskip("keras")
    import keras
    import mlflow
    from corpus.autolog import QUIET

    mlflow.keras.autolog(log_every_epoch=False, log_every_n_steps=1,
                         **{k: v for k, v in QUIET.items() if k != "log_input_examples"})
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 10)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=3000) > 0).astype(np.float32)
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="binary_crossentropy")
    with mlflow.start_run(run_name="keras-batch-level") as run:
        model.fit(x[:2400], y[:2400], validation_data=(x[2400:], y[2400:]), epochs=6, batch_size=64, verbose=0)
    run = autologged.load(run.info.run_id)
    roles = resolve_roles(run)
    train, val = roles.get("train_loss"), roles.get("val_loss")
    assert train.key == "loss" and train.ordered_by == "step" and len(train) == 6 * 38
    assert val.key == "validation_loss" and val.ordered_by == "timestamp" and len(val) == 6
    assert val.steps[-1] >= train.steps[-2]  # the last validation pass came after the last batches
    d = diagnose(run, strict=True)
    assert d.status == "healthy", [f.message for f in d.findings]
