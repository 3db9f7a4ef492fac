"""One real sqlite store for the report tests, built once: healthy, NaN, hostile-named, exploding, lr sweep."""

from __future__ import annotations

import dataclasses

import pytest

from posthoc.demo.loops import TrainConfig
from posthoc.diagnose import diagnose
from tests.conftest import QUICK, StoreBuilder

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
NAN = dataclasses.replace(QUICK, corrupt_steps=(60,), corrupt_scale=float("inf"))
BLOWUP = dataclasses.replace(QUICK, depth=4, init_scale=3.0)  # train loss spans >100x: log axis
SWEEP = {f"lr{lr}-s{seed}": dataclasses.replace(QUICK, lr=lr, seed=seed) for lr in (0.05, 0.5) for seed in (0, 1)}


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> StoreBuilder:
    builder = StoreBuilder(f"sqlite:///{tmp_path_factory.mktemp('report') / 'mlflow.db'}")
    builder.add("healthy", QUICK, experiment="report")
    builder.add("nan", NAN, experiment="report")
    builder.add("blowup", BLOWUP, experiment="report")
    hostile = builder.add(SCRIPT + IMG, dataclasses.replace(QUICK, lr=0.07), experiment="report", status="RUNNING",
                          tags={"note": IMG, "owner": SCRIPT})
    builder.ids["hostile"] = hostile
    builder.client.log_param(hostile, "comment", IMG + SCRIPT)
    for name, config in SWEEP.items():
        builder.add(name, config, experiment="sweep")
    return builder


@pytest.fixture(scope="session")
def diagnoses(store) -> dict:
    """name → Diagnosis of the report experiment's runs, read back from the store."""
    return {name: diagnose(store.load(name), strict=True) for name in ("healthy", "nan", "blowup", "hostile")}


# the examples, each from its own configuration: advice and checklist must agree with these runs
TRUST = {
    "warmup-blowup": TrainConfig(dataset="regression", depth=0, lr=2.0, schedule="warmup", warmup_steps=300, steps=300,
                                 batch_size=64, val_every=20),  # warmup over the whole run, still explodes
    "lr-jump": TrainConfig(dataset="digits", depth=1, hidden=32, optimizer="adam", lr=2e-3, steps=300, val_every=10,
                           lr_jump_step=150, lr_jump_factor=60.0),
    "dead-relu": TrainConfig(dataset="wine", depth=2, hidden=16, bias_init=-6.0, lr=0.1, batch_size=0, steps=300),
    "stall": TrainConfig(dataset="digits", depth=1, hidden=32, lr=0.01, steps=600, val_every=20, lr_jump_step=60,
                         lr_jump_until=330, lr_jump_factor=1e-4),  # a plateau, then the loss falls far
    "swing": TrainConfig(dataset="moons", depth=0, lr=50.0, batch_size=0, steps=300, val_every=10),  # momentum=0.9 logged
    "overfit": TrainConfig(dataset="digits", depth=1, hidden=128, train_subset=100, label_noise=0.3, lr=0.1,
                           steps=1500, val_every=25),
    "plain": TrainConfig(dataset="wine", depth=1, hidden=16, steps=300, val_every=10),
    "plain-2": TrainConfig(dataset="wine", depth=1, hidden=16, steps=300, val_every=10, seed=1),
}


@pytest.fixture(scope="session")
def trust(store) -> dict:
    """name → Diagnosis of the TRUST runs (experiment 'trust'), read back from the store."""
    for name, config in TRUST.items():
        store.add(name, config, experiment="trust")
    return {name: diagnose(store.load(name), strict=True) for name in TRUST}
