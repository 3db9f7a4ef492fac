"""plateau: the training loss stopped improving (or never started) while still far from converged.

Why it matters: the steps of a stall are wasted (an lr far too low, saturated units, a saddle, a schedule that
decayed too early). `kind`: never_learned (net drop under 5% of a loss bounded by 0 and no significant rise, or
within its noise while val, if logged, did not learn either), too_slow (removed under half its initial loss, its
last third still falling at its average rate), lr_collapsed (the lr sat near 0 for a long window while the loss
was high, or fell again after), stalled (a long flat stretch later escaped).
Not underfitting (progress that levelled off high) nor vanishing_gradients (the grad norm collapsed: the cause).
Known false positives: fine-tuning runs that start at their optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import LR_PARAMS, finding, fmt, optimizer_advice, param_text, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import escaped_stall, low_window, profile, ramp, ramping_up, window_stall

PATTERN, SEVERITY = "plateau", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    max_removed: float = 0.5  # too_slow: removed less than half its initial loss
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


FLAT = ": flat from step {start} to {end} ({pct}% of the run)"
TEXT = {  # kind -> (what the loss did, the first suggestion)
    "never_learned": ("never left its initial level {head} (ended at {tail})" + FLAT,
                      "check the init and activations (saturated sigmoid/tanh, dead ReLUs: He init with ReLU, "
                      "normalization layers), then that the lr is not far too small"),
    "too_slow": ("still falls at its average rate but removed only {removed}% of its initial loss {head} by step {end}",
                 "{lr}: far too small for this model; try 10–100x higher (an lr range test finds it)"),
    "lr_collapsed": ("stalled at {level} while the lr sat below {lr_collapse} of its peak" + FLAT,
                     "the lr schedule decayed to ~0 while the loss was still high: decay more slowly or later"),
    "stalled": ("stalled at {level} before dropping to {best}" + FLAT,
                "{lr}: the stall suggests it is too low for this stage; try 3–10x higher with warmup")}


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train, lr = roles.get("train_loss"), roles.get("lr")
    p = profile(train, t.min_points)
    if p is None or p.head <= 0 <= p.floor:  # a loss that starts at its lower bound 0 has nothing to learn
        return []
    steps, span = p.trend_steps, max(int(p.trend_steps[-1] - p.trend_steps[0]), 1)
    lr_ratio, window = low_window(lr, t.lr_collapse)
    start, end, later_drop = 0, len(steps) - 1, 0.0
    val = profile(roles.get("val_loss"), 5)  # a train loss within its noise never learned unless val did
    if p.unmoved or (p.within_noise and not (val is not None and val.learned)):
        kind, margin = "never_learned", p.unmoved_margin
    elif p.removed < t.max_removed and p.still_falling(t.min_pace):
        kind, margin = "too_slow", ramp(-p.removed, -t.max_removed, -0.1)
    elif len(p.values) < t.min_points_stall:
        return []
    elif window is not None and (window[1] - window[0]) / span >= t.min_length:
        start, end, later_drop, at_end = window_stall(p, window)  # at the end: still high; mid-run: fell again after
        if not (p.tail >= t.high_level * p.head or not p.natural_zero if at_end else later_drop >= t.min_mid_drop):
            return []
        kind, margin = "lr_collapsed", 1.0
    else:  # a long flat stretch the run later escaped by most of its progress; a slow warmup is no stall
        start, end, later_drop = escaped_stall(p, t.band, t.min_later_drop, ramping_up(lr, steps))
        kind, margin = "stalled", ramp(later_drop, t.min_later_drop, 1.0)
        if later_drop < t.min_later_drop:
            return []
    length = (int(steps[end]) - int(steps[start])) / span
    if length < t.min_length:
        return []
    level = float(np.median(p.trend[start : end + 1]))
    evidence = {"kind": kind, "plateau_start_step": int(steps[start]), "plateau_end_step": int(steps[end]),
                "plateau_fraction": rounded(length, 3), "plateau_level": rounded(level), "initial_value": rounded(p.head),
                "best_value": rounded(p.best), "final_value": rounded(p.tail), "drop_noise_sigmas": rounded(p.drop_sigmas),
                "removed_fraction": rounded(p.removed, 3), "drop_after_plateau_ratio": rounded(later_drop, 3),
                "never_improved": kind == "never_learned", "lr_collapsed": kind == "lr_collapsed"}
    if lr_ratio is not None:
        evidence["lr_final_to_peak"] = rounded(lr_ratio, 3)
    confidence = 0.55 + 0.45 * ramp(length, t.min_length, 0.8) * (0.45 + 0.55 * margin)
    text = {"head": fmt(p.head), "tail": fmt(p.tail), "removed": fmt(100 * p.removed), "level": fmt(level),
            "best": fmt(p.best), "lr_collapse": fmt(t.lr_collapse), "start": int(steps[start]), "end": int(steps[end]),
            "pct": fmt(100 * length), "lr": param_text(run, LR_PARAMS) or "the learning rate"}
    suggestions = [TEXT[kind][1].format(**text), *filter(None, [optimizer_advice(run)]),
                   *(["if a schedule decayed the lr before the stall, decay later or less"] if roles.get("lr") is None else [])]
    message = f"{train.key} " + TEXT[kind][0].format(**text)
    return [finding(PATTERN, SEVERITY, confidence, train.key, (int(steps[start]), int(steps[end])), evidence, message,
                    suggestions)]
