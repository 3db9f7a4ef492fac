"""Demo sweeps for `posthoc compare`, trained for real by posthoc.demo's numpy loops: an lr sweep that
matters (with a setting that blows up to NaN), a param that does not (a tiny weight decay), and a
confounded pair (warmup schedule and warmup steps always changed together), each with several seeds."""

from __future__ import annotations

import dataclasses

from posthoc.demo.loops import TrainConfig, train
from posthoc.demo.record import log_history, open_client

BASE = TrainConfig(dataset="wine", depth=1, hidden=16, lr=0.03, batch_size=16, steps=150, val_every=10)
SEEDS = (0, 1, 2)


def sweep_configs(base: TrainConfig = BASE, seeds: tuple[int, ...] = SEEDS) -> list[tuple[str, TrainConfig]]:
    """(run name, config) for each sweep; the base setting (lr=0.03, no decay, no warmup) is shared."""
    variants = [
        ("lr=0.003", {"lr": 0.003}),  # too small: still far from converged
        ("lr=0.03 (base)", {}),
        ("lr=0.3", {"lr": 0.3}),
        ("lr=30", {"lr": 30.0}),  # too large: overflows to NaN in the first steps
        ("weight_decay=1e-4", {"weight_decay": 1e-4}),  # makes no real difference at this scale
        ("warmup 50 steps", {"schedule": "warmup", "warmup_steps": 50}),  # two params, always together
    ]
    return [
        (f"{label} seed={seed}", dataclasses.replace(base, seed=seed, **changes))
        for label, changes in variants
        for seed in seeds
    ]


def build_sweeps(uri: str, experiment: str = "posthoc-sweeps", base: TrainConfig = BASE,
                 seeds: tuple[int, ...] = SEEDS, progress=lambda name: None) -> bool:
    """Train and log the sweeps into `experiment` unless it already holds runs; True if it logged them."""
    client = open_client(uri)
    existing = client.get_experiment_by_name(experiment)
    if existing is not None and client.search_runs([existing.experiment_id], max_results=1):
        return False
    experiment_id = existing.experiment_id if existing is not None else client.create_experiment(experiment)
    for name, config in sweep_configs(base, seeds):
        log_history(client, experiment_id, train(config), name, tags={"posthoc.demo": "sweeps"})
        progress(name)
    return True
