"""divergence: training loss rose well above its best and did not come back (no NaN needed).

Why it matters: the optimizer left the basin it had found, almost always because the learning rate (or
its schedule) is too high for this model; the rest of the run is wasted compute. Measured on the finite
part before any NaN, so a NaN tail is nan_inf's finding, not this one. The rise is measured in units of
the progress the run had made (initial level minus best), so it is scale- and shift-free; a warmup bump
that recovers is not divergence because the final level must stay up. A loss bounded by 0 that ends at twice
its best or more has diverged too, even when that is a small share of a large initial drop, and so has any loss whose
level rose significantly while its swings at least doubled at the climb (a new regime, as an lr jump makes).
Known false positives: runs whose loss is meant to rise (curriculum, growing context length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lr_advice, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import TAIL_FRACTION, earlier_rise, edge_count, noise_sigma, profile, ramp, swings_before_after

PATTERN, SEVERITY = "divergence", "critical"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # final level above the best by at least this fraction of the progress made (initial - best): a quarter
    # of the run's gains lost for good. DESIGN: "rising well above its best and not coming back"; healthy
    # corpus runs stay below 0.2 and their rises are within noise (next threshold)
    min_rise_ratio: float = 0.25
    # a loss bounded by 0 that ends at 2x the level around its best lost half of what it had (0.03 -> 0.3 after an lr
    # jump is a tenth of the progress from 2.8, yet the model is far worse): diverged, if the rise is also a
    # visible share of the progress (a cyclic lr's peaks near a 0.002 floor are not)
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
    rise = p.tail - p.best
    rise_ratio = rise / p.scale
    # significance against the noise of the healthy part (before the best): after a divergence the loss is
    # chaotic, and its own noise would hide the rise
    before = p.values[p.steps <= p.best_step]
    noise = noise_sigma(before) if len(before) >= t.min_points else p.noise
    rise_noise = rise / max(noise, 1e-6 * abs(p.best), 1e-300)
    # the doubling compares two levels, each the median of as many points as the final level (the last 10%): the
    # final one and the one around the best (the trend's minimum is a minimum of noisy values, biased low); their
    # difference is tested against the medians' standard errors, 1.2533 sigma / sqrt(n) each
    k = edge_count(len(p.values), TAIL_FRACTION)
    first = max(0, min(int(np.searchsorted(p.steps, p.best_step)) - k // 2, len(p.values) - k))
    best_level = float(np.median(p.values[first : first + k]))
    level_rise, level_noise = p.tail - best_level, 1.2533 * max(noise, 1e-300) * np.sqrt(2.0 / k)
    # where it left the basin: the last trend point near the best before the climb
    up = (p.trend_steps >= p.best_step) & (p.trend > p.best + 0.25 * rise)
    start_step = int(p.trend_steps[np.argmax(up)]) if up.any() else p.best_step
    # swings around the trend from the end of the initial descent (10%) to the best, and after the climb (as many
    # points as the levels): swings born with the climb are a new regime, not an oscillation the run had (diagnose)
    swings = swings_before_after(p, p.best_step, start_step, max(k, 30))
    born = swings is not None and swings[1] >= t.min_swing_growth * swings[0]
    shifted = level_rise / p.scale >= t.min_visible_rise and level_rise >= t.min_rise_noise * level_noise
    multiplied = p.natural_zero and p.tail >= t.min_rise_factor * best_level
    if not (shifted and (multiplied or born)) and (rise_ratio < t.min_rise_ratio or rise_noise < t.min_rise_noise):
        return []
    if p.best_step >= p.steps[-k]:  # a best inside the final level's own window (a noisy loss's trend edge)
        return []  # is no level the loss rose from
    evidence = {"best_step": p.best_step, "best_value": rounded(p.best), "best_level": rounded(best_level),
                "initial_value": rounded(p.head), "final_value": rounded(p.tail), "rise_ratio": rounded(rise_ratio),
                "rise_noise_sigmas": rounded(rise_noise), "final_above_initial": bool(p.tail > p.head),
                "last_finite_step": int(p.steps[-1]), "earlier_rise": rounded(earlier_rise(p, p.best_step))}
    if swings is not None:
        evidence.update(swing_before_best=rounded(swings[0]), swing_after_rise=rounded(swings[1]), swings_born_with_rise=born)
    if p.best > 0 and p.tail > 0:
        evidence["rise_orders_of_magnitude"] = rounded(float(np.log10(p.tail / p.best)), 3)
    lr = roles.get("lr")
    lr_at = lr.until(start_step).values if lr is not None else np.zeros(0)
    if np.isfinite(lr_at).any():
        evidence["lr_at_start"] = float(lr_at[np.isfinite(lr_at)][-1])
    confidence = 0.6 + 0.4 * min(ramp(rise_ratio, t.min_rise_ratio, 1.5), ramp(rise_noise, t.min_rise_noise, 20))
    message = (f"{train.key} rose from its best {fmt(p.best)} (step {p.best_step}) to {fmt(p.tail)} and did not "
               f"come back ({fmt(rise_ratio)}x the progress it had made)")
    suggestions = [lr_advice(run, lr, start_step),
                   "clip the gradient norm, and keep the checkpoint from step " + str(p.best_step)]
    if lr is None:  # the lr was not logged: a schedule raising it cannot be ruled out
        suggestions.append(f"if a schedule raises the lr at step {start_step}, cap its peak")
    return [finding(PATTERN, SEVERITY, confidence, train.key, (start_step, int(p.steps[-1])), evidence, message,
                    suggestions)]
