"""noisy_small_batch: step-to-step noise of the training loss is large next to its trend, trend still down.

Why it matters: a batch too small for its learning rate makes each step follow one batch's gradient; the run still
learns, but slowly and to a worse minimum. The statistic is a signal-to-noise ratio: the point-to-point robust noise
sigma over how far the second half's median sits above the lowest value seen (shift- and scale-free: NLLs below zero
and MSE in the thousands alike). The noise has the shape of a mean of few per-example losses: right-skewed (the skew
of a mean of B falls as 1/sqrt(B)) and white (batches are drawn independently: swings moving together or bouncing
are oscillation's). The trend must still fall clearly (else oscillation), the jumps be dense (else loss_spikes).
Known false positives: a loss driven to ~0 (memorized data) whose rare jumps dwarf its tiny level; per-sample losses.
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import BATCH_PARAMS, finding, fmt, param_number, rounded, small_batch_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import autocorrelation_bound, noise_sigma, profile, quantile_skewness, ramp, residuals, swings

PATTERN, SEVERITY = "noisy_small_batch", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # point-to-point noise (robust sigma of differences) over the second half's median above the lowest value seen:
    # above 1, a step's noise exceeds what separates the typical loss from the best reached, the loss-side reading
    # of a batch below the gradient noise scale (McCandlish et al. 2018, "An Empirical Model of Large-Batch Training")
    min_noise_to_level: float = 1.0
    # ...or 0.7 while the late level sits at least 10% of the progress above the floor, with no period in the swings:
    # what a mean of 2 exponential per-example losses gives (1.06 for one, 0.41 for 16; simulated). A loss near 0 has
    # far heavier per-example tails, which lift the ratio near 1 at any batch size: there only the bar above counts
    min_noise_far_from_floor: float = 0.7
    min_level_share: float = 0.1
    # Hinkley's quantile skewness (5%/95%) of the second half around its trend: 1/3 means the upper tail reaches twice
    # as far as the lower, as a mean of ~3 exponential per-example losses does (0.32; 1 gives 0.57, 16 give 0.14)
    min_skewness: float = 1 / 3
    # batch noise is white: a lag-1 autocorrelation of 0.1 or more, significantly above 0 (Bartlett), is swings
    # moving together, -0.45 or less bouncing step to step (oscillation's own `waves` and `min_bounce` tests)
    max_wave: float = 0.1
    max_bounce: float = 0.45
    # trend clearly down: the final level kept 85% of the drop to the best (divergence's bar starts at 25% given back);
    # noise lowers the best (a minimum of ~20 trend values, ~2 sigmas low): a give-back within 3 trend sigmas is no rise
    min_progress: float = 0.85
    trend_sigmas: float = 3.0
    min_points: int = 20


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    p = profile(roles.get("train_loss"), t.min_points)
    if p is None:
        return []
    half = len(p.values) // 2
    late_noise = noise_sigma(p.values[half:])  # the initial descent is trend, not noise
    level = max(p.late_level - p.floor, 1e-300)
    noise = late_noise / level  # shift- and scale-free
    within_noise = min(t.trend_sigmas * p.trend_noise, max(p.tail - p.best, 0.0))
    start = max(p.head, p.opening)  # a batch of 1 scatters the first few points
    progress = (start - p.tail + within_noise) / max(p.scale, start - p.best)
    skewness = quantile_skewness(residuals(p)[half:])
    r = swings(p).swing_autocorrelation
    white = -t.max_bounce < r < max(t.max_wave, autocorrelation_bound(len(p.values) - half))
    far_from_floor = level / p.scale >= t.min_level_share and not swings(p).periodic
    large = noise >= t.min_noise_to_level or (far_from_floor and noise >= t.min_noise_far_from_floor)
    # float rounding, or a second half mostly at its floor: no level for the noise to be large against
    rounding = late_noise <= 1e-6 * max(abs(p.late_level), abs(p.head)) or p.late_level - p.floor <= p.rounding
    if not (large and skewness >= t.min_skewness and white and progress >= t.min_progress and not rounding):
        return []
    evidence = {"noise_to_level": rounded(noise, 3), "noise_sigma": rounded(late_noise),
                "level_above_best": rounded(p.late_level - p.floor), "progress_ratio": rounded(progress, 3),
                "skewness": rounded(skewness, 3), "initial_value": rounded(p.head), "final_value": rounded(p.tail),
                "best_value": rounded(p.best)}
    if (batch := param_number(run, BATCH_PARAMS)) is not None:
        evidence["batch_size"] = batch[1]
    confidence = 0.55 + 0.45 * ramp(noise, t.min_noise_far_from_floor, 3 * t.min_noise_to_level)
    message = (f"{p.key} jumps by ±{fmt(late_noise)} between logged steps, {fmt(noise)}x its typical distance "
               f"from the best value, while its trend still falls ({fmt(start)} to {fmt(p.tail)})")
    return [finding(PATTERN, SEVERITY, confidence, p.key, (int(p.steps[half]), int(p.steps[-1])), evidence, message,
                    small_batch_advice(run))]
