"""A comparison dict in compare's JSON contract (DESIGN.md), built from real runs read from a store."""

from __future__ import annotations

import numpy as np

from posthoc.diagnose import diagnose


def final_val_loss(run) -> float:
    values = run.metrics["val_loss"].values
    return float(values[np.isfinite(values)][-1])


def comparison_from_runs(runs: list, param: str = "lr") -> dict:
    """Groups the runs by `param`; outcome = final val loss; noise = the larger std of the groups."""
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(run.params[param], []).append(run)
    values = []
    for value, members in sorted(groups.items()):
        outcomes = [final_val_loss(r) for r in members]
        patterns: dict[str, int] = {}
        for r in members:
            primary = diagnose(r).primary
            patterns[primary] = patterns.get(primary, 0) + 1
        values.append({"value": value, "run_ids": [r.run_id for r in members],
                       "outcome": {"mean": float(np.mean(outcomes)), "std": float(np.std(outcomes)), "n": len(members)},
                       "patterns": patterns})
    means = [v["outcome"]["mean"] for v in values]
    noise = max(v["outcome"]["std"] for v in values)
    effect = means[-1] - means[0]
    return {
        "experiment_id": runs[0].experiment_id,
        "target": "val_loss",
        "comparisons": [{"param": param, "values": values, "effect": effect, "noise": noise,
                         "significant": abs(effect) > noise, "confounded": False, "confounders": []}],
        "importance": [{"param": param, "importance": 0.8, "correlation": 0.5},
                       {"param": "seed", "importance": 0.05, "correlation": None}],
        "summary": f"{param} changes the final val loss by {effect:.3g}",
        "warnings": ["only 2 seeds per value: the noise band is rough"],
    }
