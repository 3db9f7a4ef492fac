"""What a comparison returns: plain dataclasses with to_dict(), shared by the comparison steps and reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from posthoc.compare.params import display, json_value
from posthoc.model import json_number


@dataclass
class ValueOutcome:
    value: object
    run_ids: list[str]
    mean: float
    std: float
    n: int  # runs with a finite outcome
    failures: int  # runs whose outcome was non-finite (they blew up)
    missing: int  # runs that did not log the target
    adjusted_mean: float
    patterns: dict[str, int]
    failed_run_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"value": json_value(self.value), "display": display(self.value), "run_ids": self.run_ids,
                "outcome": {"mean": json_number(self.mean), "std": json_number(self.std), "n": self.n},
                "failures": self.failures, "missing": self.missing,
                "adjusted_mean": json_number(self.adjusted_mean), "patterns": dict(self.patterns),
                "failed_run_ids": self.failed_run_ids}


@dataclass
class ParamComparison:
    param: str
    values: list[ValueOutcome]
    effect: float | None
    noise: float | None
    noise_std: float | None
    noise_df: int
    noise_source: str  # "compared runs" | "experiment" | "none"
    significant: bool
    confounded: bool
    confounders: list[str]
    matched_groups: int
    best_value: object = None
    worst_value: object = None
    failure_decided: bool = False
    joint_significant: bool = False
    note: str = ""
    moves_with: list[str] = field(default_factory=list)  # exact functions of this param across the runs

    def to_dict(self) -> dict:
        return {"param": self.param, "values": [v.to_dict() for v in self.values],
                "effect": json_number(self.effect), "noise": json_number(self.noise),
                "significant": self.significant, "confounded": self.confounded, "confounders": self.confounders,
                "matched_groups": self.matched_groups, "noise_std": json_number(self.noise_std),
                "noise_df": self.noise_df, "noise_source": self.noise_source,
                "best_value": json_value(self.best_value), "worst_value": json_value(self.worst_value),
                "failure_decided": self.failure_decided, "joint_significant": self.joint_significant,
                "note": self.note, "moves_with": self.moves_with}


@dataclass
class Importance:
    param: str
    importance: float
    importance_std: float
    correlation: float | None  # Spearman rank correlation; None for unordered (string) params
    moves_with: list[str] = field(default_factory=list)  # ranked as one column with this param

    def to_dict(self) -> dict:
        return {"param": self.param, "importance": json_number(self.importance),
                "importance_std": json_number(self.importance_std), "correlation": json_number(self.correlation),
                "moves_with": self.moves_with}


@dataclass
class Comparison:
    experiment_id: str | None
    target: str
    mode: str
    statistic: str
    comparisons: list[ParamComparison]
    importance: list[Importance]
    summary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run_count: int = 0
    failures: int = 0
    replicate_params: list[str] = field(default_factory=list)
    constant_params: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)  # param → why it was set aside (identifiers, --ignore)

    def to_dict(self) -> dict:
        from posthoc import __version__

        return {"experiment_id": self.experiment_id, "target": self.target,
                "comparisons": [c.to_dict() for c in self.comparisons],
                "importance": [i.to_dict() for i in self.importance],
                "summary": self.summary, "warnings": self.warnings,
                "outcome_metric": {"target": self.target, "mode": self.mode, "statistic": self.statistic},
                "runs": self.run_count, "failures": self.failures, "replicate_params": self.replicate_params,
                "constant_params": self.constant_params,
                "ignored": [{"param": p, "reason": r} for p, r in self.ignored.items()], "posthoc_version": __version__}
