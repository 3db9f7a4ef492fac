"""oscillation: large, persistent up-down swings of the training loss that do not shrink; little net progress.

Why it matters: the optimizer bounces across a valley instead of descending it: the learning rate (or
momentum) is too high for the curvature, or a cyclic schedule is too aggressive. Statistics, on the second
half of the run: the typical swing (robust sigma of the loss around its rolling-median trend) is at least
the net progress made after the initial transient (median of 10–30% of the run minus the final level),
at least 20% of the loss's distance from the lowest value seen (shift-free "large"), about as large in
the last quarter as in the second (persistent, 0.4–5x), and structured: the swings' lag-1 autocorrelation
is far from zero (r >= 0.3 slow waves, r <= -0.45 step-to-step bouncing), which i.i.d. minibatch noise
(r near 0) does not show -- unless the swings are huge (>= 60% of the level) with no progress at all.
Separating statistics: noisy_small_batch needs a clearly falling trend and wins when it holds;
loss_spikes are sparse outliers (the robust sigma ignores them); a loss that jumped up and swings around
its new level is divergence unless the swings span a quarter of the rise (diagnose.SWING_OVER_RISE).
Known false positives: cyclic or restart schedules (SGDR) by design; check the lr chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lower_lr_suggestion, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import autocorrelation, profile, ramp, robust_sigma

PATTERN, SEVERITY = "oscillation", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    min_swing_to_progress: float = 1.0  # typical swing >= the net progress after the transient
    min_relative_swing: float = 0.2  # swing >= 20% of the loss's distance from its lowest value
    # lag-1 autocorrelation of the swings: slow waves >= 0.3, step-to-step bouncing <= -0.45. Residuals of
    # minibatch noise sit near 0, down to about -0.4 when batches are drawn without replacement from a
    # small epoch (a hard batch is followed by easier ones), so the negative side needs a wider margin.
    min_structure: float = 0.3
    min_bounce: float = 0.45
    # ...or swings so large (>= 60% of the level above the floor) and progress so absent (swing >= 2x it)
    # that their rhythm does not matter: chaotic full-batch bouncing has little autocorrelation; healthy
    # corpus runs stay below 0.59 relative swing
    large_swing: float = 0.6
    no_progress: float = 2.0
    min_persistence: float = 0.4  # swing in the last quarter >= this x the swing in the second quarter
    # ...and <= this x: swings that grow 5x within the second half started mid-run (a regime change after an
    # lr jump: divergence's business). Corpus oscillations stay between 0.85 and 3.8.
    max_persistence: float = 5.0
    min_points: int = 100  # persistent swings need a record long enough to show persistence


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    p = profile(train, t.min_points)
    if p is None:
        return []
    n = len(p.values)
    resid = p.values - np.interp(p.steps, p.trend_steps, p.trend)
    late = resid[n // 2 :]
    swing = robust_sigma(late)
    early = float(np.median(p.values[n // 10 : max(3 * n // 10, n // 10 + 1)]))
    progress = max(early - p.tail, 0.0)
    swing_to_progress = swing / progress if progress > 0 else float("inf")  # evidence shows "inf", not 1e+299
    persistence = robust_sigma(resid[3 * n // 4 :]) / max(robust_sigma(resid[n // 4 : n // 2]), 1e-300)
    relative = swing / max(p.late_level - p.floor, 1e-300)
    # winsorized at 3 swing sigmas so a burst of 2-3 consecutive spikes cannot pose as structure
    structure = autocorrelation(np.clip(late, np.median(late) - 3 * swing, np.median(late) + 3 * swing))
    if (swing_to_progress < t.min_swing_to_progress or relative < t.min_relative_swing
            or not t.min_persistence <= persistence <= t.max_persistence
            or (-t.min_bounce < structure < t.min_structure
                and not (relative >= t.large_swing and swing_to_progress >= t.no_progress))
            or swing <= 1e-6 * max(abs(p.late_level), 1e-300)):
        return []
    evidence = {
        "swing": rounded(swing),
        "swing_to_progress": rounded(swing_to_progress, 3),
        "relative_swing": rounded(relative, 3),
        "persistence_ratio": rounded(persistence, 3),
        "swing_autocorrelation": rounded(structure, 3),
        "initial_value": rounded(p.head),
        "final_value": rounded(p.tail),
        "net_progress_after_transient": rounded(progress),
        "swing_min": rounded(float(np.min(p.values[n // 2 :]))),
        "swing_max": rounded(float(np.max(p.values[n // 2 :]))),
    }
    shape = max(ramp(abs(structure), t.min_structure, 0.7), ramp(relative, t.large_swing, 1.0))
    confidence = 0.55 + 0.45 * min(ramp(swing_to_progress, t.min_swing_to_progress, 4.0), shape)
    message = (f"{train.key} swings by about ±{fmt(swing)} around its trend through the second half without "
               + (f"shrinking, while it gained only {fmt(progress)} overall" if progress > 0 else
                  "shrinking, with no net progress after the first steps"))
    momentum = run.params.get("momentum")
    suggestions = [lower_lr_suggestion(run, 0.2, 0.5)]
    if momentum is not None:
        suggestions.append(f"momentum={momentum}: try 0.9 or lower, or use Adam")
    suggestions += ["add lr decay (cosine or step) so the swings settle", "clip the gradient norm"]
    return [finding(PATTERN, SEVERITY, confidence, train.key, (int(p.steps[n // 2]), int(p.steps[-1])), evidence,
                    message, suggestions)]
