"""nan_inf: a logged metric became NaN or ±Inf.

Why it matters: once the loss is non-finite the weights usually are too and the rest of the run is
wasted. The evidence tells a cause from a symptom: a loss or gradient norm that grew for many steps
before the first bad value points at the learning rate; a sudden jump points at one bad batch or an
unstable op (log of 0, division, fp16 overflow). No known false positives: a non-finite value is a fact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lr_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import first_nonfinite, growth_before

PATTERN, SEVERITY = "nan_inf", "critical"
REQUIRES: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    lead_up_points: int = 20  # finite points before the first bad one that describe what led up to it
    growth_ratio: float = 10.0  # last finite value this many times the lead-up's median: grew, not sudden


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    bad = {key: first_nonfinite(s) for key, s in run.metrics.items()}
    bad = {key: index for key, index in bad.items() if index is not None}
    if not bad:
        return []
    role_of = {s.key: role for role, s in roles.series.items()}
    # the earliest step wins; on a tie, a metric with a role (train loss first) names the finding
    key = min(bad, key=lambda k: (run.metrics[k].steps[bad[k]], k not in role_of, role_of.get(k) != "train_loss", k))
    series = run.metrics[key]
    index = bad[key]
    first_step = int(series.steps[index])
    value = float(series.values[index])
    before = series.values[:index][-t.lead_up_points :]  # all finite: index is the first bad point
    lead_up_growth = growth_before(series, first_step, t.lead_up_points)
    evidence = {"first_bad_step": first_step,
                "first_bad_value": "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf"),
                "nonfinite_points": int((~series.finite).sum()),
                "last_finite_step": int(series.steps[index - 1]) if index else None,
                "last_finite_values": [float(v) for v in before[-5:]], "lead_up_growth_ratio": lead_up_growth,
                "metrics_affected": {k: int(run.metrics[k].steps[i]) for k, i in sorted(bad.items())}}
    grad = roles.get("grad_norm")
    if grad is not None and grad.key != key:
        evidence["grad_norm_growth_ratio"] = growth_before(grad, first_step, t.lead_up_points)
    lr = roles.get("lr")
    lr_so_far = lr.until(first_step) if lr is not None else None
    if lr_so_far is not None and len(lr_so_far):
        evidence["lr_at_first_bad_step"] = float(lr_so_far.values[-1])
    grad_growth = evidence.get("grad_norm_growth_ratio")
    if any(ratio is not None and abs(ratio) >= t.growth_ratio for ratio in (lead_up_growth, grad_growth)):
        cause = f"after growing {fmt(lead_up_growth or grad_growth)}x over the preceding points"
        suggestions = [
            lr_advice(run, lr, first_step),
            "clip the gradient norm (e.g. max_norm=1.0)",
            "check the loss for log(0) or division by a tiny value",
        ]
    else:
        cause = "suddenly, without a visible lead-up"
        suggestions = [f"inspect the batch at step {first_step}: corrupted inputs or labels (NaN/Inf in the data) are "
                       "the usual cause", "use a numerically stable loss (log-softmax, clamped log) and check for "
                       "division by zero", "if training in fp16, use dynamic loss scaling or bf16"]
    message = f"{key} became {evidence['first_bad_value']} at step {first_step} {cause}"
    return [finding(PATTERN, SEVERITY, 1.0, key, (first_step, int(series.steps[-1])), evidence, message, suggestions)]

