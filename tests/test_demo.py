"""The demo loops' knobs really produce what they claim (measured on the logged numbers, no detectors)."""

import dataclasses
import math

import numpy as np
import pytest
from corpus.checks import check, noise_ratio, role_series
from corpus.recipes import Recipe

from posthoc.demo.loops import NAMING, TrainConfig, load_dataset, train
from posthoc.demo.runs import DEMO_LABELS, DEMO_RUNS

WINE = TrainConfig(dataset="wine", depth=1, hidden=16, steps=300, val_every=10)


def loss(config: TrainConfig) -> np.ndarray:
    return role_series(train(config), "train_loss")[1]


def test_batch_size_one_is_noisier_than_batch_64():
    small = noise_ratio(loss(dataclasses.replace(WINE, dataset="digits", batch_size=1, steps=400)))
    large = noise_ratio(loss(dataclasses.replace(WINE, dataset="digits", batch_size=64, steps=400)))
    assert small > 0.9 and large < 0.5 and small > 3 * large


def test_inf_batch_makes_the_loss_non_finite_from_that_step():
    steps, values = role_series(train(dataclasses.replace(WINE, corrupt_steps=(120,), corrupt_scale=math.inf)),
                                "train_loss")
    assert np.isfinite(values[steps < 120]).all()
    assert not np.isfinite(values[steps == 120]).any()


def test_stop_on_nan_ends_the_run_at_the_first_nan():
    h = train(dataclasses.replace(WINE, corrupt_steps=(50,), corrupt_scale=math.nan, stop_on_nan=True))
    steps, values = role_series(h, "train_loss")
    assert steps[-1] == 50 and math.isnan(values[-1])


def test_small_train_subset_trained_long_makes_val_rise_while_train_falls():
    h = train(TrainConfig(train_subset=150, label_noise=0.3, hidden=128, lr=0.05, steps=2500, val_every=50, log_every=5))
    val = role_series(h, "val_loss")[1]
    train_loss = role_series(h, "train_loss")[1]
    assert val[-1] > 1.15 * val.min() and np.argmin(val) < len(val) // 2
    assert np.median(train_loss[-50:]) < 0.2 * np.median(train_loss[:20])


def test_lr_jump_multiplies_the_logged_lr_from_that_step():
    h = train(dataclasses.replace(WINE, lr=0.01, lr_jump_step=100, lr_jump_factor=50.0))
    steps, lr = role_series(h, "lr")
    assert lr[steps == 99][0] == pytest.approx(0.01) and lr[steps == 100][0] == pytest.approx(0.5)


def test_schedules_shape_the_lr():
    exp = role_series(train(dataclasses.replace(WINE, schedule="exp", decay_steps=30)), "lr")[1]
    cyclic = role_series(train(dataclasses.replace(WINE, schedule="cyclic", decay_steps=50)), "lr")[1]
    assert exp[-1] < 1e-3 * exp[0]
    assert cyclic[49] == pytest.approx(WINE.lr, rel=0.05) and cyclic[99] < 0.15 * WINE.lr


def test_dead_relus_full_batch_make_the_grad_norm_vanish():
    h = train(TrainConfig(dataset="iris", depth=2, bias_init=-5.0, lr=0.1, batch_size=0, steps=400))
    grad = role_series(h, "grad_norm")[1]
    assert grad[0] > 1e-3 and grad[-1] < 1e-6


def test_loss_offset_and_logging_options():
    h = train(dataclasses.replace(WINE, loss_offset=-5.0, log_every=10, log_grad_norm=False, log_lr=False,
                                  naming="slash"))
    assert set(h.metrics) == {"train/loss", "val/loss", "val/acc"}
    steps, values = h.metrics["train/loss"]
    assert steps[0] == 9 and (values < 0).all()


def test_regression_loss_is_mse_in_the_thousands():
    values = loss(TrainConfig(dataset="diabetes", depth=0, lr=0.01, steps=50))
    assert values[0] > 1000


def test_dropout_changes_training_but_not_the_logged_keys():
    plain, dropped = train(WINE), train(dataclasses.replace(WINE, dropout=0.3))
    assert set(plain.metrics) == set(dropped.metrics)
    assert not np.allclose(plain.metrics["train_loss"][1], dropped.metrics["train_loss"][1])


@pytest.mark.parametrize("name,config", [r for r in DEMO_RUNS if r[0] in (
    "diverging-lr-jump", "exploding-lr-warmup", "oscillating-full-batch", "spiky-corrupted-batches",
    "vanishing-dead-relu", "underfitting-tiny-model", "noisy-batch-1", "healthy-softmax-wine")])
def test_demo_runs_show_their_label(name, config):
    label = DEMO_LABELS[name]
    assert check(Recipe(label, f"{label}/demo", config), train(config)) is None


def test_every_demo_run_has_a_label_and_a_known_naming():
    assert set(DEMO_LABELS) == {name for name, _ in DEMO_RUNS}
    assert all(config.naming in NAMING for _, config in DEMO_RUNS)


def test_run_seeds_past_32_bits_still_generate_their_dataset():
    # corpus seed 4300 gives run seeds near 4.3e9; scikit-learn's random_state must stay under 2**32
    x, y, _, _ = load_dataset("synthetic", 4_300_000_123)
    same, _, _, _ = load_dataset("synthetic", 4_300_000_123 % 2**32)
    assert np.array_equal(x, same) and len(np.unique(y)) == 4
