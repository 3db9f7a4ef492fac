"""Runs written by MLflow's REAL autologging (LightGBM, XGBoost, Keras on JAX) into a tmp sqlite store.

Needs the `integrations` extra (.ci/run installs it). Autolog's slow extras (models, datasets, signatures)
are off; metric logging is exactly what autolog does.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is first imported

import pytest

from posthoc.store import load_runs, open_store


class AutologStore:
    """Trains corpus.autolog recipes inside MLflow runs of one tmp store; loads them back as posthoc Runs."""

    def __init__(self, uri: str, artifacts: Path):
        self.uri = uri
        self.artifacts = artifacts

    def use_experiment(self, name: str) -> None:
        """Make `name` the active experiment, its artifacts (autolog's feature-importance plots) under tmp:
        MLflow's default artifact root is ./mlruns in the working directory, which is the repository."""
        import mlflow

        if mlflow.get_experiment_by_name(name) is None:
            mlflow.create_experiment(name, artifact_location=(self.artifacts / name).as_uri())
        mlflow.set_experiment(name)

    def train(self, framework: str, label: str, seed: int = 0, **options) -> tuple[str, dict]:
        """(run id, the train/val keys the recipe logged) for one autologged training run."""
        import mlflow
        from corpus.autolog import TRAINERS, autolog

        autolog(framework)
        with mlflow.start_run(run_name=f"{framework}-{label}-{seed}") as run:
            names = TRAINERS[framework](label, seed, **options)
        return run.info.run_id, names

    def load(self, run_id: str):
        return load_runs(open_store(self.uri), [run_id])[0]


@pytest.fixture(scope="session")
def autologged(tmp_path_factory):
    """One store for the whole session: creating an MLflow sqlite store (its migrations) costs seconds."""
    mlflow = pytest.importorskip("mlflow")
    previous = mlflow.get_tracking_uri()
    folder = tmp_path_factory.mktemp("autolog")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    store = AutologStore(uri, folder / "artifacts")
    store.use_experiment("autolog")
    yield store
    for flavor in ("lightgbm", "xgboost", "keras"):
        if importlib.util.find_spec(flavor) is not None:  # mlflow.keras imports keras: absent without the extra
            getattr(mlflow, flavor).autolog(disable=True)
    mlflow.set_tracking_uri(previous)
