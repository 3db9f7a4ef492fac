"""Plain data that flows between modules: Series, Run, Finding, Diagnosis."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}


@dataclass(frozen=True, eq=False)
class Series:
    """One metric history: steps sorted ascending, one value per step, NaN and ±Inf kept.

    `ordered_by` is "timestamp" when the metric was logged without a step (MLflow writes step 0 for every
    point): its points are then ordered by time and numbered 0, 1, 2… so each index stands in for a step.
    """

    key: str
    steps: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray
    ordered_by: str = "step"

    @classmethod
    def from_points(cls, key: str, steps, values, timestamps) -> Series:
        """Sort by step; where a step repeats, keep the value logged last (latest timestamp).

        Points that all share one step but not one timestamp were logged without a step: they are kept
        in time order instead (autologged boosters share timestamps across steps, which stay valid)."""
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        timestamps = np.asarray(timestamps, dtype=np.int64)
        if len(steps) > 1 and steps.min() == steps.max() and timestamps.min() < timestamps.max():
            order = np.argsort(timestamps, kind="stable")
            return cls(key, np.arange(len(steps), dtype=np.int64), values[order], timestamps[order], "timestamp")
        order = np.lexsort((np.arange(len(steps)), timestamps, steps))
        steps, values, timestamps = steps[order], values[order], timestamps[order]
        keep = np.ones(len(steps), dtype=bool)
        keep[:-1] = steps[1:] != steps[:-1]
        return cls(key, steps[keep], values[keep], timestamps[keep])

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.values)

    @property
    def finite_count(self) -> int:
        return int(self.finite.sum())

    def finite_part(self) -> Series:
        """The points with finite values, for detectors that measure shape rather than breakage."""
        mask = self.finite
        return Series(self.key, self.steps[mask], self.values[mask], self.timestamps[mask], self.ordered_by)

    def until(self, step: int) -> Series:
        """The points logged at or before `step`."""
        mask = self.steps <= step
        return Series(self.key, self.steps[mask], self.values[mask], self.timestamps[mask], self.ordered_by)


@dataclass(frozen=True, eq=False)
class Run:
    """A logged run as read from the store; metrics keyed by their MLflow metric key."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, Series]
    unreadable: str | None = None  # why the store could not read this run (a corrupt file); then no metrics


def json_number(value):
    """JSON has no NaN or Infinity: None for NaN, the strings 'inf' / '-inf' for infinities."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_number(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_number(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Finding:
    """One diagnosed pattern with the numbers that justify it."""

    pattern: str
    severity: str
    confidence: float
    metric: str | None
    step_start: int | None
    step_end: int | None
    evidence: dict
    message: str
    suggestions: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "pattern": self.pattern,
            "severity": self.severity,
            "confidence": round(float(self.confidence), 3),
            "metric": self.metric,
            "step_start": json_number(self.step_start),
            "step_end": json_number(self.step_end),
            "evidence": json_number(self.evidence),
            "message": self.message,
            "suggestions": list(self.suggestions),
        }


@dataclass(frozen=True)
class Skipped:
    """A detector that could not run on this run, and why (e.g. grad norm not logged)."""

    detector: str
    reason: str


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one run: status, root cause and every finding, ordered."""

    run: Run
    status: str
    primary: str
    findings: tuple[Finding, ...]
    roles: dict[str, str]
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[str, ...] = field(default=())
    kind: str = "training"  # or lr_range_test | one_batch_test (posthoc.kinds)
    kind_source: str = ""  # what recognized a test: tag | name | params | data
    test: object | None = None  # a test run's own result (posthoc.kinds RangeTest | OneBatchTest)
    # the experiment's test runs that speak for this run (posthoc.kinds.LoggedTest); None: the experiment's other
    # runs were not read, so nothing can be said about its tests
    experiment_tests: tuple | None = None
    role_notes: tuple[str, ...] = ()  # points read differently or set aside (autolog extras, step-less order)

    def to_dict(self) -> dict:
        from posthoc import __version__

        run = self.run
        return {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment_id": run.experiment_id,
            "run_status": run.status,
            "status": self.status,
            "primary": self.primary,
            "findings": [f.to_dict() for f in self.findings],
            "roles": dict(self.roles),
            "role_notes": list(self.role_notes),
            "skipped": [{"detector": s.detector, "reason": s.reason} for s in self.skipped],
            "errors": list(self.errors),
            "kind": self.kind,
            **({"kind_source": self.kind_source, self.kind: self.test.to_dict() if self.test is not None else None}
               if self.kind != "training" else {}),
            "experiment_tests": None if self.experiment_tests is None else [t.to_dict() for t in self.experiment_tests],
            "posthoc_version": __version__,
        }
