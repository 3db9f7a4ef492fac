"""exploding_gradients: the gradient norm grew by orders of magnitude above its own running level.

Why it matters: exploding updates precede most divergences and NaNs; the grad-norm history shows it
before the loss does and tells at what norm to clip. Measured in log10 on a rolling median (sustained
growth, so one bad batch is loss_spikes' business), from the lowest level it held before the peak; no
absolute norm is assumed, since the norm's scale depends on the loss and the model (MSE in the thousands
has norms in the thousands). Separating statistic from divergence: this one reads grad norm, divergence
reads the loss; when both hold and the gradients start first, diagnose makes this the root cause.
Known false positives: norms logged before unscaling in fp16 loss scaling (they jump with the scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lr_advice, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import first_nonfinite, log_level, ramp

PATTERN, SEVERITY = "exploding_gradients", "critical"
REQUIRES: tuple[str, ...] = ("grad_norm",)


@dataclass(frozen=True)
class Thresholds:
    # sustained growth of the grad norm's running level, in orders of magnitude: 2 = 100x. DESIGN: "growing
    # by orders of magnitude"; the 100 echoes its "gradient norm > 100 is large" for unit-scale norms.
    min_growth_decades: float = 2.0
    window_fraction: float = 0.05  # rolling-median window, as a fraction of the points (sustained, not a spike)
    min_points: int = 8


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    grad = roles.get("grad_norm")
    if grad is None:
        return []
    steps, values, b_steps, level = log_level(grad, t.window_fraction)
    if len(values) < t.min_points:
        return []
    peak = int(np.argmax(level))
    low = int(np.argmin(level[: peak + 1]))
    # growth counts from the highest running level before the lowest point: a norm that fell to ~0 at an
    # optimum (1e-16 in full batch) and returns to its earlier scale has not exploded
    growth = float(level[peak] - np.max(level[: low + 1]))
    if growth < t.min_growth_decades:
        return []
    climbing = np.flatnonzero(level[low : peak + 1] >= level[low] + 1.0)  # first step a decade above the low
    start_step = int(b_steps[low + climbing[0]]) if len(climbing) else int(b_steps[low])
    before = values[steps < start_step]
    typical = float(np.median(before)) if len(before) else float(10 ** level[low])
    clip = float(f"{2 * typical:.2g}") if typical > 0 else 1.0
    evidence = {"growth_ratio": rounded(10**growth), "growth_decades": rounded(growth, 3),
                "low_step": int(b_steps[low]), "low_norm": rounded(10 ** level[low]), "peak_step": int(b_steps[peak]),
                "peak_norm": rounded(10 ** level[peak]), "max_norm": rounded(float(np.max(values))),
                "typical_norm_before": rounded(typical), "suggested_clip_norm": clip}
    if (nonfinite := first_nonfinite(grad)) is not None:
        evidence["first_nonfinite_step"] = int(grad.steps[nonfinite])
    confidence = 0.6 + 0.4 * ramp(growth, t.min_growth_decades, t.min_growth_decades + 2)
    message = (f"{grad.key} grew {fmt(10**growth)}x, from {fmt(10 ** level[low])} (step {int(b_steps[low])}) "
               f"to {fmt(10 ** level[peak])} (step {int(b_steps[peak])})")
    suggestions = [
        f"clip the gradient norm at about {fmt(clip)} (twice its typical {fmt(typical)} before step {start_step})",
        lr_advice(run, roles.get("lr"), start_step),
        "check the initialization scale and add normalization layers (LayerNorm/BatchNorm) or residuals",
    ]
    end_step = int(grad.steps[-1])
    return [finding(PATTERN, SEVERITY, confidence, grad.key, (start_step, end_step), evidence, message, suggestions)]
