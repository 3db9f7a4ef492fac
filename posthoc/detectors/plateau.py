"""plateau: the training loss stopped improving (or never started) while still far from converged.

Why it matters: a stall wastes its steps (lr far too low, saturated units, a saddle, early decay). `kind`: too_slow
(last third still falling at a straight line's pace, having removed under half its initial loss or, with no natural
zero, not slowing down), never_learned (net drop under 10% of a loss bounded by 0 without a significant rise; or within
its noise, or below 0 within 2 sigmas with val logged, while val did not learn), lr_collapsed (lr near 0 for long while
the loss was high, or fell again after), stalled (a long flat stretch later escaped). Not underfitting (progress that
levelled off high) nor vanishing_gradients (grad norm collapsed). Known false positives: fine-tunes starting at optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, plateau_advice, plateau_message, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import SIGNIFICANT, escaped_stall, low_window, profile, ramp, ramping_up, window_stall

PATTERN, SEVERITY = "plateau", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    max_removed: float = 0.5  # too_slow: removed some but less than half of its initial loss
    # ...its last third still falling by half a straight line's share of the drop and half the middle third's fall (a
    # far too small lr draws a near-straight line; TFP's LossNotDecreasing also compares recent and earlier decreases)
    min_pace: float = 0.5
    min_length: float = 0.25  # a stall covers at least this fraction of the logged steps
    band: float = 0.05  # the smoothed loss stays within this fraction of the progress made (plus trend noise)
    min_later_drop: float = 0.8  # a stall was escaped by most (80%) of all the progress the run made
    lr_collapse: float = 1e-3  # lr below this fraction of its peak for at least `min_length` of the run
    high_level: float = 0.3  # ...ending with a positive loss above 30% of its initial value
    min_mid_drop: float = 0.1  # ...or, mid-run, the loss fell again by 10% of its progress once the lr came back
    min_points: int = 20
    min_points_stall: int = 100  # a "long stretch" needs a long record; short runs are mostly their first drop


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    p, lr = profile(roles.get("train_loss"), t.min_points), roles.get("lr")
    if p is None or p.head <= 0 <= p.floor:  # a loss that starts at its lower bound 0 has nothing to learn
        return []
    (lr_ratio, window), (start, end, later_drop) = low_window(lr, t.lr_collapse), (0, len(p.trend_steps) - 1, 0.0)
    slow = 0 < p.removed < t.max_removed if p.natural_zero else p.drop_sigmas > 0 and p.falls_straight()  # not rose
    val = profile(roles.get("val_loss"), 5)  # a train loss within its noise never learned unless val did
    quiet = p.within_noise or not p.natural_zero and abs(p.drop_sigmas) <= SIGNIFICANT and val is not None
    if slow and p.still_falling(t.min_pace):  # still falling at a straight line's pace: slow, not stuck
        kind, margin = "too_slow", ramp(-p.removed, -t.max_removed, -0.1) if p.natural_zero else 0.0  # how far: unknown
    elif p.unmoved or (quiet and not (val is not None and val.learned)):
        kind, margin = "never_learned", p.unmoved_margin
    elif len(p.values) < t.min_points_stall:
        return []
    elif window is not None and (window[1] - window[0]) / p.span >= t.min_length:
        start, end, later_drop, at_end = window_stall(p, window)  # at the end: still high; mid-run: fell again after
        if not (p.tail >= t.high_level * p.head or not p.natural_zero if at_end else later_drop >= t.min_mid_drop):
            return []
        kind, margin = "lr_collapsed", 1.0
    else:  # a long flat stretch the run later escaped by most of its progress; a slow warmup is no stall
        start, end, later_drop = escaped_stall(p, t.band, t.min_later_drop, ramping_up(lr, p.trend_steps))
        kind, margin = "stalled", ramp(later_drop, t.min_later_drop, 1.0)
    first, last = int(p.trend_steps[start]), int(p.trend_steps[end])
    length = (last - first) / p.span
    if length < t.min_length or (kind == "stalled" and later_drop < t.min_later_drop):
        return []
    level = float(np.median(p.trend[start : end + 1]))
    evidence = {"kind": kind, "plateau_start_step": first, "plateau_end_step": last,
                "plateau_fraction": rounded(length, 3), "plateau_level": rounded(level),
                "initial_value": rounded(p.head), "best_value": rounded(p.best), "final_value": rounded(p.tail),
                "drop_noise_sigmas": rounded(p.drop_sigmas), "removed_fraction": rounded(p.removed, 3),
                "drop_after_plateau_ratio": rounded(later_drop, 3), "never_improved": kind == "never_learned",
                "lr_collapsed": kind == "lr_collapsed",
                **({} if lr_ratio is None else {"lr_final_to_peak": rounded(lr_ratio, 3)})}
    confidence = 0.55 + 0.45 * ramp(length, t.min_length, 0.8) * (0.45 + 0.55 * margin)
    message = plateau_message(p.key, kind, head=p.head, tail=p.tail, removed=100 * p.removed, level=level, best=p.best,
                              lr_collapse=t.lr_collapse, start=first, end=last, pct=100 * length)
    return [finding(PATTERN, SEVERITY, confidence, p.key, (first, last), evidence, message,
                    plateau_advice(run, kind, lr_logged=lr is not None))]
