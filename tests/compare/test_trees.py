"""The numpy tree ensemble behind the importance ranking: it fits what the outcome depends on, interactions
included, and `posthoc compare` runs without importing scikit-learn, scipy or pandas."""

import itertools
import json
import subprocess
import sys

import numpy as np

from posthoc.compare import compare
from posthoc.compare.trees import fit_forest
from posthoc.demo.loops import TrainConfig, config_params, train
from posthoc.model import Run, Series


def test_predictions_reproduce_a_step_in_one_column_and_ignore_the_others():
    """Column 2 takes a distinct value in every row, so its cuts come from its quantiles."""
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.integers(0, 4, size=(200, 2)), rng.permutation(200)]).astype(float)
    y = np.where(x[:, 1] >= 2, 5.0, 1.0)
    grid = np.array(list(itertools.product(range(4), range(4), range(0, 200, 7))), dtype=float)
    predicted = fit_forest(x, y).predict(grid)
    assert np.allclose(predicted, np.where(grid[:, 1] >= 2, 5.0, 1.0))
    assert np.array_equal(predicted, fit_forest(x, y).predict(grid))  # seeded: the same trees every time


def _run(index: int, config: TrainConfig) -> Run:
    history = train(config)
    metrics = {k: Series.from_points(k, s, v, 1_700_000_000_000 + s * 20) for k, (s, v) in history.metrics.items()}
    return Run(f"run{index:03d}", f"sweep-{index}", "1", "FINISHED", 1_700_000_000_000, None,
               config_params(config), {}, metrics)


def test_interacting_params_rank_above_one_the_training_never_reads():
    """The best lr depends on the optimizer (sgd wants a large one, adam a small one); `momentum` is logged
    but only the momentum optimizer reads it, so it cannot change these runs."""
    runs = [_run(i, TrainConfig(dataset="wine", steps=40, val_every=5, lr=lr, optimizer=optimizer,
                                momentum=momentum, seed=seed))
            for i, (lr, optimizer, momentum, seed) in enumerate(
                itertools.product([0.001, 0.01, 0.1, 1.0], ["sgd", "adam"], [0.5, 0.9], [0, 1]))]
    importance = {i.param: i.importance for i in compare(runs).importance}
    assert set(importance) == {"lr", "optimizer", "momentum"}
    assert min(importance["lr"], importance["optimizer"]) > max(importance["momentum"], 0.0)


def test_compare_imports_no_sklearn_scipy_or_pandas(sweeps_uri):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "posthoc", "compare", "-e", "posthoc-sweeps",
                           "--tracking-uri", sweeps_uri, "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["importance"][0]["param"] == "lr"
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "posthoc.compare.trees" in imported
    assert [m for m in imported if m.split(".")[0] in ("sklearn", "scipy", "pandas")] == []
