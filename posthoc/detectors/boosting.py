"""Suggestions in a gradient-boosting library's own terms: rounds, leaves, depth, leaf size, subsampling.

A booster has no dropout, weight decay or batch size; its capacity is the number and size of its trees.
Ranges follow the libraries' parameter-tuning guides (LightGBM "Parameters Tuning": fewer leaves, larger
min_data_in_leaf, bagging/feature fraction and a smaller learning_rate with more rounds against
over-fitting; XGBoost "Notes on Parameter Tuning": lower max_depth, larger min_child_weight, subsample and
colsample_bytree, a smaller eta). Each names the run's own value when it logged one.
"""

from __future__ import annotations

from posthoc.detectors.base import LR_PARAMS, fmt, param_number
from posthoc.model import Run

ROUNDS = ("num_boost_round", "n_estimators", "num_iterations", "num_round", "num_trees")
# framework → (param names tried in order, the library's default); sklearn-API aliases listed after the native name
KNOBS = {
    "lightgbm": {
        "size": (("num_leaves", "num_leaf", "max_leaves"), 31),
        "leaf": (("min_data_in_leaf", "min_child_samples", "min_data"), 20),
        "rows": (("bagging_fraction", "subsample"), 1.0),
        "cols": (("feature_fraction", "colsample_bytree"), 1.0),
        "lr": (LR_PARAMS, 0.1),
    },
    "xgboost": {
        "size": (("max_depth",), 6),
        "leaf": (("min_child_weight",), 1),
        "rows": (("subsample",), 1.0),
        "cols": (("colsample_bytree",), 1.0),
        "lr": ((*LR_PARAMS, "eta"), 0.3),
    },
}


def _knob(run: Run, framework: str, knob: str) -> tuple[str, float, bool]:
    """(param name, value, whether the run logged it) for one knob, the library default when not logged."""
    names, default = KNOBS[framework][knob]
    found = param_number(run, names)
    return (found[0], found[1], True) if found else (names[0], default, False)


def _said(name: str, value: float, logged: bool) -> str:
    return f"{name}={fmt(value)}" if logged else f"{name} (default {fmt(value)})"


def overfitting_advice(run: Run, framework: str, best_step: int) -> list[str]:
    """Stop at the best round, then make each tree smaller, more data-hungry and more random."""
    stop = ("lgb.early_stopping(stopping_rounds=20) with a validation set in valid_sets" if framework == "lightgbm"
            else "early_stopping_rounds=20 with a validation set in evals/eval_set")
    size_name, size, size_logged = _knob(run, framework, "size")
    size_hint = (f"try {fmt(max(size // 4, 2))}–{fmt(max(size // 2, 2))}" if framework == "lightgbm"
                 else f"try {fmt(max(size - 3, 2))}–{fmt(max(size - 2, 2))}")
    leaf_name, leaf, leaf_logged = _knob(run, framework, "leaf")
    rows_name, rows, rows_logged = _knob(run, framework, "rows")
    cols_name = _knob(run, framework, "cols")[0]
    lr_name, lr, lr_logged = _knob(run, framework, "lr")
    bagging = " with bagging_freq=1" if framework == "lightgbm" and rows_name == "bagging_fraction" else ""
    return [
        f"stop early at round {best_step + 1} (iteration {best_step}): {stop}, and predict with best_iteration",
        f"{_said(size_name, size, size_logged)}: {size_hint} so each tree fits less noise",
        f"{_said(leaf_name, leaf, leaf_logged)}: try {fmt(max(leaf, 1) * 3)}–{fmt(max(leaf, 1) * 10)}",
        f"subsample rows and features: {rows_name}=0.7–0.8{bagging} and {cols_name}=0.7–0.8 "
        f"(now {fmt(rows) if rows_logged else 'default ' + fmt(rows)})",
        f"{_said(lr_name, lr, lr_logged)}: try {fmt(lr * 0.2)}–{fmt(lr * 0.5)} with more rounds and early stopping",
    ]


def underfitting_advice(run: Run, framework: str) -> list[str]:
    """More rounds, bigger trees, smaller leaves, a larger learning rate, weaker regularization."""
    found = param_number(run, ROUNDS)
    rounds = f"{found[0]}={fmt(found[1])}: try {fmt(found[1] * 3)}–{fmt(found[1] * 10)}" if found else "train more rounds"
    size_name, size, size_logged = _knob(run, framework, "size")
    leaf_name, leaf, leaf_logged = _knob(run, framework, "leaf")
    lr_name, lr, lr_logged = _knob(run, framework, "lr")
    regularization = ("lambda_l1/lambda_l2 (reg_alpha/reg_lambda) and min_gain_to_split" if framework == "lightgbm"
                      else "reg_alpha/reg_lambda and gamma")
    bigger = (f"{fmt(size * 2)}–{fmt(size * 4)}" if framework == "lightgbm" else f"{fmt(size + 2)}–{fmt(size + 4)}")
    return [
        f"{rounds} with early stopping on a validation set",
        f"{_said(size_name, size, size_logged)}: try {bigger} so trees can fit interactions",
        f"{_said(leaf_name, leaf, leaf_logged)}: try {fmt(max(leaf / 4, 1))}–{fmt(max(leaf / 2, 1))}",
        f"{_said(lr_name, lr, lr_logged)}: try {fmt(min(lr * 2, 1.0))}–{fmt(min(lr * 5, 1.0))}",
        f"lower {regularization}, and check that the features carry the signal",
    ]
