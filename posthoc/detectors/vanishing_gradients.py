"""vanishing_gradients: the gradient norm collapsed toward zero while the training loss stalled.

Why it matters: with (near) zero gradients no learning rate helps; the architecture or init is at fault
(saturated sigmoid/tanh, dead ReLUs, too deep without residuals or normalization). The statistic is the
grad norm's final running level: at most 1e-6 in absolute terms (DESIGN; SageMaker Debugger's
VanishingGradient rule uses 1e-7), or a collapse by 3+ orders of magnitude from its initial level, while
the loss moved less than 10% of its scale after the collapse and stayed high. Separating statistic from
plateau: plateau reads the loss only; this finding needs the grad norm evidence and is the cause.
Known false positives: a shifted loss (no natural zero) converged to an optimum in full batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import activation_advice, finding, fmt, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import first_step_below, log_level, profile, ramp

PATTERN, SEVERITY = "vanishing_gradients", "warning"
REQUIRES: tuple[str, ...] = ("grad_norm", "train_loss")


@dataclass(frozen=True)
class Thresholds:
    # DESIGN: "grad norm collapsing toward zero (<= 1e-6 scale)", with one decade of slack (the corpus check
    # uses 1e-5). Used alone when the loss has no natural zero, so "still high" cannot be judged.
    tiny_norm: float = 1e-5
    min_collapse_decades: float = 3.0  # or this many orders of magnitude below its initial level
    max_loss_move: float = 0.1  # loss change after the collapse, as a fraction of its scale: "loss stalls"
    # ...and it had stalled already when the norm was first a decade below its start: a run converging to
    # an optimum (convex problems, full batch) loses its gradient *while* the loss falls, not after
    max_loss_move_early: float = 0.5
    # a positive loss still above this fraction of its initial level: the net learned (almost) nothing; one that
    # removed more converged toward an optimum, where gradients vanish by design (convex or memorized problems)
    min_level_ratio: float = 0.8
    min_points: int = 8


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    grad, train = roles.get("grad_norm"), roles.get("train_loss")
    if grad is None or train is None:
        return []
    steps, values, b_steps, level = log_level(grad)
    p = profile(train, t.min_points)
    if len(values) < t.min_points or p is None:
        return []
    head = float(np.median(np.log10(np.maximum(np.abs(values[: max(3, len(values) // 20)]), 1e-30))))
    final = float(np.median(level[-max(2, len(level) // 4) :]))
    collapse = head - final
    if final > np.log10(t.tiny_norm) and collapse < t.min_collapse_decades:
        return []
    # the loss must not move after the norm first came within a decade of its final level
    collapse_step = first_step_below(b_steps, level, final + 1.0, int(b_steps[-1]))
    at_collapse = p.trend_at(collapse_step)
    loss_move = abs(at_collapse - p.tail) / p.scale
    decade_step = first_step_below(b_steps, level, head - 1.0, collapse_step)
    loss_move_early = abs(p.trend_at(decade_step) - p.tail) / p.scale
    # "still high" needs a natural zero (a loss at its lower bound 0 has converged: its gradients vanish by design);
    # for shifted losses fall back on DESIGN's absolute norm, since a memorized training set also drives it down
    high = (p.head > 0 and p.tail >= t.min_level_ratio * p.head) if p.floor >= 0 else final <= np.log10(t.tiny_norm)
    if loss_move > t.max_loss_move or loss_move_early > t.max_loss_move_early or not high:
        return []
    evidence = {"initial_norm": rounded(10**head), "final_norm": rounded(10**final),
                "collapse_decades": rounded(collapse, 3), "collapse_step": collapse_step,
                "loss_at_collapse": rounded(at_collapse), "final_loss": rounded(p.tail),
                "loss_move_ratio": rounded(loss_move, 3), "first_decade_step": decade_step,
                "loss_move_after_first_decade_ratio": rounded(loss_move_early, 3)}
    confidence = 0.6 + 0.4 * max(ramp(collapse, t.min_collapse_decades, t.min_collapse_decades + 3),
                                 ramp(-final, -np.log10(t.tiny_norm), -np.log10(t.tiny_norm) + 2))
    message = (f"{grad.key} fell to {fmt(10**final)} ({fmt(collapse)} orders of magnitude below its start) by step "
               f"{collapse_step} while {train.key} stayed near {fmt(p.tail)}")
    suggestions = [activation_advice(run),
                   "add residual connections and normalization layers (BatchNorm/LayerNorm), or use fewer layers",
                   "check for saturating inputs: rescale them"]
    return [finding(PATTERN, SEVERITY, confidence, grad.key, (collapse_step, int(steps[-1])), evidence, message,
                    suggestions)]
