"""loss_spikes: isolated sharp jumps of the training loss far above its running level, that recover.

Why it matters: a few bad batches (corrupted or mislabeled data, outliers) or moments of instability
(too-high lr, Adam's epsilon too small) cost progress each time and often precede a NaN. A point is a
spike when it stands far above the centered rolling median both in noise units (10 local robust sigmas) and
relative to the level above the floor (DESIGN: "≥2x the running level", made shift-free by measuring from the
lowest value seen), and apart from the noise's own tail (signal.apart_from_tail). Separating statistic from
noisy_small_batch and oscillation: spikes are sparse (at most one event per 50 points) and the loss comes back
afterwards; dense jumps are noise, not spikes.
Known false positives: a loss logged per batch over data of very different difficulty (mixed tasks).
Known misses: spikes inside per-example (batch of 1) noise whose tail reaches as high.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, rounded, spike_advice
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import finite_prefix, profile, ramp, spikes

PATTERN, SEVERITY = "loss_spikes", "warning"
REQUIRES: tuple[str, ...] = ("train_loss",)


@dataclass(frozen=True)
class Thresholds:
    # DESIGN: "loss spike >= 2x the running level", read as a jump of at least 2x the running level (value
    # >= 3x the level), measured above the lowest value seen so it is shift-free; a plain 2x value is within
    # ordinary minibatch variation early in training (measured on healthy demo runs)
    spike_ratio: float = 3.0
    # and this many robust noise sigmas above it: by Chebyshev's bound at most 1% of any finite-variance noise
    # lies this far out (Gaussian noise essentially never); minibatch losses are heavy-tailed, so fewer won't do.
    # The sigma is local (signal.local_sigma): batch noise shrinks as the loss falls
    min_sigmas: float = 10.0
    max_fraction: float = 0.02  # more events above the bars than this fraction of points is dense noise, not spikes
    window: int = 11  # rolling-median points that define the running level
    recover_fraction: float = 0.5  # after a spike the loss must fall back below level + this x height
    min_height_to_progress: float = 0.05  # visible on the chart: at least 5% of the run's progress (profile scale)
    min_points: int = 20
    # one spike alone is a warning only when unambiguous (the top of the confidence ramp): minibatch losses are
    # heavy-tailed, so a single moderate outlier batch is expected in a healthy run and is reported as info
    lone_spike_sigmas: float = 40.0


def detect(run: Run, roles: Roles, t: Thresholds) -> list[Finding]:
    train = roles.get("train_loss")
    if train is None:
        return []
    steps, values = finite_prefix(train)
    n = len(values)
    if n < t.min_points:
        return []
    p = profile(train)  # visible: a share of the progress; the initial descent ends halfway from head to best
    window = min(t.window, max(3, n // 5))
    found = spikes(values, window, t.min_sigmas, t.spike_ratio, t.min_height_to_progress * p.scale if p else 0.0,
                   p.best + 0.5 * (p.head - p.best) if p else None, t.recover_fraction)
    peaks = found.peaks
    if not len(peaks) or found.count > t.max_fraction * n:  # dense jumps are noise, not spikes
        return []
    ratio_above_floor = (values[peaks] - found.floor) / np.maximum(found.level[peaks] - found.floor, 1e-300)
    max_sigmas = float(np.max(found.sigmas[peaks]))
    top = peaks[np.argsort(-found.dev[peaks])][:10]
    evidence = {"spike_count": len(peaks), "spike_steps": [int(step) for step in np.sort(steps[top])],
                "max_spike_step": int(steps[top[0]]), "max_spike_value": rounded(float(values[top[0]])),
                "running_level_at_max": rounded(float(found.level[top[0]])),
                "max_ratio_above_floor": rounded(float(np.max(ratio_above_floor))),
                "max_height_sigmas": rounded(max_sigmas), "spike_event_fraction": rounded(found.count / n, 3)}
    confidence = 0.55 + 0.25 * ramp(max_sigmas, t.min_sigmas, 4 * t.min_sigmas) + 0.2 * ramp(
        float(np.max(ratio_above_floor)), t.spike_ratio, 4 * t.spike_ratio)
    where = ", ".join(str(step) for step in evidence["spike_steps"][:5])
    message = (f"{train.key} spiked {len(peaks)} time(s) (steps {where}), up to {fmt(values[top[0]])} over a "
               f"running level of {fmt(found.level[top[0]])}, and recovered")
    severity = "info" if len(peaks) == 1 and max_sigmas < t.lone_spike_sigmas else SEVERITY
    return [finding(PATTERN, severity, confidence, train.key, (int(steps[top].min()), int(steps[top].max())),
                    evidence, message, spike_advice(run, where))]
