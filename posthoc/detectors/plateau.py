"""plateau: the training loss stopped improving for a long stretch while still far from converged.

Why it matters: a stalled loss wastes the steps of the stall; it points at a learning rate too low for
this stage, a saddle point, saturated units or a schedule that decayed too early. The statistic is the
longest stretch over which the smoothed loss stays within a band of its level (5% of the progress made,
or the noise when it made none), covering at least a quarter of the run. "Far from converged" is shown
either by a later drop (the stretch was a stall, not the end) or by a run that never left its initial
level. Separating statistics: underfitting needs real progress and then a high flat level with val close
to train; vanishing_gradients needs the grad norm to collapse during the stall (then it is the cause).
Known false positives: fine-tuning runs that start at their optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import LR_PARAMS, finding, fmt, param_text, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import profile, ramp

PATTERN, SEVERITY = "plateau", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    min_length: float = 0.25  # the stall covers at least this fraction of the logged steps
    band: float = 0.05  # the smoothed loss stays within this fraction of the progress made (or of the noise)
    # a later drop of most (80%) of all the progress the run made shows the stall was far from converged
    # (corpus: stalls that escape drop 0.82+; slow stretches of healthy noisy runs are followed by 0.5-0.72)
    min_later_drop: float = 0.8
    # no progress at all: initial level minus best below this many noise sigmas (stuck from the start)
    stuck_noise: float = 3.0
    # or the schedule stalled it: the logged lr ended below this fraction of its peak while a positive loss
    # was still above `high_level` of its initial value (a schedule decaying to ~0 too early)
    lr_collapse: float = 1e-3  # and spent at least `min_length` of the run down there
    high_level: float = 0.3
    min_mid_drop: float = 0.1  # a mid-run lr collapse: the loss falls again by 10% of its progress after it
    min_points: int = 100  # a "long stretch" needs a long record; 50-step runs are mostly their first drop


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    p = profile(train, t.min_points)
    if p is None:
        return []
    # stuck: the whole smoothed curve stays within `stuck_noise` sigmas of the trend's own noise (each trend
    # value is a median of several raw points, see Profile.trend_noise)
    stuck = float(np.ptp(p.trend)) < t.stuck_noise * p.trend_noise + t.band * abs(p.late_level - p.floor)
    trend, steps = p.trend, p.trend_steps
    span_steps = max(int(steps[-1] - steps[0]), 1)
    lr_ratio, window = _lr_collapse(roles, t.lr_collapse)
    collapsed = False
    if not stuck and window is not None and (window[1] - window[0]) / span_steps >= t.min_length:
        # the schedule stalled it: the lr sat near 0 for a long window. At the end of the run the loss must
        # still be high (judged only for losses bounded below by 0: a shifted NLL has no natural zero); in
        # mid-run the loss must improve again once the lr comes back (it was not converged)
        inside = (steps >= window[0]) & (steps <= window[1])
        level_in = float(np.median(trend[inside])) if inside.any() else p.tail
        at_end = (steps[-1] - window[1]) / span_steps < 0.05
        if at_end:
            collapsed = p.tail >= t.high_level * p.head if p.floor >= 0 else True
        else:
            collapsed = (level_in - p.tail) / p.scale >= t.min_mid_drop
    if stuck:
        start, end, later_drop = 0, len(trend) - 1, 0.0
    elif collapsed:
        start, end = int(np.flatnonzero(inside)[0]), int(np.flatnonzero(inside)[-1])
        later_drop = max((level_in - p.tail) / p.scale, 0.0)
    else:
        # the longest flat stretch that the run later escaped: the escape must hold to the final level, and
        # last at least 5% of the run after the stall (a converged tail is flat too, but nothing follows it)
        first_break = _flat_ends(trend, t.band * p.range + p.trend_noise)
        ends = first_break - 1
        escaped_for = (steps[-1] - steps[ends]) / span_steps
        drops = np.where(escaped_for >= 0.05, (trend - p.tail) / p.scale, 0.0)
        drops[_warming_up(roles, steps)] = 0.0  # a slow start while the lr ramps up is warmup, not a stall
        lengths = np.where(drops >= t.min_later_drop, steps[ends] - steps, -1)
        start = int(np.argmax(lengths))
        end, later_drop = int(ends[start]), float(drops[start])
        if later_drop < t.min_later_drop:
            return []
    length = (int(steps[end]) - int(steps[start])) / span_steps
    if length < t.min_length:
        return []
    level = float(np.median(trend[start : end + 1]))
    evidence = {
        "plateau_start_step": int(steps[start]),
        "plateau_end_step": int(steps[end]),
        "plateau_fraction": rounded(length, 3),
        "plateau_level": rounded(level),
        "initial_value": rounded(p.head),
        "best_value": rounded(p.best),
        "drop_after_plateau_ratio": rounded(later_drop, 3),
        "never_improved": bool(stuck),
        "lr_collapsed": bool(collapsed),
    }
    if lr_ratio is not None:
        evidence["lr_final_to_peak"] = rounded(lr_ratio, 3)
    escape = 1.0 if stuck or collapsed else ramp(later_drop, t.min_later_drop, 1.0)
    confidence = 0.55 + 0.45 * ramp(length, t.min_length, 0.8) * max(escape, 0.45)
    what = ("never left its initial level" if stuck else
            f"stalled at {fmt(level)} while the lr sat below {fmt(t.lr_collapse)} of its peak" if collapsed else
            f"stalled at {fmt(level)} before dropping to {fmt(p.best)}")
    message = (f"{train.key} {what}: flat from step {int(steps[start])} to {int(steps[end])} "
               f"({fmt(100 * length)}% of the run)")
    lr = param_text(run, LR_PARAMS)
    suggestions = [
        (f"{lr}: the stall suggests it is too low for this stage; try 3–10x higher with warmup" if lr and not stuck
         else "check the init and activations (saturated sigmoid/tanh, dead ReLUs): use He init with ReLU, or "
              "normalization layers"),
        "use an adaptive optimizer (Adam) or momentum to cross flat regions",
        "if a schedule decayed the lr before the stall, decay later or less",
    ]
    if not stuck and lr is None:
        suggestions[0] = "raise the learning rate 3–10x, with warmup"
    if collapsed:
        suggestions[0] = "the lr schedule decayed to ~0 while the loss was still high: decay more slowly or later"
    return [finding(PATTERN, SEVERITY, confidence, train.key, (int(steps[start]), int(steps[end])), evidence, message,
                    suggestions)]


def _warming_up(roles: Roles, steps: np.ndarray) -> np.ndarray:
    """Trend points logged while the lr was below half its peak and had not yet reached it (warmup)."""
    lr = roles.get("lr")
    if lr is None or lr.finite_count < 3:
        return np.zeros(len(steps), dtype=bool)
    lr_steps, values = lr.steps[np.isfinite(lr.values)], lr.values[np.isfinite(lr.values)]
    peak_step = lr_steps[int(np.argmax(values))]
    at = np.interp(steps, lr_steps, values)
    return (steps < peak_step) & (at < 0.5 * np.max(values))


def _lr_collapse(roles: Roles, ratio: float) -> tuple[float | None, tuple[int, int] | None]:
    """Final lr over its peak, and the longest window of steps with the lr at or below `ratio` x peak.

    Cosine and linear schedules reach ~0 only in their last few percent; an exponential decay that is too
    fast, or a scheduler bug that zeroes the lr mid-run, sits near 0 for a long window: that stalls the loss.
    """
    lr = roles.get("lr")
    if lr is None or lr.finite_count < 3:
        return None, None
    steps, values = lr.steps[np.isfinite(lr.values)], lr.values[np.isfinite(lr.values)]
    peak = float(np.max(values))
    if peak <= 0:
        return None, None
    low = np.concatenate([[False], values <= ratio * peak, [False]]).astype(np.int8)
    starts, stops = np.flatnonzero(np.diff(low) == 1), np.flatnonzero(np.diff(low) == -1) - 1
    if not len(starts):
        return float(values[-1] / peak), None
    longest = int(np.argmax(steps[stops] - steps[starts]))
    return float(values[-1] / peak), (int(steps[starts[longest]]), int(steps[stops[longest]]))


def _flat_ends(trend: np.ndarray, tolerance: float) -> np.ndarray:
    """For each start point, the index where the trend first leaves a band of 2 * tolerance (n if never).

    Row i of the matrix holds the trend from point i on (earlier points replaced by trend[i]); running
    max/min along rows give every stretch's spread at once. n <= 400 bucketed points, so n^2 is small.
    """
    n = len(trend)
    if n > 200:  # the trend is smooth at this scale: every other point keeps the n^2 matrix small
        coarse = _flat_ends(trend[::2], tolerance)
        return np.minimum(np.repeat(coarse * 2, 2)[:n], n)
    m = np.broadcast_to(trend, (n, n)).copy()
    lower = np.tril(np.ones((n, n), dtype=bool), -1)
    m[lower] = np.broadcast_to(trend[:, None], (n, n))[lower]
    spread = np.maximum.accumulate(m, axis=1) - np.minimum.accumulate(m, axis=1)
    broken = spread > 2 * tolerance
    return np.where(broken.any(axis=1), np.argmax(broken, axis=1), n)
