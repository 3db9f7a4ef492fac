"""overfitting: validation loss rose from its minimum while the training loss kept falling.

Why it matters: every step after the best validation step makes the model worse on unseen data; the
checkpoint at the best step is the one to keep. The rise is measured on the val series' own (often
coarser) grid, in units of the progress val made (initial minus best), so no equal grids or loss scale are
assumed; the train trend is read at the best val step by interpolation. Separating statistics: if train
rises too it is divergence (or underfitting's slow drift), not overfitting; a val bump that comes back
down is not a rise because the final level is a median of the last points.
Known false positives: val sets so small that their loss is mostly noise (the noise test guards this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, regularization_advice, rounded
from posthoc.detectors.boosting import overfitting_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import LARGE_EFFECT, in_sigmas, profile, ramp

PATTERN, SEVERITY = "overfitting", "warning"
REQUIRES: tuple[str, ...] = ("train_loss", "val_loss")


@dataclass(frozen=True)
class Thresholds:
    # val's final level above its best by this fraction of the progress val made; DESIGN cites SageMaker
    # Debugger's overfit ratio of 0.1 (10%)
    min_rise: float = 0.10
    min_rise_noise: float = 3.0  # ...and by this many of val's point-to-point noise sigmas
    min_points_after: int = 3  # val points logged after the best one
    min_points: int = 5


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train, val = roles.get("train_loss"), roles.get("val_loss")
    pv, pt = profile(val, t.min_points), profile(train, t.min_points)
    if pv is None or pt is None or not pt.learned:  # "train keeps falling" needs a train loss that fell at all
        return []
    after = int(np.sum(pv.steps > pv.best_step))
    rise = pv.tail - pv.best
    # unit: the progress val made, or train's if larger (same loss function): a val series that was already
    # flat at its first evaluation has a tiny range of its own, and 1% wiggles would look like big rises
    unit = max(pv.scale, pt.range)
    rise_ratio = rise / unit
    rise_noise = in_sigmas(rise, pv.noise, pv.best)
    if after < t.min_points_after or rise_ratio < t.min_rise or rise_noise < t.min_rise_noise:
        return []
    train_at_best = pt.trend_at(pv.best_step)
    train_change = (pt.tail - train_at_best) / pt.scale
    # "while train keeps falling": after the best val step train falls by a large effect against its own
    # batch noise (signal.LARGE_EFFECT); a val wiggle over a train loss that barely moves is no overfit
    if (train_at_best - pt.tail) / max(pt.noise, pt.rounding, 1e-300) <= LARGE_EFFECT:
        return []
    last_step = int(pv.steps[-1])
    train_at_last = float(np.interp(last_step, pt.steps, pt.values)) if pt.steps[0] <= last_step else pt.tail
    gap = pv.tail - min(pt.tail, train_at_last)
    raw_best, best_val = pv.raw_best()
    evidence = {"best_step": raw_best, "best_val": rounded(best_val),
                "final_val": rounded(pv.tail), "val_rise_ratio": rounded(rise_ratio, 3),
                "val_rise_noise_sigmas": rounded(rise_noise), "train_at_best": rounded(train_at_best),
                "final_train": rounded(pt.tail), "train_change_after_best_ratio": rounded(train_change, 3),
                "gap": rounded(gap), "gap_ratio": rounded(gap / unit, 3), "val_points_after_best": after}
    if pt.tail > 0:
        evidence["gap_over_train"] = rounded(gap / pt.tail, 3)  # SageMaker-style (val - train) / train
    confidence = 0.55 + 0.45 * min(ramp(rise_ratio, t.min_rise, 0.5), ramp(rise_noise, t.min_rise_noise, 15))
    message = (f"{val.key} bottomed at {fmt(evidence['best_val'])} (step {raw_best}) and rose to {fmt(pv.tail)} while "
               f"{train.key} kept falling ({fmt(train_at_best)} to {fmt(pt.tail)})")
    if roles.best_step is not None:
        # an early-stopping callback already kept the best iteration: the rise is its patience window
        evidence["early_stopping_best_step"] = roles.best_step
        message += f"; early stopping kept iteration {roles.best_step}"
        return [finding(PATTERN, "info", confidence, val.key, (raw_best, last_step), evidence, message, [])]
    advice = (overfitting_advice(run, roles.framework, raw_best) if roles.framework is not None
              else regularization_advice(run, raw_best))
    return [finding(PATTERN, SEVERITY, confidence, val.key, (raw_best, last_step), evidence, message, advice)]
