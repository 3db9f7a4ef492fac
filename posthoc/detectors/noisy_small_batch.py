"""noisy_small_batch: step-to-step noise of the training loss is large next to its trend, trend still down.

Why it matters: a batch too small for its learning rate makes each step follow one batch's gradient; the
run still learns, but slowly and to a worse minimum. The statistic is a signal-to-noise ratio: the
point-to-point robust noise sigma over how far the second half's median sits above the lowest value seen
(shift- and scale-free, so NLLs below zero and MSE in the thousands work alike). The noise has the shape of a
mean of few per-example losses: right-skewed (the skew of a mean of B falls as 1/sqrt(B)) and white (batches are
drawn independently). The trend must still be clearly downward (else oscillation), the jumps dense (else
loss_spikes), and not moving together (structured swings: oscillation). Means over many steps hide batch noise.
Known false positives: a loss driven to ~0 (memorized data) whose rare jumps dwarf its tiny level; per-sample losses.
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import BATCH_PARAMS, finding, fmt, param_number, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import autocorrelation_bound, noise_sigma, profile, quantile_skewness, ramp, residuals, swings

PATTERN, SEVERITY = "noisy_small_batch", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # point-to-point noise (robust sigma of differences) over the distance of the second half's median from
    # the lowest value seen: above 1, a step's noise exceeds what separates the typical loss from the best
    # the run reached. That is the loss-side reading of a batch below the gradient noise scale (McCandlish
    # et al. 2018, "An Empirical Model of Large-Batch Training"): each step is dominated by its batch's noise
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
    # moving together (oscillation's own `waves` test)
    max_wave: float = 0.1
    # trend clearly down: the final level kept 85% of the drop from the initial level to the best; a run that
    # gave back more swings or diverges (divergence's own bar starts at 25% given back). Noise lowers the best
    # (the minimum of ~20 independent trend values, ~2 trend sigmas low), so a give-back within 3 trend sigmas
    # of the best is not a rise
    min_progress: float = 0.85
    trend_sigmas: float = 3.0
    min_points: int = 20


def measure(run: Run, roles: Roles, t: Thresholds) -> dict | None:
    """Noise, shape and progress of the train loss (shift- and scale-free)."""
    p = profile(roles.get("train_loss"), t.min_points)
    if p is None:
        return None
    half = len(p.values) // 2
    late_noise = noise_sigma(p.values[half:])  # the initial descent is trend, not noise
    level = max(p.late_level - p.floor, 1e-300)
    within_noise = min(t.trend_sigmas * p.trend_noise, max(p.tail - p.best, 0.0))
    start = max(p.head, p.opening)  # a batch of 1 scatters the first few points
    s = swings(p)
    return {"profile": p, "noise": late_noise / level, "late_noise": late_noise, "level_share": level / p.scale,
            "skewness": quantile_skewness(residuals(p)[half:]), "periodic": s.periodic,
            "white": s.swing_autocorrelation < max(t.max_wave, autocorrelation_bound(len(p.values) - half)),
            "progress": (start - p.tail + within_noise) / max(p.scale, start - p.best), "start": start}


def noisy(m: dict, t: Thresholds) -> bool:
    """Batch noise: large, skewed and white around a trend that still falls; not rounding nor a loss at its floor."""
    far_from_floor = m["level_share"] >= t.min_level_share and not m["periodic"]
    large = m["noise"] >= t.min_noise_to_level or (far_from_floor and m["noise"] >= t.min_noise_far_from_floor)
    p = m["profile"]  # a second half mostly at its floor has no level for the noise to be large against
    rounding = m["late_noise"] <= 1e-6 * max(abs(p.late_level), abs(p.head)) or p.late_level - p.floor <= p.rounding
    return large and m["skewness"] >= t.min_skewness and m["white"] and m["progress"] >= t.min_progress and not rounding


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    m = measure(run, roles, t)
    if m is None or not noisy(m, t):
        return []
    p = m["profile"]
    key = roles.get("train_loss").key
    evidence = {"noise_to_level": rounded(m["noise"], 3), "noise_sigma": rounded(m["late_noise"]),
                "level_above_best": rounded(p.late_level - p.floor), "progress_ratio": rounded(m["progress"], 3),
                "skewness": rounded(m["skewness"], 3), "initial_value": rounded(p.head), "final_value": rounded(p.tail),
                "best_value": rounded(p.best)}
    batch = param_number(run, BATCH_PARAMS)
    if batch is not None:
        evidence["batch_size"] = batch[1]
    confidence = 0.55 + 0.45 * ramp(m["noise"], t.min_noise_far_from_floor, 3 * t.min_noise_to_level)
    message = (f"{key} jumps by ±{fmt(m['late_noise'])} between logged steps, {fmt(m['noise'])}x its typical distance "
               f"from the best value, while its trend still falls ({fmt(m['start'])} to {fmt(p.tail)})")
    suggestions = [f"{batch[0]}={fmt(batch[1])}: try {fmt(batch[1] * 4)}–{fmt(batch[1] * 8)}, or accumulate gradients "
                   "over 4–8 steps" if batch is not None else "use a larger batch, or accumulate gradients over several steps",
                   "lower the learning rate (linear scaling rule: lr proportional to batch size)",
                   "log the loss as a mean over a window of steps to read the trend"]
    span = (int(p.steps[len(p.steps) // 2]), int(p.steps[-1]))
    return [finding(PATTERN, SEVERITY, confidence, key, span, evidence, message, suggestions)]
