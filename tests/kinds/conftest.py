"""Kinds tests: real numpy range tests and one-batch tests. The runs the done-when criteria hinge on go
through one real sqlite store; the many comparison runs (lr grids, schedules) are read from the loop's own
History, since creating and filling MLflow stores would cost most of the time budget."""

from __future__ import annotations

import pytest

from posthoc.demo.loops import History, TrainConfig, config_params, train
from posthoc.model import Run, Series
from tests.conftest import StoreBuilder


@pytest.fixture(scope="session")
def kinds_store(tmp_path_factory) -> StoreBuilder:
    """One store for every kinds test: creating an MLflow sqlite schema costs more than the runs logged into it."""
    return StoreBuilder(f"sqlite:///{tmp_path_factory.mktemp('kinds') / 'mlflow.db'}")


def history_run(name: str, history: History, experiment_id: str = "0", tags: dict | None = None) -> Run:
    """The Run the store would read back for this History (every knob as a param, 20 ms per step)."""
    metrics = {key: Series.from_points(key, steps, values, 1_700_000_000_000 + steps * 20)
               for key, (steps, values) in history.metrics.items()}
    return Run(name, name, experiment_id, "FINISHED", 1_700_000_000_000, None, config_params(history.config),
               dict(tags or {}), metrics)


def trained_run(name: str, config: TrainConfig, **kwargs) -> Run:
    return history_run(name, train(config), **kwargs)
