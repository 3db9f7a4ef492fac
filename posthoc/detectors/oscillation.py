"""oscillation: large, persistent up-down swings of the training loss that do not shrink; little net progress.

Why it matters: the optimizer bounces across a valley instead of descending it. Measured on the second half around
the rolling-median trend (signal.swings): the swing is at least the net progress after the transient, as large in the
last quarter as in the second, and not batch noise: structured (lag-1 autocorrelation far from 0, or a period
significant by Fisher's g with 10+ cycles) and large next to the level above the lowest value seen, or strongly
structured and visible on a chart, or huge with no progress and moving together (batch noise is white). `mechanism`
names the signature: cyclic_lr (swings follow a periodic lr: a fault only because the loss does not progress),
edge_of_stability (a period of 2-12 steps: the step is past 2/sharpness), bursty (heavy-tailed bursts, as
Adam/RMSprop give with too large an lr), slow_ringing (smooth waves of many steps, as momentum near 1 gives).
Not noisy_small_batch (a clearly falling trend) nor loss_spikes (sparse outliers far above the swings).
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import finding, fmt, optimizer_name, oscillation_advice, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import autocorrelation_bound, late_period, lr_cycle, profile, ramp, swings

PATTERN, SEVERITY = "oscillation", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)
WHAT = {"cyclic_lr": "following the cyclic lr", "edge_of_stability": "bouncing every few steps: the lr is past the "
        "edge of stability", "bursty": "in bursts, as adaptive optimizers do with too large an lr",
        "slow_ringing": "in slow waves, as heavy momentum rings"}


@dataclass(frozen=True)
class Thresholds:
    min_swing_to_progress: float = 1.0  # typical swing >= the net progress after the transient
    min_relative_swing: float = 0.2  # swing >= 20% of the loss's distance from its lowest value
    # lag-1 autocorrelation: batch noise sits near 0 (down to -0.4 for a small epoch drawn without replacement), slow
    # waves >= 0.3, step-to-step bouncing <= -0.45; |r| >= 0.5 is strong structure, which needs only a visible swing
    min_structure: float = 0.3
    min_bounce: float = 0.45
    strong_structure: float = 0.5
    min_visible_swing: float = 0.05  # visible: 5% of the level above the floor, as loss_spikes' visibility floor
    large_swing: float = 0.6  # or swings >= 60% of the level above the floor with swing >= 2x any progress
    no_progress: float = 2.0
    min_wave: float = 0.1  # ...and r >= 0.1, significantly > 0 (autocorrelation_bound): batch noise is white
    min_persistence: float = 0.4  # not shrinking, and not a regime change mid-run (divergence's business)
    max_persistence: float = 5.0
    # edge of stability: GD past 2/sharpness bounces every 2 steps along the sharpest direction, folded by the loss's
    # curvature into cycles of a few steps; momentum rings at 2pi/sqrt(lr x curvature) steps, tens or more
    max_short_period: float = 12.0  # swings repeating within 12 points are the former
    min_bursts: float = 0.05  # bursty: 5% of points beyond 3 robust sigmas, 18x the Gaussian 0.27%
    min_points: int = 100  # persistence needs a long record


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    p = profile(roles.get("train_loss"), t.min_points)
    if p is None:
        return []
    cycle = lr_cycle(roles.get("lr"))  # a cyclic schedule: progress between equal phases of its cycles
    s = swings(p, cycle)
    gained, r = s.net_progress_after_transient, s.swing_autocorrelation
    structured = not -t.min_bounce < r < t.min_structure or s.periodic or cycle is not None
    waves = r >= max(t.min_wave, autocorrelation_bound(len(p.values) - len(p.values) // 2))
    steady = t.min_persistence <= s.persistence_ratio <= t.max_persistence or cycle is not None
    large = ((structured and s.relative_swing >= t.min_relative_swing)
             or (abs(r) >= t.strong_structure and s.relative_swing >= t.min_visible_swing)
             or (s.relative_swing >= t.large_swing and s.swing_to_progress >= t.no_progress and waves))
    if s.swing_to_progress < t.min_swing_to_progress or not steady or s.swing <= p.rounding or not large:
        return []
    mechanism = "cyclic_lr" if cycle is not None else s.mechanism(t.min_bounce, t.max_short_period, t.min_bursts,
                                                                  optimizer_name(run))
    evidence = {"mechanism": mechanism, "swing_to_progress": rounded(s.swing_to_progress, 3),
                "initial_value": rounded(p.head), "final_value": rounded(p.tail),
                **{k: rounded(v, 4) for k, v in vars(s).items() if k != "periodic"}}
    if (grad_period := late_period(roles.get("grad_norm"), t.min_points)) is not None:  # the mechanism's rhythm
        evidence["grad_norm_period_points"] = rounded(grad_period, 3)
    shape = max(ramp(abs(r), t.min_structure, 0.7), ramp(s.relative_swing, t.large_swing, 1.0), float(s.periodic))
    confidence = 0.55 + 0.45 * min(ramp(s.swing_to_progress, t.min_swing_to_progress, 4.0), shape)
    message = (f"{p.key} swings by about ±{fmt(s.swing)} around its trend through the second half, {WHAT[mechanism]}, "
               + (f"while it gained only {fmt(gained)}" if gained > 0 else "with no net progress"))
    return [finding(PATTERN, SEVERITY, confidence, p.key, (int(p.steps[len(p.steps) // 2]), int(p.steps[-1])),
                    evidence, message, oscillation_advice(run, roles.get("lr"), mechanism))]

