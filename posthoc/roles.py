"""Which logged series means what: metric-name aliases for the common loggers, overridable per project.

Besides the aliases, the `<set>-<metric>` keys that MLflow's LightGBM and XGBoost autologging write
(`training-binary_logloss`, `validation_1-logloss`) are read as boosting runs: iterations are steps, the
training set is told apart from the validation sets, and autolog's early-stopping extra point is set aside.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

import numpy as np

from posthoc.model import Run, Series

# Tried in order; the first key a run logged wins. Glob patterns allowed (Lightning's `lr-Adam`).
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "train_loss": (
        "train_loss", "train/loss", "training_loss", "train_loss_step", "train_loss_epoch",
        "loss",  # Hugging Face Trainer and Keras log the training loss as plain `loss`
        "train/loss_step", "train/loss_epoch", "training/loss",
    ),
    "val_loss": (
        "val_loss", "val/loss", "eval_loss", "eval/loss", "validation_loss", "valid_loss",
        "validation/loss", "valid/loss", "val_loss_epoch", "test_loss",
    ),
    "grad_norm": (
        "grad_norm", "train/grad_norm", "gradient_norm", "grad_norm_total", "grad_norm/total",
        "grad_2.0_norm_total", "global_grad_norm",
    ),
    "lr": (
        "lr", "learning_rate", "train/learning_rate", "train/lr", "lr-*", "lr_*", "optimizer/lr*",
    ),
    "train_acc": (
        "train_acc", "train/acc", "train_accuracy", "train/accuracy", "accuracy", "acc",
        "train_acc_step", "train_acc_epoch",
    ),
    "val_acc": (
        "val_acc", "val/acc", "val_accuracy", "val/accuracy", "eval_accuracy", "eval/accuracy",
        "validation_accuracy", "valid_acc", "val_acc_epoch",
    ),
}
ROLES = tuple(DEFAULT_ALIASES)

# Booster eval metrics that are losses (minimized), in the order a loss role prefers them: the objective's
# own loss first, then regression errors, classification error last (a step function of the trees).
BOOSTER_LOSSES = (
    "binary_logloss", "multi_logloss", "logloss", "mlogloss", "cross_entropy", "xentropy", "cross_entropy_lambda",
    "kullback_leibler", "l2", "mse", "regression", "rmse", "l1", "mae", "huber", "fair", "quantile", "mape", "rmsle",
    "poisson", "gamma", "gamma_deviance", "tweedie", "poisson-nloglik", "gamma-nloglik", "cox-nloglik",
    "tweedie-nloglik", "gamma-deviance", "mphe", "binary_error", "multi_error", "error", "merror",
)
BOOSTER_SCORES = ("auc", "aucpr", "auc_mu", "average_precision", "ndcg", "map", "pre")  # maximized
# Set names that mean the training data: LightGBM calls it `training` whatever the user passed; XGBoost
# users name their evals (`train`, `dtrain`). Every other set name is a validation set.
TRAIN_SETS = frozenset({"training", "train", "dtrain", "train_set", "training_set", "trn", "learn"})
NUMBERED_SET = re.compile(r"^(valid|validation|eval|test)_(\d+)$")
# Metrics where bigger is better; everything else (losses, errors, perplexity…) is minimized.
_MAXIMIZED = re.compile(
    r"(acc|accuracy|f1|auc|aucpr|auc_mu|auroc|precision|recall|r2|score|iou|map|ndcg|bleu|rouge|reward|return)($|[^a-z])",
    re.IGNORECASE)


@dataclass(frozen=True)
class Roles:
    """The series resolved for each role; absent roles are simply missing.

    `framework` names a boosting library ("lightgbm", "xgboost") when the losses are its autologged
    eval sets; `best_step` is the best iteration an early-stopping callback recorded; `notes` say which
    logged points were read differently or set aside, so every output can show it."""

    series: dict[str, Series]
    framework: str | None = None
    best_step: int | None = None
    notes: tuple[str, ...] = ()

    def get(self, role: str) -> Series | None:
        return self.series.get(role)

    def keys(self) -> dict[str, str]:
        """role → metric key, for output: a wrong guess must be visible."""
        return {role: s.key for role, s in self.series.items()}


def higher_is_better(key: str) -> bool:
    """Accuracy-like metrics (val_acc, valid-auc, f1…) are maximized; losses and errors minimized."""
    return bool(_MAXIMIZED.search(key.rsplit("/", 1)[-1]))


def resolve_roles(run: Run, overrides: dict[str, tuple[str, ...]] | None = None) -> Roles:
    """Pick, for each role, the first alias the run logged (project aliases first), then fill the loss
    roles from autologged booster eval sets."""
    overrides = overrides or {}
    keys = sorted(run.metrics)
    taken: set[str] = set()
    resolved: dict[str, Series] = {}
    for role in ROLES:
        for alias in (*overrides.get(role, ()), *DEFAULT_ALIASES[role]):
            match = _first_match(alias, keys, taken)
            if match is not None:
                resolved[role] = run.metrics[match]
                taken.add(match)
                break
    notes = _place_stepless(resolved)
    if "val_loss" in run.metrics and "validation_loss" in run.metrics:
        notes.append("validation_loss, validation_*: Keras autolog's copies at step 0 after each validation pass; "
                     "val_loss is read instead")
    boosted = _booster_roles(run) if "train_loss" not in resolved and "val_loss" not in resolved else None
    if boosted is None:
        return Roles(resolved, notes=tuple(notes))
    framework, series, note = boosted
    resolved.update(series)
    notes += note
    best_step, extra_notes = _early_stopping(run, framework)
    for role, s in series.items():
        trimmed = _without_extra_point(s, run, best_step)
        if trimmed is not s:
            resolved[role] = trimmed
            extra_notes.append(f"{s.key} at step {int(s.steps[-1])}: autolog's early-stopping copy of the best "
                               f"iteration's value, set aside")
    return Roles(resolved, framework, best_step, tuple(notes + extra_notes))


def _first_match(alias: str, keys: list[str], taken: set[str]) -> str | None:
    if not any(ch in alias for ch in "*?["):
        return alias if alias in keys and alias not in taken else None
    return next((k for k in keys if k not in taken and fnmatch.fnmatchcase(k, alias)), None)


def _place_stepless(resolved: dict[str, Series]) -> list[str]:
    """Series logged without a step: the train loss keeps its time order (steps = positions); the other
    roles move onto the train loss's steps by time, so a coarser val grid still lines up with train."""
    train = resolved.get("train_loss")
    aligned = train is not None and len(train) > 0 and bool(np.all(np.diff(train.timestamps) >= 0))
    notes = []
    for role, series in resolved.items():
        if series.ordered_by != "timestamp":
            continue
        if role != "train_loss" and aligned:
            resolved[role] = _on_train_steps(series, train)
            notes.append(f"{series.key}: logged without a step; placed on {train.key}'s steps by timestamp")
        else:
            notes.append(f"{series.key}: logged without a step; ordered by timestamp (step = position)")
    return notes


def _on_train_steps(series: Series, train: Series) -> Series:
    """A series logged without a step, placed on the training loss's steps by time: each point takes the
    step of the last training point logged at or before it (several on one step: the latest)."""
    index = np.clip(np.searchsorted(train.timestamps, series.timestamps, side="right") - 1, 0, len(train) - 1)
    steps = train.steps[index]
    keep = np.append(steps[1:] != steps[:-1], True)
    return Series(series.key, steps[keep], series.values[keep], series.timestamps[keep], "timestamp")


def _booster_metric(key: str) -> tuple[str, str] | None:
    """(set, metric) for a `<set>-<metric>` key whose metric a booster logs (`ndcg@5` counts as ndcg)."""
    if "-" not in key:
        return None
    set_name, metric = key.split("-", 1)
    base = metric.split("@", 1)[0]
    return (set_name, metric) if set_name and (base in BOOSTER_LOSSES or base in BOOSTER_SCORES) else None


def _booster_roles(run: Run) -> tuple[str, dict[str, Series], list[str]] | None:
    """train_loss / val_loss from `<set>-<metric>` keys: one loss metric, logged by both sets when it can."""
    sets: dict[str, dict[str, str]] = {}
    for key in run.metrics:
        parsed = _booster_metric(key)
        if parsed is not None:
            sets.setdefault(parsed[0], {})[parsed[1].split("@", 1)[0]] = key
    if not sets:
        return None
    framework = _framework(run, sets)
    train_sets = [s for s in sets if s in TRAIN_SETS]
    val_sets = sorted((s for s in sets if s not in TRAIN_SETS), key=_set_order)
    notes = []
    metric = next((m for m in BOOSTER_LOSSES if any(m in sets[s] for s in val_sets or train_sets)), None)
    if metric is None:
        return framework, {}, ["no loss among the booster's eval metrics (only scores such as auc)"]
    numbered = [s for s in val_sets if s.startswith("validation_") and metric in sets[s]]
    if not train_sets and len(numbered) >= 2 and _ends_lowest(run, sets, numbered, metric):
        # XGBoost's sklearn API names eval_set entries validation_0, validation_1… in order, and the usual
        # eval_set=[(X_train, y_train), (X_val, y_val)] makes validation_0 the training data
        train_sets = [numbered[0]]
        val_sets.remove(numbered[0])
        notes.append(f"{sets[numbered[0]][metric]} read as the training loss: XGBoost's sklearn API names the "
                     f"eval_set entries in order, and this one ends lowest")
    series = {}
    train = next((s for s in train_sets if metric in sets[s]), None)
    val = next((s for s in reversed(val_sets) if metric in sets[s]), None)  # XGBoost early-stops on the last set
    if train is not None:
        series["train_loss"] = run.metrics[sets[train][metric]]
    if val is not None:
        series["val_loss"] = run.metrics[sets[val][metric]]
    return framework, series, notes


def _set_order(name: str) -> tuple[int, str]:
    numbered = NUMBERED_SET.match(name)
    return (int(numbered.group(2)), name) if numbered else (-1, name)


def _ends_lowest(run: Run, sets: dict[str, dict[str, str]], names: list[str], metric: str) -> bool:
    """Whether the first set's loss ends below every other set's: the data the trees were fit on."""
    finals = [_final(run.metrics[sets[name][metric]]) for name in names]
    return all(np.isfinite(finals)) and all(finals[0] < other for other in finals[1:])


def _final(series: Series) -> float:
    finite = series.values[np.isfinite(series.values)]
    return float(finite[-1]) if len(finite) else float("nan")


def _framework(run: Run, sets: dict[str, dict[str, str]]) -> str:
    """LightGBM's autolog logs lgb.train's `keep_training_booster`, XGBoost's `verbose_eval`; else by names."""
    params = run.params
    if "keep_training_booster" in params or "num_leaves" in params or "training" in sets:
        return "lightgbm"
    if "verbose_eval" in params or "max_depth" in params or any(s.startswith("validation_") for s in sets):
        return "xgboost"
    lightgbm_metrics = {"binary_logloss", "multi_logloss", "l2", "l1", "binary_error", "multi_error", "cross_entropy"}
    return "lightgbm" if any(m in lightgbm_metrics for ms in sets.values() for m in ms) else "xgboost"


def _early_stopping(run: Run, framework: str) -> tuple[int | None, list[str]]:
    """The best iteration as a step (LightGBM counts from 1, XGBoost from 0) and a note on the step-0 extras."""
    best, stopped = run.metrics.get("best_iteration"), run.metrics.get("stopped_iteration")
    if best is None or stopped is None or not best.finite_count or not stopped.finite_count:
        return None, []
    best_iteration, stopped_iteration = int(best.values[-1]), int(stopped.values[-1])
    best_step = best_iteration - 1 if framework == "lightgbm" else best_iteration
    return best_step, [f"best_iteration={best_iteration}, stopped_iteration={stopped_iteration}: early stopping "
                       f"(logged at step 0, read as the best step {best_step})"]


def _without_extra_point(series: Series, run: Run, best_step: int | None) -> Series:
    """The series without autolog's extra point: logged after early stopping at step = rounds run, holding
    the best iteration's value (MLflow's lightgbm/xgboost autolog); not a drop back to the best."""
    if best_step is None or len(series) < 2:
        return series
    last_step = int(series.steps[-1])
    at_best = series.values[series.steps == best_step]
    if last_step == len(series) - 1 and len(at_best) and at_best[0] == series.values[-1]:
        return series.until(last_step - 1)
    return series
