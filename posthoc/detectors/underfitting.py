"""underfitting: train and val loss both converged at a high level, close together.

Why it matters: the model cannot fit even its training data, so more steps will not help; capacity, regularization
or the learning rate is wrong. Three measured conditions: high (a positive loss still above half its initial level,
or above 30% of it when the last two thirds of the run lowered it by under 10%), converged (at the pace of its last
30%, another run as long would remove under 10% of the loss) and close (val at most 20% above train, on train's own
level: an underfit model fits its training data little better than unseen data). Losses that can be negative have no
natural zero, so "high" cannot be judged and the detector stays silent. Separating statistics: plateau covers runs
that never improved, improve far too slowly or stalled then dropped; overfitting needs val rising with train
falling; here val tracks train.
Known false positives: tasks whose irreducible loss is high (noisy labels, hard language modelling).
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import finding, fmt, rounded
from posthoc.detectors.boosting import underfitting_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import LATE_FRACTION, profile, ramp

PATTERN, SEVERITY = "underfitting", "warning"
REQUIRES: tuple[str, ...] = ("train_loss", "val_loss")


@dataclass(frozen=True)
class Thresholds:
    # high: the final train loss is above half its initial level (it removed less than half). The initial loss
    # of an untrained net is its chance level (Karpathy, "A Recipe for Training Neural Networks": the loss at
    # init is -log(1/classes)) with PyTorch's and Keras's default inits; a per-epoch logger's first point is
    # already below it, and healthy Keras runs end at 44-45% of that point (real autologged runs), so a lower bar
    # warns on healthy runs. He init's random logits put a first point above chance (1.9 for ln 4 = 1.39): such
    # runs are missed below half
    min_level_ratio: float = 0.5
    # ...or above 30% of it (plateau's "still high" for a collapsed lr) when the last two thirds of the run lowered
    # the loss by under 10% (the "converged" bar below): it settled in its first third, and a model that can fit
    # its data keeps lowering the training loss as it trains
    settled_level_ratio: float = 0.3
    # converged: at the pace of its last 30%, a second run as long would remove under 10% of the final loss:
    # more steps will not help (10% is overfitting's bar too, after SageMaker Debugger's overfit rule)
    max_projected_gain: float = 0.1
    # close: val ends at most 20% above train, so the level (bias), not the gap (variance), is most of the error.
    # Ng, "Machine Learning Yearning" ch. 21: train error 15% with dev 16% is high bias, 1% with 11% high variance
    max_gap: float = 0.2
    min_points: int = 5


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train, val = roles.get("train_loss"), roles.get("val_loss")
    pt, pv = profile(train, t.min_points), profile(val, t.min_points)
    # no net progress (beyond its noise, or 10% of it) is plateau's never_learned, not a converged level
    if pt is None or pv is None or not pt.natural_zero or not pt.learned:
        return []
    level_ratio = pt.tail / pt.head
    gap = pv.tail - pt.tail
    gap_over_train = gap / pt.tail if pt.tail > 0 else float("inf")
    projected_gain = pt.late_share * (pt.head - pt.tail) / LATE_FRACTION / max(pt.tail, pt.rounding, 1e-300)
    high = level_ratio >= t.min_level_ratio or (level_ratio >= t.settled_level_ratio
                                                and pt.gain_after_first_third() < t.max_projected_gain)
    if not high or projected_gain >= t.max_projected_gain or gap_over_train > t.max_gap:
        return []
    evidence = {"final_train": rounded(pt.tail), "final_val": rounded(pv.tail), "initial_train": rounded(pt.head),
                "final_to_initial_ratio": rounded(level_ratio, 3), "projected_gain_ratio": rounded(projected_gain, 3),
                "gap": rounded(gap), "gap_over_train": rounded(gap_over_train, 3)}
    confidence = 0.55 + 0.45 * min(ramp(level_ratio, t.min_level_ratio, 0.7), ramp(-gap_over_train, -t.max_gap, 0.0))
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
