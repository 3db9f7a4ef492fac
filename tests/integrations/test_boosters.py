"""LightGBM and XGBoost runs logged by mlflow.<flavor>.autolog(): roles, early-stopping extras, advice."""

import numpy as np
import pytest

from posthoc.diagnose import diagnose
from posthoc.roles import resolve_roles

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")

NEURAL_ADVICE = ("dropout", "weight decay", "weight_decay", "batch", "gradient")


def _shows(store, run_id, label, names):
    from corpus.autolog import shows

    run = store.load(run_id)
    metrics = {k: (s.steps, s.values) for k, s in run.metrics.items()}
    assert shows(label, metrics, names) is None, "the recipe did not produce its label"
    return run


def _advice(finding) -> str:
    return " ".join(finding.suggestions).lower()


def test_lightgbm_overfitting_names_the_best_iteration(autologged):
    run_id, names = autologged.train("lightgbm", "overfitting", seed=3, api="train")
    run = _shows(autologged, run_id, "overfitting", names)
    d = diagnose(run, strict=True)
    assert d.roles == {"train_loss": names["train"], "val_loss": names["val"]}
    assert d.primary == "overfitting" and d.status == "warning"
    f = next(f for f in d.findings if f.pattern == "overfitting")
    val = run.metrics[names["val"]]
    assert abs(f.evidence["best_step"] - int(val.steps[np.argmin(val.values)])) <= 2
    advice = _advice(f)
    assert f"round {f.evidence['best_step'] + 1}" in advice and "num_leaves=" in advice and "min_data_in_leaf=" in advice
    assert not any(word in advice for word in NEURAL_ADVICE)


def test_sklearn_lightgbm_names_its_sets_training_and_valid_1(autologged):
    run_id, names = autologged.train("lightgbm", "overfitting", seed=4, api="sklearn")
    d = diagnose(_shows(autologged, run_id, "overfitting", names), strict=True)
    assert d.roles == {"train_loss": "training-binary_logloss", "val_loss": "valid_1-binary_logloss"}
    assert d.primary == "overfitting" and "min_child_samples=" in _advice(d.findings[0])


def test_early_stopped_booster_is_healthy_and_its_extra_point_is_set_aside(autologged):
    run_id, names = autologged.train("lightgbm", "healthy", seed=5, api="train", early_stopping=True)
    run = _shows(autologged, run_id, "healthy", names)
    roles = resolve_roles(run)
    raw, read = run.metrics[names["val"]], roles.get("val_loss")
    best_iteration = int(run.metrics["best_iteration"].values[0])
    # autolog logged one extra point at step = rounds run, holding the best iteration's value
    assert len(raw) == len(read) + 1 and raw.values[-1] == raw.values[best_iteration - 1]
    assert roles.best_step == best_iteration - 1 and roles.framework == "lightgbm"
    d = diagnose(run, strict=True)
    assert d.status == "healthy" and not [f for f in d.findings if f.severity != "info"]
    assert any("early-stopping copy" in note for note in d.role_notes)


def test_xgboost_sklearn_validation_0_is_the_training_set(autologged):
    run_id, names = autologged.train("xgboost", "overfitting", seed=6, api="sklearn")
    run = _shows(autologged, run_id, "overfitting", names)
    d = diagnose(run, strict=True)
    assert d.roles == {"train_loss": "validation_0-logloss", "val_loss": "validation_1-logloss"}
    assert any("validation_0-logloss read as the training loss" in note for note in d.role_notes)
    assert d.primary == "overfitting"
    advice = _advice(d.findings[0])
    assert "max_depth=" in advice and "min_child_weight" in advice and "subsample" in advice
    assert not any(word in advice for word in NEURAL_ADVICE)


def test_xgboost_native_early_stopping_is_healthy(autologged):
    run_id, names = autologged.train("xgboost", "healthy", seed=7, api="train", early_stopping=True)
    run = _shows(autologged, run_id, "healthy", names)
    d = diagnose(run, strict=True)
    assert d.roles == {"train_loss": "train-logloss", "val_loss": names["val"]}
    assert d.status == "healthy"
    roles = resolve_roles(run)
    assert roles.best_step == int(run.metrics["best_iteration"].values[0])  # XGBoost counts from 0
    assert len(run.metrics[names["val"]]) == len(roles.get("val_loss")) + 1


def test_stumps_on_an_interaction_underfit_in_booster_terms(autologged):
    run_id, names = autologged.train("lightgbm", "underfitting", seed=8, api="train")
    d = diagnose(_shows(autologged, run_id, "underfitting", names), strict=True)
    assert d.primary == "underfitting"
    advice = _advice(d.findings[0])
    assert "num_boost_round=" in advice and "num_leaves=2" in advice and "learning_rate=" in advice
    assert not any(word in advice for word in NEURAL_ADVICE)


def test_boosters_share_timestamps_but_keep_their_steps(autologged):
    run_id, names = autologged.train("xgboost", "healthy", seed=9, api="train", early_stopping=False)
    series = autologged.load(run_id).metrics[names["train"]]
    assert len(np.unique(series.timestamps)) < len(series)  # batched logging: one timestamp, many iterations
    assert series.ordered_by == "step" and list(series.steps) == list(range(len(series)))
