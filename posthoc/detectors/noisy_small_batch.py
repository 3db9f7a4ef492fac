"""noisy_small_batch: step-to-step noise of the training loss is large next to its trend, trend still down.

Why it matters: a batch too small for its learning rate makes each step follow one batch's gradient; the
run still learns, but slowly and to a worse minimum. The statistic is the point-to-point noise of the
second half (after the initial drop), in orders of magnitude for positive losses (a factor-of-3 jump
between consecutive logged values is 0.5 decades) and, for losses that can be negative, in units of the
level above the lowest value seen. Separating statistics: the trend must still be clearly downward (else
oscillation) and the jumps dense (else loss_spikes). Logging means over many steps hides batch noise.
Known false positives: per-sample losses logged on very heterogeneous data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import BATCH_PARAMS, finding, fmt, param_number, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import noise_sigma, profile, ramp

PATTERN, SEVERITY = "noisy_small_batch", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # point-to-point robust sigma of log10(loss) in the second half: 0.5 decades = consecutive values
    # typically a factor ~3 apart; minibatch noise of batch >= 16 stays near 0.1-0.3 (measured on the corpus)
    min_noise_decades: float = 0.5
    # the same, for losses that can be negative: noise sigma / (median - lowest value) of the second half
    min_noise_to_level: float = 1.0
    # and noise at least this fraction of the progress made: a loss converged near zero jitters by factors
    # in log terms while its trend is long settled, which is not a batch-size problem
    min_noise_to_progress: float = 0.04
    # trend still down: the final level is below the initial one by this fraction of the progress made
    min_progress: float = 0.5
    min_points: int = 20


def measure(run: Run, roles: Roles, t: Thresholds) -> dict | None:
    """Noise and progress of the train loss, shared with oscillation (which needs the opposite verdict)."""
    p = profile(roles.get("train_loss"), t.min_points)
    if p is None:
        return None
    late = p.values[len(p.values) // 2 :]
    if np.all(late > 0) and np.all(p.values > 0):
        noise = noise_sigma(np.log10(late))
        threshold, unit = t.min_noise_decades, "decades"
    else:
        noise = noise_sigma(late) / max(float(np.median(late) - np.min(late)), 1e-300)
        threshold, unit = t.min_noise_to_level, "level"
    progress = (p.head - p.tail) / p.scale
    return {"profile": p, "noise": noise, "threshold": threshold, "unit": unit, "progress": progress,
            "noise_to_progress": p.noise / p.scale}


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    m = measure(run, roles, t)
    if (m is None or m["noise"] < m["threshold"] or m["progress"] < t.min_progress
            or m["noise_to_progress"] < t.min_noise_to_progress):
        return []
    p = m["profile"]
    key = roles.get("train_loss").key
    evidence = {
        "noise_decades" if m["unit"] == "decades" else "noise_to_level": rounded(m["noise"], 3),
        "progress_ratio": rounded(m["progress"], 3),
        "noise_to_progress": rounded(m["noise_to_progress"], 3),
        "initial_value": rounded(p.head),
        "final_value": rounded(p.tail),
        "best_value": rounded(p.best),
    }
    batch = param_number(run, BATCH_PARAMS)
    if batch is not None:
        evidence["batch_size"] = batch[1]
    confidence = 0.55 + 0.45 * ramp(m["noise"], m["threshold"], 2.5 * m["threshold"])
    jump = f"{fmt(10 ** m['noise'])}x" if m["unit"] == "decades" else f"{fmt(m['noise'])}x its level"
    message = (f"{key} jumps by a typical {jump} between logged steps in the second half while its trend "
               f"still falls ({fmt(p.head)} to {fmt(p.tail)})")
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
