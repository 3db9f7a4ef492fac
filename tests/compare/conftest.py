"""Fixtures for compare: the demo sweeps, trained for real once per session and logged to one sqlite store
twice: with their knobs as params, and the way the Hugging Face Trainer logs them (~140 params)."""

from __future__ import annotations

import pytest

from posthoc.demo.sweeps import build_sweeps
from posthoc.diagnose import diagnose
from posthoc.store import load_runs, open_store


def _experiment(uri: str, name: str):
    store = open_store(uri)
    runs = load_runs(store, store.run_ids(list(store.experiment_ids([name]).values())))
    return uri, runs, [diagnose(r) for r in runs]


@pytest.fixture(scope="session")
def sweeps_uri(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('sweeps') / 'mlflow.db'}"
    assert build_sweeps(uri, "posthoc-sweeps")
    return uri


@pytest.fixture(scope="session")
def sweeps_store(sweeps_uri):
    """(uri, runs, diagnoses) of the posthoc-sweeps experiment: 6 settings x 3 seeds, 150 steps on wine."""
    return _experiment(sweeps_uri, "posthoc-sweeps")


@pytest.fixture(scope="session")
def hf_sweeps_store(sweeps_uri):
    """(uri, runs, diagnoses) of posthoc-sweeps-hf: the same trained runs, logged as the HF Trainer logs."""
    return _experiment(sweeps_uri, "posthoc-sweeps-hf")
