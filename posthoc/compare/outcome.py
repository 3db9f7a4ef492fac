"""One number per run to compare: the best validation loss by default, the final train loss when no
validation was logged, or the best value of a chosen metric. A run that blew up is a failure (NaN), not
missing data: a NaN run says something about its setting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posthoc.model import Run
from posthoc.roles import higher_is_better, resolve_roles


@dataclass(frozen=True)
class Outcome:
    """value is NaN for a failed run and None when the run did not log the metric at all."""

    value: float | None
    key: str | None
    statistic: str  # "best" | "final"

    @property
    def failed(self) -> bool:
        return self.value is not None and math.isnan(self.value)


def default_mode(target: str | None) -> str:
    """min for losses; max for accuracy-like targets (val_acc, f1, auc, …)."""
    return "max" if target and higher_is_better(target) else "min"


def any_val_loss(runs: list[Run], role_overrides: dict | None = None) -> bool:
    """Whether the default outcome is the val loss for this set of runs (else the final train loss)."""
    return any(resolve_roles(r, role_overrides).get("val_loss") is not None for r in runs)


def run_outcome(run: Run, target: str | None, mode: str, role_overrides: dict | None = None,
                use_val: bool = True) -> Outcome:
    """Best of `target` (or of the val loss role), else (use_val False) the final train loss; NaN when
    the run failed: its target or its train loss ended non-finite, or the target never had a finite value.
    One outcome for every run of a comparison: runs without a val loss are missing when others have one."""
    roles = resolve_roles(run, role_overrides)
    train = roles.get("train_loss")
    if target is not None:
        series, statistic = run.metrics.get(target), "best"
    elif use_val:
        series, statistic = roles.get("val_loss"), "best"
    else:
        series, statistic = train, "final"
    if series is None or len(series) == 0:
        return Outcome(None, None, statistic)
    broke = not np.isfinite(series.values[-1]) or (train is not None and len(train) and not np.isfinite(train.values[-1]))
    finite = series.values[np.isfinite(series.values)]
    if broke or not len(finite):
        return Outcome(float("nan"), series.key, statistic)
    if statistic == "final":
        return Outcome(float(finite[-1]), series.key, statistic)
    return Outcome(float(finite.max() if mode == "max" else finite.min()), series.key, statistic)
