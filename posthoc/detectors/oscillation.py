"""oscillation: large, persistent up-down swings of the training loss that do not shrink; little net progress.

Why it matters: the optimizer bounces across a valley instead of descending it: the learning rate (or
momentum) is too high for the curvature, or a cyclic schedule is too aggressive. The statistic is the
typical swing (robust sigma of the loss around its rolling-median trend, second half of the run) compared
with the net progress (initial minus final level): swings at least half as large as everything the run
gained, that are still as large in the last quarter as in the second, and, for positive losses, at least
10% of the loss level (so a flat loss with tiny jitter is not "oscillating"). Separating statistics:
noisy_small_batch needs clear net progress and measures dense batch noise; loss_spikes are sparse
outliers (the robust sigma ignores them); a loss that ends far above its best is divergence.
Known false positives: cyclic or restart schedules (SGDR) by design; check the lr chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lower_lr_suggestion, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import MAD_TO_SIGMA, profile, ramp

PATTERN, SEVERITY = "oscillation", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    min_swing_to_progress: float = 0.5  # typical swing >= half the net progress: "little net progress"
    min_relative_swing: float = 0.1  # positive losses: swing >= 10% of the loss level
    min_persistence: float = 0.5  # swing in the last quarter >= this x the swing in the second quarter
    max_rise: float = 0.5  # final level above best by more than this x progress: divergence, not this
    min_points: int = 20


def _sigma(x: np.ndarray) -> float:
    return float(MAD_TO_SIGMA * np.median(np.abs(x - np.median(x)))) if len(x) else 0.0


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    p = profile(train, t.min_points)
    if p is None:
        return []
    n = len(p.values)
    resid = p.values - np.interp(p.steps, p.trend_steps, p.trend)
    swing = _sigma(resid[n // 2 :])
    progress = max(p.head - p.tail, 0.0)
    swing_to_progress = swing / max(progress, 1e-300)
    persistence = _sigma(resid[3 * n // 4 :]) / max(_sigma(resid[n // 4 : n // 2]), 1e-300)
    level = float(np.median(p.values[n // 2 :]))
    relative = swing / abs(level) if np.min(p.values) > 0 else swing / p.scale
    rise = (p.tail - p.best) / p.scale
    if (swing_to_progress < t.min_swing_to_progress or relative < t.min_relative_swing
            or persistence < t.min_persistence or rise > t.max_rise):
        return []
    evidence = {
        "swing": rounded(swing),
        "swing_to_progress": rounded(swing_to_progress, 3),
        "relative_swing": rounded(relative, 3),
        "persistence_ratio": rounded(persistence, 3),
        "initial_value": rounded(p.head),
        "final_value": rounded(p.tail),
        "net_progress": rounded(progress),
        "swing_min": rounded(float(np.min(p.values[n // 2 :]))),
        "swing_max": rounded(float(np.max(p.values[n // 2 :]))),
    }
    confidence = 0.55 + 0.45 * min(ramp(swing_to_progress, t.min_swing_to_progress, 3.0),
                                   ramp(relative, t.min_relative_swing, 0.5))
    message = (f"{train.key} swings by about ±{fmt(swing)} around its trend through the second half without "
               f"shrinking, while it gained only {fmt(progress)} overall")
    momentum = run.params.get("momentum")
    suggestions = [lower_lr_suggestion(run, 0.2, 0.5)]
    if momentum is not None:
        suggestions.append(f"momentum={momentum}: try 0.9 or lower, or use Adam")
    suggestions += ["add lr decay (cosine or step) so the swings settle", "clip the gradient norm"]
    return [finding(PATTERN, SEVERITY, confidence, train.key, (int(p.steps[n // 2]), int(p.steps[-1])), evidence,
                    message, suggestions)]
