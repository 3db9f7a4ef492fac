"""Which kind of run this is: ordinary training, an LR range test or a one-batch overfit test.

Engineers log both tests to MLflow like any run, so posthoc must not read a range test's deliberate blow-up
as divergence. The tag `posthoc.kind` decides; else a name hint (lr_find, range-test, one-batch…) with data
that fits; else the data alone for range tests: an lr that rises geometrically with the step (log10 lr linear
in step) over three or more decades, with a loss logged at (nearly) every lr step. Warmup (linear rise, then
flat or decaying), cyclic and decaying schedules fail the fit, the monotone rise or the span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from posthoc.model import Run, Series, json_number
from posthoc.roles import Roles

TRAINING, LR_RANGE_TEST, ONE_BATCH_TEST = "training", "lr_range_test", "one_batch_test"
KINDS = (TRAINING, LR_RANGE_TEST, ONE_BATCH_TEST)
KIND_LABELS = {TRAINING: "a training run", LR_RANGE_TEST: "an LR range test", ONE_BATCH_TEST: "a one-batch overfit test"}
KIND_TAG = "posthoc.kind"
START = r"(?<![a-z0-9])"  # a hint starts a word ("_" separates words too): "someone_batch" is no hint
NAME_HINTS = {
    LR_RANGE_TEST: re.compile(START + r"(lr[-_ ]?find(er)?|lr[-_ ]?range|range[-_ ]?test)", re.IGNORECASE),
    ONE_BATCH_TEST: re.compile(START + r"((one|single)[-_ ]?batch|overfit[-_ ]?(one[-_ ]?|a[-_ ]?|single[-_ ]?)?batch)",
                               re.IGNORECASE),
}
ONE_BATCH_PARAMS = ("overfit_batches",)  # Lightning's Trainer(overfit_batches=1)


@dataclass(frozen=True)
class Thresholds:
    min_points: int = 10  # fastai's finder logs ~100 steps; fewer than 10 has no shape to fit
    min_decades: float = 3.0  # range tests sweep many decades (fastai 1e-7 → 10, Smith's tests 3-4)
    # log10(lr) linear in step: every finder's geometric schedule fits with R² = 1; a linear warmup over the
    # whole run is concave in log10 and fits with R² ≈ 0.76 (measured for 500-2000 steps)
    min_r2: float = 0.98
    min_rising: float = 0.95  # fraction of lr steps that do not go down
    min_loss_per_lr: float = 0.5  # the loss is logged at least every other lr step
    hinted_decades: float = 1.0  # with a name hint, one geometric decade is enough


@dataclass(frozen=True)
class KindMatch:
    """The kind, what decided it (tag, name, params, data) and the measurements behind it."""

    kind: str
    source: str
    evidence: dict

    def to_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source, "evidence": json_number(self.evidence)}


def geometric_rise(lr: Series | None) -> dict:
    """How well log10(lr) fits a straight line in step: r2, decades covered, fraction of rising steps."""
    if lr is None:
        return {}
    mask = np.isfinite(lr.values) & (lr.values > 0)
    steps, values = lr.steps[mask].astype(np.float64), np.log10(lr.values[mask])
    if len(values) < 3 or np.ptp(steps) == 0:
        return {"points": int(len(values))}
    slope, intercept = np.polyfit(steps, values, 1)
    total = float(np.sum((values - values.mean()) ** 2))
    r2 = 1.0 - float(np.sum((values - (slope * steps + intercept)) ** 2)) / total if total > 0 else 0.0
    return {"points": int(len(values)), "r2": round(r2, 4), "decades": round(float(values[-1] - values[0]), 3),
            "rising_fraction": round(float(np.mean(np.diff(values) >= 0)), 3)}


def recognize(run: Run, roles: Roles, t: Thresholds = Thresholds()) -> KindMatch:
    """The run's kind; TRAINING unless a tag, a name hint with fitting data, or the data alone says otherwise."""
    tag = run.tags.get(KIND_TAG, "").strip()
    if tag in KINDS:
        return KindMatch(tag, "tag", {KIND_TAG: tag})
    rise = geometric_rise(roles.get("lr"))
    hint = next((kind for kind, pattern in NAME_HINTS.items() if pattern.search(run.run_name or "")), None)
    if hint == ONE_BATCH_TEST and roles.get("train_loss") is not None:
        return KindMatch(ONE_BATCH_TEST, "name", {"run_name": run.run_name})
    if any(run.params.get(name, "").strip() in ("1", "1.0") for name in ONE_BATCH_PARAMS):
        return KindMatch(ONE_BATCH_TEST, "params", {name: run.params[name] for name in ONE_BATCH_PARAMS if name in run.params})
    if _rises_geometrically(rise, t.hinted_decades if hint == LR_RANGE_TEST else t.min_decades, t) \
            and _loss_per_lr_step(roles, t):
        return KindMatch(LR_RANGE_TEST, "name" if hint == LR_RANGE_TEST else "data", rise)
    return KindMatch(TRAINING, "", rise)


def _rises_geometrically(rise: dict, decades: float, t: Thresholds) -> bool:
    return (rise.get("points", 0) >= t.min_points and rise.get("r2", 0.0) >= t.min_r2
            and rise.get("decades", 0.0) >= decades and rise.get("rising_fraction", 0.0) >= t.min_rising)


def _loss_per_lr_step(roles: Roles, t: Thresholds) -> bool:
    """A range test records the loss at each lr it tries; a loss logged every 50 lr steps is training."""
    loss, lr = roles.get("train_loss"), roles.get("lr")
    if loss is None or lr is None:
        return False
    inside = (loss.steps >= lr.steps[0]) & (loss.steps <= lr.steps[-1])
    return int(inside.sum()) >= t.min_loss_per_lr * len(lr)
