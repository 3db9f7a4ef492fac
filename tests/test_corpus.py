"""The corpus: recipes inject a fault the checks can see, the dev/test split holds out whole families, and
make_corpus builds a real labeled store that evaluate scores per split."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus.checks import check, role_series
from corpus.recipes import (
    FAMILIES,
    FAMILY_TAG,
    HELD_OUT_DATASETS,
    HELD_OUT_FAMILIES,
    HELD_OUT_OPTIMIZERS,
    LABEL_TAG,
    LABELS,
    LABELS_TAG,
    NEW_HELD_OUT_FAMILIES,
    SECOND_HELD_OUT_FAMILIES,
    SPLIT_TAG,
    Recipe,
    recipe,
)

from posthoc.demo.loops import TrainConfig, train
from posthoc.demo.record import log_history, open_client
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
    healthy = {recipe("healthy", seed).config for seed in range(40)}
    assert len({c.optimizer for c in healthy}) == 3 and len({c.schedule for c in healthy}) >= 5
    steps = [c.steps for c in healthy]
    assert min(steps) < 200 and max(steps) > 4000


def test_the_test_split_holds_out_whole_families_datasets_and_optimizers():
    made = [recipe(label, seed, split) for label in LABELS for split in ("dev", "test") for seed in range(25)]
    dev = [r for r in made if r.split == "dev"]
    test = [r for r in made if r.split == "test"]
    assert len(dev) == len(test) == len(made) // 2  # every recipe lands in the split it was asked for
    assert not any(r.family in HELD_OUT_FAMILIES or r.config.dataset in HELD_OUT_DATASETS
                   or r.config.optimizer in HELD_OUT_OPTIMIZERS for r in dev)
    assert all(r.family in HELD_OUT_FAMILIES or r.config.dataset in HELD_OUT_DATASETS
               or r.config.optimizer in HELD_OUT_OPTIMIZERS for r in test)
    # each held-out family is drawn for test runs, and each held-out axis appears among them
    assert HELD_OUT_FAMILIES <= {r.family for r in test}
    assert HELD_OUT_DATASETS <= {r.config.dataset for r in test}
    assert HELD_OUT_OPTIMIZERS <= {r.config.optimizer for r in test}
    assert HELD_OUT_FAMILIES <= {f"{label}/{name}" for label in FAMILIES for name in FAMILIES[label]}  # no typos
    assert {r.label for r in test} == set(LABELS)


def _shown(label: str, family: str, attempts: int = 30) -> tuple[Recipe, object]:
    """The first recipe of `family` whose trained history passes its check."""
    for seed in range(attempts):
        for split in ("dev", "test"):
            made = recipe(label, seed, split)
            if made.family == family:
                history = train(made.config)
                if check(made, history) is None:
                    return made, history
    raise AssertionError(f"no {family} run showed its fault in {attempts} seeds")


# (family, the fault removed) -- with the fault gone the same recipe must fail its own check
FAULTS = [
    ("divergence/finite_blowup", lambda c: dataclasses.replace(c, lr=0.05, schedule="constant")),
    ("plateau/lr_too_small", lambda c: dataclasses.replace(c, lr=c.lr * 3000)),
    ("oscillation/full_batch_gd", lambda c: dataclasses.replace(c, lr=c.lr / 30)),
    ("oscillation/momentum_ringing", lambda c: dataclasses.replace(c, momentum=0.0, lr=c.lr / 10)),
    ("noisy_small_batch/batch_1_to_4", lambda c: dataclasses.replace(c, batch_size=128)),
    ("oscillation/momentum_mlp_large_lr", lambda c: dataclasses.replace(c, lr=c.lr / 100)),
    ("plateau/random_labels", lambda c: dataclasses.replace(c, label_noise=0.0)),
    ("underfitting/few_features", lambda c: dataclasses.replace(c, features=0)),
    ("plateau/lr_collapse", lambda c: dataclasses.replace(c, schedule="constant")),
    ("divergence/warmup_past_stable", lambda c: dataclasses.replace(c, lr=c.lr / 100)),
]


@pytest.mark.parametrize("family,remove", FAULTS, ids=[f for f, _ in FAULTS])
def test_an_injected_fault_shows_in_the_data_and_goes_when_removed(family, remove):
    made, history = _shown(family.split("/")[0], family)
    assert check(Recipe("healthy", "healthy/tabular", made.config), history) is not None
    fixed = dataclasses.replace(made, config=remove(made.config))
    assert check(fixed, train(fixed.config)) is not None


@pytest.mark.parametrize("family", sorted(SECOND_HELD_OUT_FAMILIES | NEW_HELD_OUT_FAMILIES))
def test_each_new_held_out_family_shows_its_label_and_only_in_test_runs(family):
    label = family.split("/")[0]
    assert family in HELD_OUT_FAMILIES and all(recipe(label, seed).family != family for seed in range(40))
    made, _ = _shown(label, family)
    assert made.split == "test"


def test_a_finite_blowup_climbs_past_1e250_without_inf():
    made, history = _shown("divergence", "divergence/finite_blowup")
    loss = role_series(history, "train_loss")[1]
    assert np.isfinite(loss).all() and loss.max() > 1e250


def test_checks_reject_a_run_that_does_not_show_the_label():
    healthy = train(TrainConfig(dataset="wine", depth=0, lr=0.1, batch_size=16, steps=300))
    assert check(Recipe("healthy", "healthy/tabular", healthy.config), healthy) is None
    for label in ("overfitting", "nan_inf", "plateau", "underfitting"):
        assert check(Recipe(label, f"{label}/x", healthy.config), healthy) is not None


def test_a_small_batch_run_that_memorizes_is_not_labelled_noisy():
    # batch 1 on breast_cancer: the val loss ends 1.6x its best 5-point level; that run is overfitting as well, so
    # the noisy label's check rejects it and the corpus draws another
    made = recipe("noisy_small_batch", 21, "test")
    assert made.config.batch_size == 1
    why = check(made, train(made.config))
    assert why is not None and "overfitting" in why


def test_an_lr_jump_that_left_the_loss_near_zero_is_not_labelled_divergence():
    # breast_cancer: the loss went from 1.3e-6 before the jump to 1.9e-5 after, 15x higher and still 0 for practical
    # purposes; the 5%-of-chance floor says it did not diverge
    made = recipe("divergence", 48, "test")
    assert made.family == "divergence/lr_jump"
    why = check(made, train(made.config))
    assert why is not None and "5% of chance" in why


def test_tiny_corpus_builds_with_checked_labels_and_scores_per_split(tmp_path):
    make_corpus = _script("make_corpus")
    db = tmp_path / "corpus.db"
    labels = ("healthy", "nan_inf", "oscillation")
    kept, dropped, tried, seconds, _ = make_corpus.build(db, seed=4, per_class=2, healthy=2, workers=2,
                                                         experiment="corpus", test_fraction=0.5, labels=labels)
    assert all(kept[label, split] == 1 for label in labels for split in ("dev", "test"))
    store = open_store(f"sqlite:///{db}")
    runs = load_runs(store, store.run_ids(list(store.experiment_ids(["corpus"]).values())))
    assert sorted((r.tags[LABEL_TAG], r.tags[SPLIT_TAG]) for r in runs) == sorted(
        (label, split) for label in labels for split in ("dev", "test"))
    for run in runs:
        assert "corrupt_steps" not in run.params  # fault knobs are never logged
        assert run.tags[FAMILY_TAG].startswith(run.tags[LABEL_TAG] + "/")
        assert run.tags[LABELS_TAG].split(",")[0] == run.tags[LABEL_TAG]
    nan_runs = [r for r in runs if r.tags[LABEL_TAG] == "nan_inf"]
    assert all(any(not np.isfinite(s.values).all() for s in r.metrics.values()) for r in nan_runs)

    # a script that called mlflow.log_metric(k, v) without a step: MLflow records step 0, timestamps advance
    client = open_client(f"sqlite:///{db}")
    no_step = TrainConfig(dataset="wine", depth=0, lr=0.1, batch_size=16, steps=60, log_steps=False)
    run_id = log_history(client, client.create_experiment("no-step"), train(no_step), "no-step")
    points = client.get_metric_history(run_id, "train_loss")
    assert len(points) == 60 and {p.step for p in points} == {0} and len({p.timestamp for p in points}) == 60

    evaluate = _script("evaluate")
    rows, _ = evaluate.evaluate(db, "corpus")
    assert len(rows) == 6 and {r["split"] for r in rows} == {"dev", "test"}
    assert all((r["holdout"] == "dev") == (r["split"] == "dev") for r in rows)
    assert evaluate.holdout("test", "plateau/lr_collapse") == "test-new-families"
    assert evaluate.holdout("test", "plateau/lr_too_small") == "test-first" == evaluate.holdout("test", "healthy/tabular")
    assert evaluate.holdout("test", "plateau/random_labels") == "test-first"  # a previous round's family, scored since
    dev = evaluate.summarize([r for r in rows if r["split"] == "dev"])
    assert dev["runs"] == 3 and dev["healthy_runs"] == 1 and dev["problem_runs"] == 2


def test_score_counts_precision_recall_false_alarms_and_finding_recall():
    evaluate = _script("evaluate")
    result = evaluate.score([("healthy", "healthy"), ("healthy", "plateau"), ("plateau", "plateau"),
                             ("overfitting", "healthy")])
    assert result["healthy_false_alarm"] == 0.5
    assert result["per_class"]["plateau"]["precision"] == 0.5 and result["per_class"]["plateau"]["recall"] == 1.0
    assert result["per_class"]["overfitting"]["f1"] == 0.0
    assert abs(result["macro_f1"] - (0.5 + 2 / 3 + 0.0) / 3) < 1e-9
    rows = [{"label": "overfitting", "labels": ["overfitting", "loss_spikes"], "primary": "loss_spikes",
             "patterns": ["loss_spikes", "overfitting"]},
            {"label": "plateau", "labels": ["plateau"], "primary": "healthy", "patterns": []},
            {"label": "healthy", "labels": ["healthy"], "primary": "healthy", "patterns": []}]
    summary = evaluate.summarize(rows)
    assert summary["finding_recall"] == 0.5 and summary["all_labels_found"] == 2 / 3
    assert summary["problem_runs"] == 2
