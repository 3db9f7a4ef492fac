"""Scale-free statistics of one series or array: finite prefix, bucketing, robust sigma, noise, edge levels,
periodicity and autocorrelation; the constants every shape statistic shares."""

from __future__ import annotations

import numpy as np

from posthoc.model import Series

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample times this estimates its standard deviation
# Cohen's d of 0.8 is the conventional "large effect": a run whose net drop is smaller than 0.8 sigmas of its
# own batch-to-batch noise has not measurably learned
LARGE_EFFECT = 0.8
SMALL_EFFECT = 0.02  # Cohen's small effect for a share of variance explained (f^2 = 0.02)
# ...and a loss with a natural zero that removed under 10% of its initial level has not practically learned either,
# however smooth the curve (a full-batch run's noise is ~0, so any drift is many sigmas): fitting only the class
# prior removes ~2% of a 3-class set's ln 3 (wine: 1.099 to 1.08) and ~6% of a 65/35 binary set's ln 2 (0.693 to
# 0.647), and an lr far too small can take a first 6-10% off and stall. 10% is our practical-significance floor (a
# choice, not a published value): under it, fine-tuning from a near-optimum is the known false positive.
MIN_REMOVED = 0.10
HEAD_FRACTION = 0.005  # Profile.head: the median of this first fraction of the points (the loss before it drops)
TAIL_FRACTION = 0.10  # Profile.tail: the median of this last fraction of the points
# the median of k normal points has standard error sqrt(pi / 2) * sigma / sqrt(k) (its asymptotic efficiency 2/pi)
MEDIAN_SE = float(np.sqrt(np.pi / 2))
SIGNIFICANT = 2.0  # a difference beyond 2 standard errors: two-sided p < 0.05
MAX_POINTS = 400  # long series are reduced to this many bucket medians before shape statistics
LATE_FRACTION = 0.3  # Profile.late_share: the share of the net drop made in this last fraction of the run


def finite_prefix(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values before the first non-finite value."""
    bad = np.flatnonzero(~np.isfinite(series.values))
    end = int(bad[0]) if len(bad) else len(series.values)
    return series.steps[:end].astype(np.int64), series.values[:end].astype(np.float64)


def first_nonfinite(series: Series) -> int | None:
    """Index of the first NaN or ±Inf value; None when every value is finite."""
    return int(np.argmin(series.finite)) if not series.finite.all() else None


def growth_before(series: Series, step: int, points: int) -> float | None:
    """How far the last finite value before `step` stands above the median of the `points` before it (their
    magnitudes): 10x after a steady climb, ~1 for a sudden break; None with under 3 points or a zero median."""
    values = series.until(step).values
    values = values[np.isfinite(values)][-points:]
    if len(values) < 3 or np.median(np.abs(values)) == 0:
        return None
    return float(values[-1] / np.median(np.abs(values)))


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


def interdecile_sigma(values: np.ndarray) -> float:
    """Sigma from the interdecile range (2.563 sigma for a normal): unlike the MAD, which sets up to half the points
    aside, it keeps swings that fill 10-50% of them (bursts, a cyclic schedule's peaks), yet ignores sparse spikes."""
    return float(np.subtract(*np.percentile(values, [90, 10]))) / 2.563 if len(values) else 0.0


def local_sigma(values: np.ndarray, buckets: int = 50) -> np.ndarray:
    """Robust sigma around each point: the MAD of `values` (deviations from a trend) over ~6% of the series
    (3 of `buckets` equal-count buckets). Minibatch noise shrinks with the loss, so one global sigma, set by
    the converged end, turns every ordinary jump of the early descent into dozens of sigmas."""
    if len(values) < 4:
        return np.full(len(values), robust_sigma(values))
    index = np.arange(len(values))
    b_index, b_mad = bucket_medians(index, np.abs(values - np.median(values)), buckets)
    return MAD_TO_SIGMA * np.interp(index, b_index, rolling_median(b_mad, 3))


def noise_sigma(values: np.ndarray) -> float:
    """Point-to-point noise: robust sigma of first differences / sqrt(2); insensitive to slow trends."""
    if len(values) < 4:
        return 0.0
    return robust_sigma(np.diff(values)) / float(np.sqrt(2.0))


def log_level(series: Series, window_fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Finite prefix (steps, values) and the running median of log10|value| on the bucketed grid (steps,
    level): orders of magnitude, for norms whose scale depends on the loss and the model."""
    steps, values = finite_prefix(series)
    b_steps, b_logs = bucket_medians(steps, np.log10(np.maximum(np.abs(values), 1e-30)))
    return steps, values, b_steps, rolling_median(b_logs, max(3, int(window_fraction * len(b_logs))))


def first_step_below(steps: np.ndarray, values: np.ndarray, bound: float, default: int) -> int:
    """The first of `steps` whose value is at or below `bound`; `default` when none is."""
    below = np.flatnonzero(values <= bound)
    return int(steps[below[0]]) if len(below) else default


def apart_from_tail(scores: np.ndarray, heights: np.ndarray, max_ratio: float = 3.0) -> np.ndarray:
    """Whether each height stands apart from the tail of `scores` (same units): halving the bar at most
    `max_ratio`-folds the points above it. A finite-variance noise's tail falls at least as fast as x^-2
    (Chebyshev), so halving the bar multiplies its count by 4 or more: fewer means a population of its own."""
    ordered = np.sort(scores)
    beyond = len(ordered) - np.searchsorted(ordered, heights, side="left")
    beyond_half = len(ordered) - np.searchsorted(ordered, heights / 2, side="right")
    return beyond_half <= max_ratio * beyond


def in_sigmas(x: float, noise: float, magnitude: float) -> float:
    """`x` in noise sigmas, the noise floored at a millionth of `magnitude` (float rounding): a noiseless loss
    gives a large but finite ratio."""
    return x / max(noise, 1e-6 * abs(magnitude), 1e-300)


def edge_count(n: int, fraction: float, min_points: int = 3) -> int:
    """How many points an edge level takes: `fraction` of `n`, at least `min_points`."""
    return max(min_points, int(np.ceil(fraction * n)))


def median_gap_se(sigma: float, *counts: int) -> float:
    """Standard error of a difference of medians, each of `counts` points with noise `sigma` (MEDIAN_SE)."""
    return MEDIAN_SE * sigma * float(np.sqrt(sum(1 / max(k, 1) for k in counts)))


def edge_level(values: np.ndarray, fraction: float, last: bool, min_points: int = 3) -> float:
    """Median of the first (or last) `fraction` of the points, at least `min_points` of them."""
    k = edge_count(len(values), fraction, min_points)
    part = values[-k:] if last else values[:k]
    return float(np.median(part)) if len(part) else float("nan")


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at `lo`, 1 at `hi`, linear between: turns a margin over a threshold into confidence."""
    if not np.isfinite(x):
        return 1.0 if x > 0 else 0.0
    return float(min(max((x - lo) / (hi - lo), 0.0), 1.0)) if hi != lo else float(x >= hi)


def last_finite(series: Series | None, until_step: int) -> float | None:
    """The last finite value of `series` at or before `until_step` (the lr in force at an event); None if none."""
    values = series.until(until_step).values if series is not None else np.zeros(0)
    return float(values[np.isfinite(values)][-1]) if np.isfinite(values).any() else None


def periodicity(values: np.ndarray, sigma: float | None = None) -> tuple[float, float, bool]:
    """Dominant period (in points), Fisher's g (the periodogram peak's share of all power) and whether g is
    significant at 1% against white noise: P(g > x) ~ m(1 - x)^(m - 1) for m frequencies (Fisher 1929), and a
    small effect at least (g >= 0.02, Cohen's f^2 = 0.02): on a long series the test alone finds periods too
    faint to see, such as the tilt toward the Nyquist frequency of batch noise drawn without replacement.

    Winsorized at 4 robust sigmas (`sigma`, when already measured) first, so one spike is not read as a period."""
    sigma = robust_sigma(values) if sigma is None else sigma
    x = np.clip(values, np.median(values) - 4 * sigma, np.median(values) + 4 * sigma) if sigma > 0 else values
    if len(x) < 8:
        return float("inf"), 0.0, False
    x = x / max(float(np.max(np.abs(x))), 1e-300)  # squares of 1e200 overflow
    power = np.abs(np.fft.rfft(x - np.mean(x)))[1:] ** 2
    total = float(np.sum(power))
    if total <= 0:
        return float("inf"), 0.0, False
    peak, m = int(np.argmax(power)), len(power)
    g = float(power[peak] / total)
    return len(x) / (peak + 1), g, g > max(1 - (0.01 / m) ** (1 / max(m - 1, 1)), SMALL_EFFECT)


def quantile_skewness(values: np.ndarray, tail: float = 0.05) -> float:
    """Hinkley's (1975) quantile skewness: how much farther the upper `tail` quantile stands from the median
    than the lower one, in (-1, 1); 0 for symmetric noise, 1/3 when the upper tail is twice the lower."""
    if len(values) < 3:
        return 0.0
    low, mid, high = np.quantile(values, [tail, 0.5, 1 - tail])
    return float((high + low - 2 * mid) / (high - low)) if high > low else 0.0


def burst_fraction(values: np.ndarray, sigma: float | None = None) -> float:
    """Share of points more than 3 robust sigmas from the median: 0.27% for Gaussian noise, more in bursts."""
    sigma = robust_sigma(values) if sigma is None else sigma
    return float(np.mean(np.abs(values - np.median(values)) > 3 * sigma)) if sigma > 0 else 0.0


def autocorrelation(values: np.ndarray, lag: int = 1) -> float:
    """Lag-k autocorrelation: near 0 for batch noise, far from 0 for structured swings."""
    x = values / max(float(np.max(np.abs(values))), 1e-300) if len(values) else values  # sums of 1e305 overflow
    x = x - np.mean(x)
    energy = float(np.dot(x, x))
    if len(x) <= lag or energy <= 0:
        return 0.0
    return float(np.dot(x[lag:], x[:-lag]) / energy)


def late_period(series: Series | None, min_points: int) -> float | None:
    """Dominant period, in points, of the second half of a series' finite values (a grad norm's rhythm); None when
    it has fewer than `min_points` of them."""
    if series is None or series.finite_count < min_points:
        return None
    return periodicity(series.values[series.finite][series.finite_count // 2 :])[0]


def autocorrelation_bound(points: int, z: float = 2.576) -> float:
    """The lag-1 autocorrelation white noise exceeds with two-sided probability 1% (z = 2.576): its standard
    error is 1/sqrt(n) (Bartlett 1946), so larger |r| is structure, not chance."""
    return z / np.sqrt(max(points, 1))
