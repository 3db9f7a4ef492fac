"""divergence: training loss rose well above its best and did not come back (no NaN needed).

Why it matters: the optimizer left the basin it had found, almost always because the lr (or its schedule) is too
high for this model; the rest of the run is wasted compute. Measured on the finite part before any NaN (a NaN tail
is nan_inf's), in units of the progress the run had made (initial minus best), so scale- and shift-free; a warmup
bump that recovers is not divergence because the final level must stay up. A loss bounded by 0 that ends at twice
its best or more has diverged too, even when that is a small share of a large initial drop, and so has any loss
whose level rose significantly while its swings at least doubled at the climb (a new regime, as an lr jump makes).
Known false positives: runs whose loss is meant to rise (curriculum, growing context length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lr_advice, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import climb, earlier_rise, last_finite, profile, ramp, swings_before_after

PATTERN, SEVERITY = "divergence", "critical"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # a quarter of the progress made (initial - best) lost for good: DESIGN's "rising well above its best and not
    # coming back"; healthy corpus runs stay below 0.2 and their rises are within noise (next threshold)
    min_rise_ratio: float = 0.25
    # a loss bounded by 0 that ends at 2x the level around its best lost half of what it had (0.03 -> 0.3 after an lr
    # jump is a tenth of the progress from 2.8, yet the model is far worse): diverged, if the rise is also a visible
    # share of the progress (a cyclic lr's peaks near a 0.002 floor are not)
    min_rise_factor: float = 2.0
    min_visible_rise: float = 0.05
    # ...or, at any factor, if the swings around the trend at least doubled at the climb (4x the variance: past the F
    # test's 1% point with 30+ points a side): a new regime, as an lr jump makes (the loss rose and got noisier at once)
    min_swing_growth: float = 2.0
    # ...and by this many point-to-point noise sigmas, so batch noise around a converged loss never counts
    min_rise_noise: float = 5.0
    min_points: int = 8


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    p = profile(train, t.min_points)
    if p is None:
        return []
    c = climb(p, t.min_points)
    # swings that doubled at the climb (swings_before_after) are a new regime, not an oscillation it had (diagnose)
    swings = swings_before_after(p, p.best_step, c.start_step, max(c.points, 30))
    born = swings is not None and swings[1] >= t.min_swing_growth * swings[0]
    shifted = c.level_rise / p.scale >= t.min_visible_rise and c.level_rise >= t.min_rise_noise * c.level_se
    multiplied = p.natural_zero and p.tail >= t.min_rise_factor * c.best_level
    steep = not (c.ratio < t.min_rise_ratio or c.noise_sigmas < t.min_rise_noise)
    if not (shifted and (multiplied or born) or steep) or p.best_step >= p.steps[-c.points]:
        return []  # a best inside the final level's window (a noisy loss's trend edge) is no level it rose from
    evidence = {"best_step": p.best_step, "best_value": rounded(p.best), "best_level": rounded(c.best_level),
                "initial_value": rounded(p.head), "final_value": rounded(p.tail), "rise_ratio": rounded(c.ratio),
                "rise_noise_sigmas": rounded(c.noise_sigmas), "final_above_initial": bool(p.tail > p.head),
                "last_finite_step": int(p.steps[-1]), "earlier_rise": rounded(earlier_rise(p, p.best_step))}
    if swings is not None:
        evidence.update(swing_before_best=rounded(swings[0]), swing_after_rise=rounded(swings[1]),
                        swings_born_with_rise=born)
    if p.best > 0 and p.tail > 0:
        evidence["rise_orders_of_magnitude"] = rounded(float(np.log10(p.tail / p.best)), 3)
    lr = roles.get("lr")
    if (lr_at_start := last_finite(lr, c.start_step)) is not None:
        evidence["lr_at_start"] = lr_at_start
    confidence = 0.6 + 0.4 * min(ramp(c.ratio, t.min_rise_ratio, 1.5), ramp(c.noise_sigmas, t.min_rise_noise, 20))
    message = (f"{train.key} rose from its best {fmt(p.best)} (step {p.best_step}) to {fmt(p.tail)} and did not "
               f"come back ({fmt(c.ratio)}x the progress it had made)")
    suggestions = [lr_advice(run, lr, c.start_step),
                   "clip the gradient norm, and keep the checkpoint from step " + str(p.best_step)]
    if lr is None:  # the lr was not logged: a schedule raising it cannot be ruled out
        suggestions.append(f"if a schedule raises the lr at step {c.start_step}, cap its peak")
    return [finding(PATTERN, SEVERITY, confidence, train.key, (c.start_step, int(p.steps[-1])), evidence, message,
                    suggestions)]
