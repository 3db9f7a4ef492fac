"""make_corpus builds a real labeled store whose labels pass their data checks; evaluate scores it."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
from corpus.checks import check
from corpus.recipes import LABEL_TAG, RECIPES, recipe

from posthoc.demo.loops import TrainConfig, train
from posthoc.store import load_runs, open_store

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # multiprocessing pickles the worker function by module name
    spec.loader.exec_module(module)
    return module


def test_recipes_are_reproducible_and_vary_by_seed():
    assert recipe("overfitting", 5) == recipe("overfitting", 5)
    healthy = {recipe("healthy", seed) for seed in range(30)}
    assert len({c.optimizer for c in healthy}) == 4 and len({c.schedule for c in healthy}) >= 5
    steps = [c.steps for c in healthy]
    assert min(steps) < 200 and max(steps) > 4000


def test_checks_reject_a_run_that_does_not_show_the_label():
    healthy = train(TrainConfig(dataset="wine", depth=0, lr=0.1, batch_size=16, steps=300))
    assert check("healthy", healthy) is None
    assert check("overfitting", healthy) is not None and check("nan_inf", healthy) is not None


def test_tiny_corpus_builds_with_checked_labels(tmp_path, capsys):
    make_corpus = _script("make_corpus")
    db = tmp_path / "corpus.db"
    labels = ("healthy", "nan_inf", "oscillation", "vanishing_gradients")
    make_corpus.RECIPES = {label: RECIPES[label] for label in labels}  # a fast subset of the recipes
    kept, dropped, tried, seconds, _ = make_corpus.build(db, seed=4, per_class=1, healthy=2, workers=2,
                                                         experiment="corpus")
    assert kept == {"healthy": 2, "nan_inf": 1, "oscillation": 1, "vanishing_gradients": 1}
    store = open_store(f"sqlite:///{db}")
    runs = load_runs(store, store.run_ids(list(store.experiment_ids(["corpus"]).values())))
    by_label = {}
    for run in runs:
        by_label.setdefault(run.tags[LABEL_TAG], []).append(run)
        assert "corrupt_steps" not in run.params  # fault knobs are never logged
    assert sorted(by_label) == sorted(labels) and len(by_label["healthy"]) == 2
    nan_run = by_label["nan_inf"][0]
    assert any(not np.isfinite(s.values).all() for s in nan_run.metrics.values())
    healthy_runs = by_label["healthy"]
    assert all(np.isfinite(s.values).all() for r in healthy_runs for s in r.metrics.values())

    evaluate = _script("evaluate")
    result, rows, _ = evaluate.evaluate(db, None)
    assert result["runs"] == 5 and len(rows) == 5
    assert sum(result["confusion"]["healthy"].values()) == 2


def test_score_counts_precision_recall_and_false_alarms():
    result = _script("evaluate").score([("healthy", "healthy"), ("healthy", "plateau"), ("plateau", "plateau"),
                                        ("overfitting", "healthy")])
    assert result["healthy_false_alarm"] == 0.5
    assert result["per_class"]["plateau"]["precision"] == 0.5 and result["per_class"]["plateau"]["recall"] == 1.0
    assert result["per_class"]["overfitting"]["f1"] == 0.0
    assert abs(result["macro_f1"] - (0.5 + 2 / 3 + 0.0) / 3) < 1e-9
