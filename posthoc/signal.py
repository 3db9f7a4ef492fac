"""Shared, scale-free statistics of metric series: robust trend, noise, levels, resampling.

Every function is vectorized (no per-point Python loops) and works on the finite part of a series before
its first non-finite value, so a NaN tail is reported once (by nan_inf) and never read as a shape.
Scales are measured from the series itself (initial-to-best range, robust noise), never by dividing by
the loss value, so cross-entropy near 2.3, MSE in the thousands and negative log-likelihoods all work.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from posthoc.model import Series

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample times this estimates its standard deviation
MAX_POINTS = 400  # long series are reduced to this many bucket medians before shape statistics


def finite_prefix(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values before the first non-finite value."""
    bad = np.flatnonzero(~np.isfinite(series.values))
    end = int(bad[0]) if len(bad) else len(series.values)
    return series.steps[:end].astype(np.int64), series.values[:end].astype(np.float64)


def bucket_medians(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS):
    """Median of consecutive equal-count buckets: a long series reduced to at most `max_points` points."""
    n = len(values)
    if n <= max_points:
        return steps, values
    size = -(-n // max_points)
    full = n // size * size  # whole buckets through one reshape; the remainder (if any) is its own bucket
    out_steps = steps[:full:size]
    out_values = np.median(values[:full].reshape(-1, size), axis=1)
    if full < n:
        out_steps = np.append(out_steps, steps[full])
        out_values = np.append(out_values, np.median(values[full:]))
    return out_steps, out_values


def bucket_extremes(values: np.ndarray, buckets: int) -> np.ndarray:
    """Indices of each equal-count bucket's finite minimum and maximum, sorted: a long series reduced for
    drawing without hiding its spikes."""
    n = len(values)
    size = -(-n // buckets)
    count = -(-n // size)
    pad = count * size - n
    finite = np.concatenate([np.isfinite(values), np.zeros(pad, dtype=bool)]).reshape(count, size)
    padded = np.concatenate([values, np.zeros(pad)]).reshape(count, size)
    low = np.where(finite, padded, np.inf).argmin(axis=1)
    high = np.where(finite, padded, -np.inf).argmax(axis=1)
    has = finite.any(axis=1)
    base = np.arange(count) * size
    return np.unique(np.concatenate([(base + low)[has], (base + high)[has]]))


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median of an odd window; the edge values are repeated to fill it."""
    n = len(values)
    window = max(1, min(int(window) | 1, n - (1 - n % 2)))
    if window <= 1 or n < 3:
        return values.astype(np.float64, copy=True)
    half = window // 2
    padded = np.pad(values.astype(np.float64), half, mode="edge")  # edges repeat: no NaN-median cost
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def robust_sigma(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation: blind to a few outliers; 0 if empty."""
    if len(values) == 0:
        return 0.0
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def noise_sigma(values: np.ndarray) -> float:
    """Point-to-point noise: robust sigma of first differences / sqrt(2); insensitive to slow trends."""
    if len(values) < 4:
        return 0.0
    return robust_sigma(np.diff(values)) / float(np.sqrt(2.0))


def edge_level(values: np.ndarray, fraction: float, last: bool, min_points: int = 3) -> float:
    """Median of the first (or last) `fraction` of the points, at least `min_points` of them."""
    k = max(min_points, int(np.ceil(fraction * len(values))))
    part = values[-k:] if last else values[:k]
    return float(np.median(part)) if len(part) else float("nan")


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at `lo`, 1 at `hi`, linear between: turns a margin over a threshold into confidence."""
    if not np.isfinite(x):
        return 1.0 if x > 0 else 0.0
    return float(min(max((x - lo) / (hi - lo), 0.0), 1.0)) if hi != lo else float(x >= hi)


@dataclass(frozen=True)
class Profile:
    """Shape of a loss-like series, measured once per series and shared by the detectors.

    `trend` is a rolling median on the bucketed grid `trend_steps`; `head`, `best`, `tail` are the initial
    level, the trend's minimum and the final level; `range` = head - best is the progress the run made,
    the natural unit for rises, spikes and noise; `noise` is the point-to-point robust sigma.
    """

    steps: np.ndarray
    values: np.ndarray
    trend_steps: np.ndarray
    trend: np.ndarray
    head: float
    best: float
    best_step: int
    tail: float
    noise: float
    resid: float  # robust sigma of values around the trend (dense swings, not isolated spikes)
    floor: float  # the lowest value seen
    late_level: float  # median of the second half
    trend_noise: float  # sigma of one trend value: raw sigma / sqrt(raw points behind it)
    range: float
    scale: float  # range, or noise/magnitude when the run made no progress: never zero


_CACHE: weakref.WeakKeyDictionary[Series, Profile | None] = weakref.WeakKeyDictionary()


def profile(series: Series | None, min_points: int = 8) -> Profile | None:
    """The Profile of the finite prefix of `series`, or None when too short to have a shape."""
    if series is None:
        return None
    if series not in _CACHE:
        _CACHE[series] = _profile(series, 3)
    result = _CACHE[series]
    return result if result is not None and len(result.values) >= min_points else None


def _profile(series: Series, min_points: int) -> Profile | None:
    steps, values = finite_prefix(series)
    if len(values) < min_points or np.max(np.abs(values)) > 1e300:
        return None
    b_steps, b_values = bucket_medians(steps, values)
    window = max(3, len(b_values) // 20)
    trend = rolling_median(b_values, window)
    best_index = int(np.argmin(trend))
    head = edge_level(values, 0.005, last=False)  # the initial loss, before the first fast drop
    tail = edge_level(values, 0.10, last=True)
    best = float(trend[best_index])
    noise = noise_sigma(values)
    resid_raw = values - np.interp(steps, b_steps, trend)
    resid = robust_sigma(resid_raw)
    progress = max(head - best, 0.0)
    magnitude = float(np.median(np.abs(values)))
    # below a millionth of the loss's magnitude differences are float rounding, not signal
    scale = max(progress, noise, resid, 1e-6 * magnitude, 1e-300)
    per_trend_point = len(values) / len(b_values) * window
    trend_noise = max(noise, resid) / np.sqrt(per_trend_point)
    return Profile(steps, values, b_steps, trend, head, best, int(b_steps[best_index]), tail, noise, resid,
                   float(np.min(values)), float(np.median(values[len(values) // 2 :])), float(trend_noise), progress,
                   scale)


def autocorrelation(values: np.ndarray, lag: int = 1) -> float:
    """Lag-k autocorrelation: near 0 for batch noise, far from 0 for structured swings."""
    x = values - np.mean(values)
    energy = float(np.dot(x, x))
    if len(x) <= lag or energy <= 0:
        return 0.0
    return float(np.dot(x[lag:], x[:-lag]) / energy)
