"""Detector tests: log a real training loop into a real sqlite MLflow store, read it back, diagnose it."""

import pytest

from posthoc.diagnose import diagnose


@pytest.fixture
def analyze(sqlite_store):
    """analyze(name, config) -> Diagnosis of that run, read back from the store (strict: detectors may not raise)."""

    def run(name, config, **kwargs):
        sqlite_store.add(name, config, **kwargs)
        return diagnose(sqlite_store.load(name), strict=True)

    return run


def finding(diagnosis, pattern):
    return next((f for f in diagnosis.findings if f.pattern == pattern), None)
