"""Detector tests: log a real training loop into a real sqlite MLflow store, read it back, diagnose it."""

import pytest

from posthoc.diagnose import diagnose
from tests.conftest import StoreBuilder


@pytest.fixture(scope="module")
def detector_store(tmp_path_factory) -> StoreBuilder:
    """One sqlite store per test module: creating MLflow's schema costs seconds, a run costs milliseconds."""
    return StoreBuilder(f"sqlite:///{tmp_path_factory.mktemp('detectors') / 'mlflow.db'}")


@pytest.fixture(scope="module")
def analyze(detector_store):
    """analyze(name, config) -> Diagnosis of that run, read back from the store (strict: detectors may not raise)."""

    def run(name, config, **kwargs):
        detector_store.add(name, config, **kwargs)
        return diagnose(detector_store.load(name), strict=True)

    return run


def finding(diagnosis, pattern):
    return next((f for f in diagnosis.findings if f.pattern == pattern), None)
