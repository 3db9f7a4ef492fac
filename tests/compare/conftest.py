"""Fixtures for compare: the demo sweeps, trained for real and logged to a sqlite store once per session."""

from __future__ import annotations

import pytest

from posthoc.demo.sweeps import build_sweeps
from posthoc.diagnose import diagnose
from posthoc.store import load_runs, open_store


@pytest.fixture(scope="session")
def sweeps_store(tmp_path_factory):
    """(uri, runs, diagnoses) of the posthoc-sweeps experiment: 6 settings x 3 seeds, 150 steps on wine."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('sweeps') / 'mlflow.db'}"
    assert build_sweeps(uri, "posthoc-sweeps")
    store = open_store(uri)
    runs = load_runs(store, store.run_ids(list(store.experiment_ids(["posthoc-sweeps"]).values())))
    return uri, runs, [diagnose(r) for r in runs]
