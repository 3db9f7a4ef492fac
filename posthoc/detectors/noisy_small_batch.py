"""noisy_small_batch: step-to-step noise of the training loss is large next to its trend, trend still down.

Why it matters: a batch too small for its learning rate makes each step follow one batch's gradient; the
run still learns, but slowly and to a worse minimum. The statistic is a signal-to-noise ratio: the
point-to-point robust noise sigma over how far the second half's median sits above the lowest value seen
(shift- and scale-free, so NLLs below zero and MSE in the thousands work alike). Separating statistics:
the trend must still be clearly downward, within its own noise (else oscillation), and the jumps dense
(else loss_spikes).
Logging means over many steps hides batch noise.
Known false positives: a loss driven to ~0 (memorized data) whose rare jumps dwarf its tiny level;
per-sample losses logged on very heterogeneous data.
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import BATCH_PARAMS, finding, fmt, param_number, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import noise_sigma, profile, ramp

PATTERN, SEVERITY = "noisy_small_batch", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # point-to-point noise (robust sigma of differences) over the distance of the second half's median from
    # the lowest value seen: above 1, a step's noise exceeds what separates the typical loss from the best
    # the run reached. That is the loss-side reading of a batch below the gradient noise scale (McCandlish
    # et al. 2018, "An Empirical Model of Large-Batch Training"): each step is dominated by its batch's noise
    min_noise_to_level: float = 1.0
    # trend clearly down: the final level kept 85% of the drop from the initial level to the best; a run that
    # gave back more swings or diverges (divergence's own bar starts at 25% given back). Noise lowers the best
    # (the minimum of ~20 independent trend values, ~2 trend sigmas low), so a give-back within 3 trend sigmas
    # of the best is not a rise
    min_progress: float = 0.85
    trend_sigmas: float = 3.0
    min_points: int = 20


def measure(run: Run, roles: Roles, t: Thresholds) -> dict | None:
    """Noise and progress of the train loss (shift- and scale-free)."""
    p = profile(roles.get("train_loss"), t.min_points)
    if p is None:
        return None
    late_noise = noise_sigma(p.values[len(p.values) // 2 :])  # the initial descent is trend, not noise
    noise = late_noise / max(p.late_level - p.floor, 1e-300)
    within_noise = min(t.trend_sigmas * p.trend_noise, max(p.tail - p.best, 0.0))
    return {"profile": p, "noise": noise, "late_noise": late_noise,
            "progress": (p.head - p.tail + within_noise) / p.scale}


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    m = measure(run, roles, t)
    if m is None or m["noise"] < t.min_noise_to_level or m["progress"] < t.min_progress:
        return []
    if m["late_noise"] <= 1e-6 * max(abs(m["profile"].late_level), abs(m["profile"].head)):  # float rounding
        return []
    p = m["profile"]
    key = roles.get("train_loss").key
    evidence = {"noise_to_level": rounded(m["noise"], 3), "noise_sigma": rounded(m["late_noise"]),
                "level_above_best": rounded(p.late_level - p.floor), "progress_ratio": rounded(m["progress"], 3),
                "initial_value": rounded(p.head), "final_value": rounded(p.tail), "best_value": rounded(p.best)}
    batch = param_number(run, BATCH_PARAMS)
    if batch is not None:
        evidence["batch_size"] = batch[1]
    confidence = 0.55 + 0.45 * ramp(m["noise"], t.min_noise_to_level, 3 * t.min_noise_to_level)
    message = (f"{key} jumps by ±{fmt(m['late_noise'])} between logged steps, {fmt(m['noise'])}x its typical distance "
               f"from the best value, while its trend still falls ({fmt(p.head)} to {fmt(p.tail)})")
    suggestions = []
    if batch is not None:
        name, size = batch
        suggestions.append(f"{name}={fmt(size)}: try {fmt(size * 4)}–{fmt(size * 8)}, or accumulate gradients over "
                           f"{4}–{8} steps")
    else:
        suggestions.append("use a larger batch, or accumulate gradients over several steps")
    suggestions += ["lower the learning rate (linear scaling rule: lr proportional to batch size)",
                    "log the loss as a mean over a window of steps to read the trend"]
    span = (int(p.steps[len(p.steps) // 2]), int(p.steps[-1]))
    return [finding(PATTERN, SEVERITY, confidence, key, span, evidence, message, suggestions)]
