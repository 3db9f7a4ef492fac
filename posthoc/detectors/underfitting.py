"""underfitting: train and val loss both converged at a high level, close together.

Why it matters: the model cannot fit even its training data, so more steps will not help; capacity,
regularization or the learning rate is wrong. Three measured conditions: converged (the trend moved less
than 10% of the progress over the last 30% of the run), high (a positive loss still above 50% of its
initial level: it removed less than half of it), and close (val within 25% of train's progress of train).
Losses that can be negative have no natural zero, so "high" cannot be judged and the detector stays
silent. Separating statistics: plateau covers runs that never improved or stalled then dropped;
overfitting needs val rising with train falling; here val tracks train.
Known false positives: tasks whose irreducible loss is high (noisy labels, hard language modelling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, rounded
from posthoc.detectors.boosting import underfitting_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import profile, ramp

PATTERN, SEVERITY = "underfitting", "warning"
REQUIRES: tuple[str, ...] = ("train_loss", "val_loss")


@dataclass(frozen=True)
class Thresholds:
    # final train loss still above half its initial level: the model removed less than half of the loss it
    # started with, and the initial loss is the chance level of an untrained net (Karpathy, "A Recipe for
    # Training Neural Networks": verify the loss at init is -log(1/classes))
    min_level_ratio: float = 0.5
    max_final_move: float = 0.1  # trend change over the last `final_fraction`, as a fraction of progress
    final_fraction: float = 0.3
    max_gap: float = 0.25  # |val - train| at the end, as a fraction of train's progress
    min_points: int = 5


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train, val = roles.get("train_loss"), roles.get("val_loss")
    pt, pv = profile(train, t.min_points), profile(val, t.min_points)
    if pt is None or pv is None or pt.head <= 0 or np.min(pt.values) < 0:
        return []
    if not pt.learned:  # no net progress beyond its noise: plateau's never_learned, not a converged level
        return []
    level_ratio = pt.tail / pt.head
    cut = pt.trend_steps[0] + (1 - t.final_fraction) * (pt.trend_steps[-1] - pt.trend_steps[0])
    final_move = abs(float(np.interp(cut, pt.trend_steps, pt.trend)) - pt.tail) / pt.scale
    gap = pv.tail - pt.tail
    gap_ratio = abs(gap) / pt.scale
    if level_ratio < t.min_level_ratio or final_move > t.max_final_move or gap_ratio > t.max_gap:
        return []
    evidence = {"final_train": rounded(pt.tail), "final_val": rounded(pv.tail), "initial_train": rounded(pt.head),
                "final_to_initial_ratio": rounded(level_ratio, 3), "final_move_ratio": rounded(final_move, 3),
                "gap": rounded(gap), "gap_ratio": rounded(gap_ratio, 3)}
    confidence = 0.55 + 0.45 * min(ramp(level_ratio, t.min_level_ratio, 0.7), ramp(-gap_ratio, -t.max_gap, -0.05))
    message = (f"{train.key} converged at {fmt(pt.tail)} ({fmt(100 * level_ratio)}% of its initial {fmt(pt.head)}) "
               f"with {val.key} close at {fmt(pv.tail)}: the model does not fit its training data")
    span = (int(pt.steps[0]), int(pt.steps[-1]))
    if roles.framework is not None:
        return [finding(PATTERN, SEVERITY, confidence, train.key, span, evidence, message,
                        underfitting_advice(run, roles.framework))]
    suggestions = []
    wd = run.params.get("weight_decay")
    if wd not in (None, "0", "0.0"):
        suggestions.append(f"weight_decay={wd}: lower it 10x or remove it")
    suggestions += ["increase capacity (wider or deeper layers) or train longer with a higher learning rate",
                    "reduce regularization (dropout, weight decay, label smoothing) and check the features/labels"]
    return [finding(PATTERN, SEVERITY, confidence, train.key, span, evidence, message, suggestions)]
