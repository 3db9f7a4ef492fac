"""loss_spikes: isolated sharp jumps of the training loss far above its running level, that recover.

Why it matters: a few bad batches (corrupted or mislabeled data, outliers) or moments of instability
(too-high lr, Adam's epsilon too small) cost progress each time and often precede a NaN. A point is a
spike when it stands far above the centered rolling median both in noise units (10 local robust sigmas) and
relative to the level above the floor (DESIGN: "≥2x the running level", made shift-free by measuring from the
lowest value seen), and apart from the noise's own tail (signal.apart_from_tail). Separating statistic from
noisy_small_batch and oscillation: spikes are sparse (at most 2% of points) and the loss comes back
afterwards; dense jumps are noise, not spikes.
Known false positives: a loss logged per batch over data of very different difficulty (mixed tasks).
Known misses: spikes inside per-example (batch of 1) noise whose tail reaches as high.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors.base import finding, fmt, lower_lr_suggestion, rounded
from posthoc.model import Finding, Run
from posthoc.roles import Roles
from posthoc.signal import apart_from_tail, finite_prefix, local_sigma, profile, ramp, recovered_spikes, rolling_median

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
    max_fraction: float = 0.02  # more spike points than this fraction is dense noise, not isolated spikes
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
    window = min(t.window, max(3, n // 5))
    level = rolling_median(values, window)
    dev = values - level
    sigma = local_sigma(dev)
    floor = float(np.min(values))
    p = profile(train)  # a millionth of the magnitude is float rounding on a flat loss, never a spike
    visible = t.min_height_to_progress * p.scale if p is not None else 0.0
    height_needed = np.maximum(np.maximum(t.min_sigmas * sigma, (t.spike_ratio - 1.0) * (level - floor)),
                               np.maximum(1e-6 * np.abs(level), visible))
    # the initial descent is never a spike: skip until the running level came halfway from the initial loss
    # to the best (its half-life), and at least a window; dense jumps are noise, not spikes
    halfway = np.flatnonzero(level <= p.best + 0.5 * (p.head - p.best)) if p is not None else np.zeros(1, int)
    skip = max(window, int(0.02 * n), int(halfway[0]) if len(halfway) else 0)
    peaks, count = recovered_spikes(values, level, height_needed, skip, window, t.recover_fraction)
    # per-example losses (batch of 1-4, mislabeled examples) are heavy-tailed: their jumps are the tail of the
    # noise, not spikes apart from it
    sigmas_all = dev / np.maximum(sigma, np.maximum(1e-6 * np.abs(level), 1e-300))  # float rounding: no overflow
    peaks = peaks[apart_from_tail(sigmas_all[skip:], sigmas_all[peaks])]
    if not len(peaks) or count > t.max_fraction * n:
        return []
    ratio_above_floor = (values[peaks] - floor) / np.maximum(level[peaks] - floor, 1e-300)
    sigmas = sigmas_all[peaks]
    top = peaks[np.argsort(-dev[peaks])][:10]
    evidence = {"spike_count": len(peaks), "spike_steps": [int(s) for s in np.sort(steps[top])],
                "max_spike_step": int(steps[top[0]]), "max_spike_value": rounded(float(values[top[0]])),
                "running_level_at_max": rounded(float(level[top[0]])),
                "max_ratio_above_floor": rounded(float(np.max(ratio_above_floor))),
                "max_height_sigmas": rounded(float(np.max(sigmas))),
                "spike_point_fraction": rounded(count / n, 3)}
    confidence = 0.55 + 0.25 * ramp(float(np.max(sigmas)), t.min_sigmas, 4 * t.min_sigmas) + 0.2 * ramp(
        float(np.max(ratio_above_floor)), t.spike_ratio, 4 * t.spike_ratio)
    where = ", ".join(str(s) for s in evidence["spike_steps"][:5])
    message = (f"{train.key} spiked {len(peaks)} time(s) (steps {where}), up to {fmt(values[top[0]])} over a "
               f"running level of {fmt(level[top[0]])}, and recovered")
    suggestions = [f"inspect the batches at steps {where}: corrupted inputs, outliers or wrong labels are the usual cause",
                   "clip the gradient norm (e.g. max_norm=1.0) so one batch cannot throw the weights far",
                   lower_lr_suggestion(run, 0.3, 0.5) + " if the spikes grow over time"]
    severity = "info" if len(peaks) == 1 and float(np.max(sigmas)) < t.lone_spike_sigmas else SEVERITY
    return [finding(PATTERN, severity, confidence, train.key, (int(steps[top].min()), int(steps[top].max())),
                    evidence, message, suggestions)]
