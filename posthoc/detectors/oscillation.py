"""oscillation: large, persistent up-down swings of the training loss that do not shrink; little net progress.

Why it matters: the optimizer bounces across a valley instead of descending it. Measured on the second half
around the rolling-median trend (signal.swings): the swing is at least the net progress after the transient, as
large in the last quarter as in the second (0.4-5x), and not batch noise: structured (lag-1 autocorrelation >=
0.3 or <= -0.45, or a period significant by Fisher's g at 1% with 2%+ of the power and 10+ cycles) and >= 20% of
the level above the lowest value seen, or strongly structured (|r| >= 0.5) and >= 5% of it (visible on a chart),
or huge with no progress and moving together (r significantly > 0: batch noise is white from step to step).
`mechanism` names the signature: cyclic_lr (swings follow a periodic lr: a fault only because the loss does not
progress), edge_of_stability (a period of 2-12 steps: the step is past 2/sharpness), bursty (heavy-tailed
bursts, as Adam/RMSprop give with too large an lr), slow_ringing (smooth waves of many steps, as momentum near 1
gives). Not noisy_small_batch (a clearly falling trend) nor loss_spikes (sparse outliers far above the swings).
"""

from __future__ import annotations

from dataclasses import dataclass

from posthoc.detectors.base import decay_advice, finding, fmt, lower_lr_suggestion, momentum_advice, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import Swings, autocorrelation_bound, lr_cycle, periodicity, profile, ramp, swings

PATTERN, SEVERITY = "oscillation", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)
WHAT = {"cyclic_lr": "following the cyclic lr", "edge_of_stability": "bouncing every few steps: the lr is past the "
        "edge of stability", "bursty": "in bursts, as adaptive optimizers do with too large an lr",
        "slow_ringing": "in slow waves, as heavy momentum rings"}


@dataclass(frozen=True)
class Thresholds:
    min_swing_to_progress: float = 1.0  # typical swing >= the net progress after the transient
    min_relative_swing: float = 0.2  # swing >= 20% of the loss's distance from its lowest value
    # lag-1 autocorrelation: minibatch noise sits near 0 (down to -0.4 when a small epoch is drawn without
    # replacement), slow waves >= 0.3, step-to-step bouncing <= -0.45; |r| >= 0.5 is strong structure, which
    # needs only a visible swing (5% of the level above the floor, as loss_spikes' visibility floor)
    min_structure: float = 0.3
    min_bounce: float = 0.45
    strong_structure: float = 0.5
    min_visible_swing: float = 0.05
    large_swing: float = 0.6  # or swings >= 60% of the level above the floor with swing >= 2x any progress
    no_progress: float = 2.0
    min_wave: float = 0.1  # ...and r >= 0.1, significantly > 0 (autocorrelation_bound): batch noise is white
    min_persistence: float = 0.4  # not shrinking, and not a regime change mid-run (divergence's business)
    max_persistence: float = 5.0
    # edge of stability: GD past 2/sharpness bounces every 2 steps along the sharpest direction, which the
    # loss's curvature folds into cycles of a few steps; momentum rings at 2pi/sqrt(lr x curvature) steps along
    # flatter directions, tens or more. Swings repeating within 12 points are the former
    max_short_period: float = 12.0
    min_bursts: float = 0.05  # bursty: 5% of points beyond 3 robust sigmas, 18x the Gaussian 0.27%
    min_points: int = 100  # persistence needs a long record


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    p = profile(train, t.min_points)
    if p is None:
        return []
    cycle = lr_cycle(roles.get("lr"))  # a cyclic schedule: progress between equal phases of its cycles
    s = swings(p, cycle)
    to_progress = s.swing / s.net_progress_after_transient if s.net_progress_after_transient > 0 else float("inf")  # evidence shows "inf", not 1e+299
    structured = not -t.min_bounce < s.swing_autocorrelation < t.min_structure or s.periodic or cycle is not None
    waves = s.swing_autocorrelation >= max(t.min_wave, autocorrelation_bound(len(p.values) - len(p.values) // 2))
    steady = t.min_persistence <= s.persistence_ratio <= t.max_persistence or cycle is not None
    if (to_progress < t.min_swing_to_progress or not steady or s.swing <= p.rounding
            or not ((structured and s.relative_swing >= t.min_relative_swing)
                    or (abs(s.swing_autocorrelation) >= t.strong_structure and s.relative_swing >= t.min_visible_swing)
                    or (s.relative_swing >= t.large_swing and to_progress >= t.no_progress and waves))):
        return []
    optimizer = str(next((run.params[k] for k in ("optimizer", "optim", "optimizer_name") if k in run.params), "")).lower()
    mechanism = "cyclic_lr" if cycle is not None else _mechanism(s, t, optimizer)
    evidence = {"mechanism": mechanism, "swing_to_progress": rounded(to_progress, 3), "initial_value": rounded(p.head),
                "final_value": rounded(p.tail), **{k: rounded(v, 4) for k, v in vars(s).items() if k != "periodic"}}
    grad = roles.get("grad_norm")
    if grad is not None and grad.finite_count >= t.min_points:  # its rhythm: the same mechanism shows in the norm
        evidence["grad_norm_period_points"] = rounded(periodicity(grad.values[grad.finite][grad.finite_count // 2 :])[0], 3)
    shape = max(ramp(abs(s.swing_autocorrelation), t.min_structure, 0.7), ramp(s.relative_swing, t.large_swing, 1.0), float(s.periodic))
    confidence = 0.55 + 0.45 * min(ramp(to_progress, t.min_swing_to_progress, 4.0), shape)
    message = (f"{train.key} swings by about ±{fmt(s.swing)} around its trend through the second half, "
               f"{WHAT[mechanism]}, " + (f"while it gained only {fmt(s.net_progress_after_transient)}" if s.net_progress_after_transient > 0 else "with no net progress"))
    suggestions = [lower_lr_suggestion(run, 0.2, 0.5) + (": a cyclic schedule's peak (max_lr)" if mechanism == "cyclic_lr" else "")]
    momentum = momentum_advice(run)  # only above 0.9: at 0.9 or below it is the usual value, not the cause
    if momentum or (mechanism == "slow_ringing" and "momentum" not in run.params):
        suggestions.append(momentum or "momentum near 1: try 0.9 or lower (Adam: beta1=0.9)")
    if mechanism == "bursty":
        suggestions.append("raise Adam's eps (1e-8 -> 1e-6) or add warmup")
    suggestions += [*filter(None, [decay_advice(run, roles.get("lr"))]), "clip the gradient norm"]
    return [finding(PATTERN, SEVERITY, confidence, train.key, (int(p.steps[len(p.steps) // 2]), int(p.steps[-1])),
                    evidence, message, suggestions)]


def _mechanism(s: Swings, t: Thresholds, optimizer: str) -> str:
    """The known mechanism whose signature the swings match (see the module docstring). Bursts alone do not
    tell GD's catapults far past the stability limit from an adaptive optimizer's: the logged optimizer does."""
    if s.swing_autocorrelation <= -t.min_bounce or s.period_points <= t.max_short_period:
        return "edge_of_stability"
    if s.burst_fraction >= t.min_bursts:
        return "edge_of_stability" if optimizer.startswith(("sgd", "momentum", "nesterov")) else "bursty"
    return "slow_ringing"
