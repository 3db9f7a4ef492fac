"""The demo experiment: one run per pattern, each produced by its configuration alone."""

from __future__ import annotations

from posthoc.demo.loops import TrainConfig, train
from posthoc.demo.record import log_history, open_client

DEMO_RUNS: tuple[tuple[str, TrainConfig], ...] = (
    ("healthy-mlp-sgd", TrainConfig(lr=0.05, steps=600)),
    ("healthy-adam-cosine", TrainConfig(optimizer="adam", lr=0.003, schedule="warmup_cosine", warmup_steps=50, steps=600, naming="hf", log_every=10, val_every=50)),
    ("healthy-softmax-wine", TrainConfig(dataset="wine", depth=0, lr=0.1, batch_size=16, steps=400, naming="slash")),
    ("nan-corrupted-batch", TrainConfig(lr=0.05, steps=600, corrupt_steps=(300,), corrupt_scale=float("inf"))),
    ("diverging-lr-jump", TrainConfig(dataset="synthetic", depth=2, optimizer="adam", lr=0.002, lr_jump_step=300, lr_jump_factor=60, steps=700, naming="keras")),
    ("exploding-lr-warmup", TrainConfig(dataset="diabetes", depth=0, lr=2.5, schedule="warmup", warmup_steps=500, steps=500, batch_size=64)),
    ("oscillating-full-batch", TrainConfig(dataset="moons", depth=0, lr=25.0, batch_size=0, steps=500, label_noise=0.2)),
    ("spiky-corrupted-batches", TrainConfig(lr=0.05, steps=800, corrupt_steps=(200, 420, 650), corrupt_mode="both", corrupt_scale=5.0)),
    ("plateau-saddle", TrainConfig(dataset="digits", depth=4, activation="tanh", init_scale=0.2, lr=0.05, steps=3000, log_every=5, val_every=50)),
    ("vanishing-dead-relu", TrainConfig(dataset="iris", depth=2, bias_init=-5.0, lr=0.1, batch_size=0, steps=500, naming="lightning")),
    ("overfitting-small-subset", TrainConfig(train_subset=150, label_noise=0.3, hidden=128, lr=0.05, steps=3000, val_every=50, log_every=5)),
    ("underfitting-tiny-model", TrainConfig(dataset="synthetic", hidden=2, lr=0.05, steps=1500)),
    ("noisy-batch-1", TrainConfig(batch_size=1, lr=0.05, steps=800)),
)
DEMO_LABELS = {"healthy-mlp-sgd": "healthy", "healthy-adam-cosine": "healthy", "healthy-softmax-wine": "healthy",
               "nan-corrupted-batch": "nan_inf", "diverging-lr-jump": "divergence", "exploding-lr-warmup": "exploding_gradients",
               "oscillating-full-batch": "oscillation", "spiky-corrupted-batches": "loss_spikes", "plateau-saddle": "plateau",
               "vanishing-dead-relu": "vanishing_gradients", "overfitting-small-subset": "overfitting",
               "underfitting-tiny-model": "underfitting", "noisy-batch-1": "noisy_small_batch"}

# The debugging guides' two tests, logged next to the runs as engineers do: names say what they are; the range
# test is recognized from its data too. The failing one-batch test uses vanishing-dead-relu's network.
DEMO_TESTS: tuple[tuple[str, TrainConfig], ...] = (
    ("one-batch-overfit", TrainConfig(optimizer="adam", lr=0.01, train_subset=32, batch_size=32, steps=200, log_val=False)),
    ("one-batch-overfit-dead-relu", TrainConfig(dataset="iris", depth=2, bias_init=-5.0, lr=0.1, train_subset=32,
                                                batch_size=32, steps=200, log_val=False, naming="lightning")),
    ("lr-range-test", TrainConfig(lr=1e-7, schedule="range_test", range_end_lr=10.0, steps=300, log_val=False,
                                  stop_on_nan=True)),
)


def build_demo(uri: str, experiment: str, progress=lambda name: None) -> bool:
    """Train and log DEMO_RUNS and DEMO_TESTS into `experiment` unless it already holds runs; True if it logged them."""
    client = open_client(uri)
    existing = client.get_experiment_by_name(experiment)
    if existing is not None and client.search_runs([existing.experiment_id], max_results=1):
        return False
    experiment_id = existing.experiment_id if existing is not None else client.create_experiment(experiment)
    from threadpoolctl import (
        threadpool_limits,  # BLAS threads only slow these tiny matrices down
    )

    with threadpool_limits(1):
        for name, config in DEMO_RUNS:
            tags = {"posthoc.demo": "true", "posthoc.label": DEMO_LABELS[name]}
            log_history(client, experiment_id, train(config), name, tags=tags)
            progress(name)
        for name, config in DEMO_TESTS:
            log_history(client, experiment_id, train(config), name, tags={"posthoc.demo": "true"})
            progress(name)
    return True
