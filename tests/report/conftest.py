"""One real sqlite store for the report tests, built once: healthy, NaN, hostile-named, exploding, lr sweep."""

from __future__ import annotations

import dataclasses

import pytest

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
