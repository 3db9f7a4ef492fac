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
# Cohen's d of 0.8 is the conventional "large effect": a run whose net drop is smaller than 0.8 sigmas of its
# own batch-to-batch noise has not measurably learned
LARGE_EFFECT = 0.8
SMALL_EFFECT = 0.02  # Cohen's small effect for a share of variance explained (f^2 = 0.02)
# ...and a loss with a natural zero that removed under 5% of its initial level has not practically learned either,
# however smooth the curve (a full-batch run's noise is ~0, so any drift is many sigmas): fitting only the class
# prior of a 3-class set removes ~2% (wine: ln 3 = 1.099 to 1.08). 5% is our practical-significance floor (a
# choice, not a published value), under any drop a user would call progress.
MIN_REMOVED = 0.05
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


def recovered_spikes(values: np.ndarray, level: np.ndarray, needed: np.ndarray, skip: int, window: int,
                     recover_fraction: float) -> tuple[np.ndarray, int]:
    """Peaks of upward excursions above `level` by more than `needed` that recover (the median of the next
    `window` points falls back below level + recover_fraction x height), one per event (points within 3 of
    each other), and how many points stood that high at all. The first `skip` points are never spikes."""
    n, dev = len(values), values - level
    candidate = (dev > needed) & (dev > 0)
    candidate[:skip] = False
    index = np.flatnonzero(candidate)
    if not len(index):
        return index, 0
    ahead = np.lib.stride_tricks.sliding_window_view(np.pad(values, (0, window), mode="edge"), window)
    after = np.median(ahead[np.minimum(index + 1, n)], axis=1)
    index = index[(after <= level[index] + recover_fraction * dev[index]) & (index + 2 < n)]
    if not len(index):
        return index, int(candidate.sum())
    event_id = np.concatenate([[0], np.cumsum(np.diff(index) > 3)])
    order = np.lexsort((-dev[index], event_id))
    first_of_event = np.concatenate([[True], event_id[order][1:] != event_id[order][:-1]])
    return index[order][first_of_event], int(candidate.sum())


@dataclass(frozen=True)
class Spikes:
    """Recovered upward jumps of a series above its running level (see `spikes`): loss_spikes' measurements."""

    peaks: np.ndarray  # index of each event's peak: recovered, and apart from the noise's own tail
    count: int  # how many points stood that high at all
    level: np.ndarray  # the running level: a centered rolling median
    dev: np.ndarray  # values - level
    sigmas: np.ndarray  # dev in local robust sigmas (local_sigma), floored at float rounding of the level
    floor: float  # the lowest value seen


def spikes(values: np.ndarray, window: int, min_sigmas: float, spike_ratio: float, min_height: float,
           halfway: float | None, recover_fraction: float) -> Spikes:
    """Peaks above the running level by `min_sigmas` local sigmas, by `spike_ratio` - 1 times the level above the
    floor and by `min_height`, that recover (recovered_spikes) and stand apart from the noise's tail (apart_from_tail).
    The initial descent is never a spike: points before the level first reaches `halfway` (between the initial loss
    and the best: its half-life), and at least a window or 2% of them, are skipped."""
    level = rolling_median(values, window)
    dev = values - level
    sigma = local_sigma(dev)
    floor = float(np.min(values))
    needed = np.maximum(np.maximum(min_sigmas * sigma, (spike_ratio - 1.0) * (level - floor)),
                        np.maximum(1e-6 * np.abs(level), min_height))  # a millionth of the level is float rounding
    reached = np.flatnonzero(level <= halfway) if halfway is not None else np.zeros(1, int)
    skip = max(window, int(0.02 * len(values)), int(reached[0]) if len(reached) else 0)
    peaks, count = recovered_spikes(values, level, needed, skip, window, recover_fraction)
    sigmas = dev / np.maximum(sigma, np.maximum(1e-6 * np.abs(level), 1e-300))  # float rounding: no overflow
    return Spikes(peaks[apart_from_tail(sigmas[skip:], sigmas[peaks])], count, level, dev, sigmas, floor)


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


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the swings cache holds it weakly
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
    rounding: float  # a millionth of the loss's magnitude: differences below it are float rounding, not signal
    drop_sigmas: float  # net drop (head - tail) in point-noise sigmas (an effect size; inf when noise is 0)
    removed: float  # fraction of the initial loss the run removed, (head - tail) / head; NaN without a natural 0
    late_share: float  # share of the net drop made in the last 30% of the run: ~0.3 linear, ~0 converged
    key: str  # the series' metric key, for messages

    def trend_at(self, step: float) -> float:
        """The trend's level at `step`, interpolated between its points."""
        return float(np.interp(step, self.trend_steps, self.trend))

    def raw_best(self) -> tuple[int, float]:
        """The lowest logged point within two trend buckets of the trend's best, (step, value): where a checkpoint
        was saved, unlike the trend's smoothed minimum; the trend's own best when none lies that close."""
        near = np.abs(self.steps - self.best_step) <= max(self.trend_steps[1] - self.trend_steps[0], 1) * 2
        if not near.any():
            return self.best_step, self.best
        return int(self.steps[near][np.argmin(self.values[near])]), float(np.min(self.values[near]))

    @property
    def span(self) -> int:
        """Steps from the trend's first point to its last (at least 1): the unit of a stretch's share of the run."""
        return max(int(self.trend_steps[-1] - self.trend_steps[0]), 1)

    @property
    def learned(self) -> bool:
        """The net drop is a large effect against the point noise (and above float rounding) and, with a
        natural zero, removed at least MIN_REMOVED of the initial loss."""
        return self.drop_sigmas > LARGE_EFFECT and not (self.natural_zero and self.removed < MIN_REMOVED)

    @property
    def opening(self) -> float:
        """Median of the first TAIL_FRACTION of the points, as `tail` is of the last: the start of a run whose few
        first points (`head`) one example per step scatters."""
        return edge_level(self.values, TAIL_FRACTION, last=False)

    @property
    def within_noise(self) -> bool:
        """The net drop is within LARGE_EFFECT point sigmas (not `learned`) and the first TAIL_FRACTION of the points
        does not sit SIGNIFICANT standard errors above the last (a batch-of-1 run's few initial points can hide a
        clear fall)."""
        k = edge_count(len(self.values), TAIL_FRACTION)
        fell = self.opening - self.tail > SIGNIFICANT * median_gap_se(self.noise, k, k)
        return abs(self.drop_sigmas) <= LARGE_EFFECT and not fell

    @property
    def unmoved(self) -> bool:
        """Ended where it started: with a natural zero, removed under MIN_REMOVED of its initial level (a batch-of-1
        run that removed 40% can sit within one point's noise) without a significant rise (a rise is divergence's),
        else within its noise."""
        if not self.natural_zero:
            return self.within_noise
        return self.removed < MIN_REMOVED and self.tail - self.head <= SIGNIFICANT * self.drop_se  # no real rise

    @property
    def drop_se(self) -> float:
        """Standard error of head - tail, two medians of the point noise."""
        n = len(self.values)
        return median_gap_se(self.noise, edge_count(n, HEAD_FRACTION), edge_count(n, TAIL_FRACTION))

    def thirds(self) -> tuple[float, float, float, int]:
        """Medians of the first, middle and last third of the points, and how many points the shortest holds."""
        parts = np.array_split(self.values, 3)
        return (*(float(np.median(part)) for part in parts), len(parts[2]))

    def gain_after_first_third(self) -> float:
        """How much lower the last third's median is than the first third's, as a fraction of the last: what the
        last two thirds of the run added once the first third (and any initial transient) was done."""
        first, _, last, _ = self.thirds()
        return (first - last) / max(abs(last), self.rounding, 1e-300)

    def still_falling(self, min_pace: float) -> bool:
        """The last third's median is below the middle third's by SIGNIFICANT standard errors of a median and by at
        least `min_pace` of a straight line's share of the net drop and of the middle third's own fall: a near-straight
        line, not a decelerating approach to a level. Thirds are long, so even a batch-of-1 run's levels are sharp
        where its first few points are not."""
        first, middle, last, k = self.thirds()
        fall = middle - last
        return fall > max(SIGNIFICANT * median_gap_se(self.noise, k, k), self.rounding) and \
            fall >= min_pace * max((self.head - self.tail) / 3, first - middle)

    @property
    def unmoved_margin(self) -> float:
        """How deep inside `unmoved`'s band it ended: 1 exactly where it started, 0 at the band's edge."""
        if self.natural_zero:
            return ramp(-abs(self.removed), -MIN_REMOVED, 0.0)
        return ramp(-abs(self.drop_sigmas), -LARGE_EFFECT, 0.0)

    @property
    def natural_zero(self) -> bool:
        """A loss bounded below by 0 (cross-entropy, MSE): "high" and "removed" mean something."""
        return self.floor >= 0 and self.head > 0


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
    if len(values) < min_points:
        return None
    b_steps, b_values = bucket_medians(steps, values)
    window = max(3, len(b_values) // 20)
    trend = rolling_median(b_values, window)
    best_index = int(np.argmin(trend))
    head = edge_level(values, HEAD_FRACTION, last=False)  # the initial loss, before the first fast drop
    tail = edge_level(values, TAIL_FRACTION, last=True)
    best = float(trend[best_index])
    noise = noise_sigma(values)
    resid_raw = values - np.interp(steps, b_steps, trend)
    resid = robust_sigma(resid_raw)
    progress = max(head - best, 0.0)
    rounding = 1e-6 * float(np.median(np.abs(values)))
    scale = max(progress, noise, resid, rounding, 1e-300)
    per_trend_point = len(values) / len(b_values) * window
    trend_noise = max(noise, resid) / np.sqrt(per_trend_point)
    drop = head - tail
    drop_sigmas = drop / noise if noise > 0 else (0.0 if abs(drop) <= rounding else float(np.sign(drop)) * np.inf)
    floor = float(np.min(values))
    removed = drop / head if floor >= 0 and head > 0 else float("nan")
    late_start = float(np.interp(steps[0] + (1 - LATE_FRACTION) * (steps[-1] - steps[0]), b_steps, trend))
    late_share = (late_start - tail) / drop if drop > rounding else 0.0
    return Profile(steps, values, b_steps, trend, head, best, int(b_steps[best_index]), tail, noise, resid, floor,
                   float(np.median(values[len(values) // 2 :])), float(trend_noise), progress, scale, rounding,
                   float(drop_sigmas), float(removed), float(late_share), series.key)


def last_finite(series: Series | None, until_step: int) -> float | None:
    """The last finite value of `series` at or before `until_step` (the lr in force at an event); None if none."""
    values = series.until(until_step).values if series is not None else np.zeros(0)
    return float(values[np.isfinite(values)][-1]) if np.isfinite(values).any() else None


@dataclass(frozen=True)
class Climb:
    """How a loss rose from its best to its final level (see `climb`): divergence's measurements."""

    ratio: float  # tail - best, over the progress made (Profile.scale)
    noise_sigmas: float  # tail - best in point-noise sigmas of the healthy part before the best
    noise: float  # that noise
    best_level: float  # median of as many points around the best as the final level holds (the trend's min is biased low)
    level_rise: float  # tail - best_level
    level_se: float  # standard error of level_rise (median_gap_se)
    start_step: int  # where it left the basin: the first trend point past the best a quarter of the rise above it
    points: int  # points in each level: the last TAIL_FRACTION


def climb(p: Profile, min_points: int) -> Climb:
    """The rise from the best, against the noise of the part before it (after a divergence the loss is chaotic, and
    its own noise would hide the rise; the whole run's when fewer than `min_points` lie before the best)."""
    rise, k = p.tail - p.best, edge_count(len(p.values), TAIL_FRACTION)
    before = p.values[p.steps <= p.best_step]
    noise = noise_sigma(before) if len(before) >= min_points else p.noise
    first = max(0, min(int(np.searchsorted(p.steps, p.best_step)) - k // 2, len(p.values) - k))
    best_level = float(np.median(p.values[first : first + k]))
    up = (p.trend_steps >= p.best_step) & (p.trend > p.best + 0.25 * rise)
    return Climb(rise / p.scale, in_sigmas(rise, noise, p.best), noise, best_level, p.tail - best_level,
                 median_gap_se(max(noise, 1e-300), k, k), int(p.trend_steps[np.argmax(up)]) if up.any() else p.best_step, k)


def swings_before_after(p: Profile, best_step: int, start_step: int, min_points: int) -> tuple[float, float] | None:
    """Robust sigma of the swings around the trend from the end of the initial descent (the first 10%) to
    `best_step`, and from `start_step` on; None when fewer than `min_points` lie between the first two."""
    resid, transient, best = residuals(p), len(p.values) // 10, int(np.searchsorted(p.steps, best_step))
    if best - transient < min_points:
        return None
    return robust_sigma(resid[transient:best]), robust_sigma(resid[int(np.searchsorted(p.steps, start_step)) :])


def earlier_rise(p: Profile, until_step: int) -> float:
    """The largest rise the trend made from a running minimum before `until_step` (0 for a steady descent):
    a rise the loss had already made and come back from is a swing it repeats, not a departure."""
    trend = p.trend[p.trend_steps <= until_step]
    return float(np.max(trend - np.minimum.accumulate(trend))) if len(trend) > 1 else 0.0


def flat_ends(trend: np.ndarray, tolerance: float) -> np.ndarray:
    """For each start point, the index where the trend first leaves a band of 2 * tolerance (n if never).

    Row i of the matrix holds the trend from point i on (earlier points replaced by trend[i]); running
    max/min along rows give every stretch's spread at once. n <= 400 bucketed points, so n^2 is small.
    """
    n = len(trend)
    if n > 200:  # the trend is smooth at this scale: every other point keeps the n^2 matrix small
        coarse = flat_ends(trend[::2], tolerance)
        return np.minimum(np.repeat(coarse * 2, 2)[:n], n)
    m = np.broadcast_to(trend, (n, n)).copy()
    lower = np.tril(np.ones((n, n), dtype=bool), -1)
    m[lower] = np.broadcast_to(trend[:, None], (n, n))[lower]
    spread = np.maximum.accumulate(m, axis=1) - np.minimum.accumulate(m, axis=1)
    broken = spread > 2 * tolerance
    return np.where(broken.any(axis=1), np.argmax(broken, axis=1), n)


def escaped_stall(p: Profile, band: float, min_drop: float, excluded: np.ndarray) -> tuple[int, int, float]:
    """The longest flat stretch of the trend (within `band` x progress + trend noise) that the loss later left
    by at least `min_drop` x its scale, holding to the end and for 5%+ of the run: (start, end, drop).

    A converged tail is flat too, but nothing follows it; `excluded` trend points (warmup) never start one."""
    steps, span = p.trend_steps, p.span
    ends = flat_ends(p.trend, band * p.range + p.trend_noise) - 1
    drops = np.where((steps[-1] - steps[ends]) / span >= 0.05, (p.trend - p.tail) / p.scale, 0.0)
    drops[excluded] = 0.0
    start = int(np.argmax(np.where(drops >= min_drop, steps[ends] - steps, -1)))
    return start, int(ends[start]), float(drops[start])


def window_stall(p: Profile, window: tuple[int, int]) -> tuple[int, int, float, bool]:
    """Trend indices of a step window, how far the loss fell after it (in units of p.scale) and whether
    the window reaches the run's last 5%: what a stretch of near-zero lr did to the loss."""
    steps, span = p.trend_steps, p.span
    inside = np.flatnonzero((steps >= window[0]) & (steps <= window[1]))
    if not len(inside):
        return 0, 0, 0.0, False
    drop = max((float(np.median(p.trend[inside])) - p.tail) / p.scale, 0.0)
    return int(inside[0]), int(inside[-1]), drop, (steps[-1] - window[1]) / span < 0.05


def low_window(series: Series | None, ratio: float) -> tuple[float | None, tuple[int, int] | None]:
    """Final value over its peak, and the longest window of steps spent at or below `ratio` x peak.

    For a learning rate: cosine and linear schedules reach ~0 only in their last few percent; a decay that
    is too fast, or a scheduler bug that zeroes the lr mid-run, sits near 0 for a long window.
    """
    if series is None or series.finite_count < 3:
        return None, None
    steps, values = series.steps[series.finite], series.values[series.finite]
    peak = float(np.max(values))
    if peak <= 0:
        return None, None
    low = np.concatenate([[False], values <= ratio * peak, [False]]).astype(np.int8)
    starts, stops = np.flatnonzero(np.diff(low) == 1), np.flatnonzero(np.diff(low) == -1) - 1
    if not len(starts):
        return float(values[-1] / peak), None
    longest = int(np.argmax(steps[stops] - steps[starts]))
    return float(values[-1] / peak), (int(steps[starts[longest]]), int(steps[stops[longest]]))


def ramping_up(series: Series | None, at_steps: np.ndarray) -> np.ndarray:
    """Steps before `series` (an lr) first reached its peak while it was below half of it: warmup."""
    if series is None or series.finite_count < 3:
        return np.zeros(len(at_steps), dtype=bool)
    steps, values = series.steps[series.finite], series.values[series.finite]
    at = np.interp(at_steps, steps, values)
    return (at_steps < steps[int(np.argmax(values))]) & (at < 0.5 * np.max(values))


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


def residuals(p: Profile) -> np.ndarray:
    """Each value minus the rolling-median trend at its step: the swings and noise around the trend."""
    return p.values - np.interp(p.steps, p.trend_steps, p.trend)


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


@dataclass(frozen=True)
class Swings:
    """Up-down swings of a loss around its trend through the second half of the run (see `swings`); the
    field names are the oscillation finding's evidence keys."""

    swing: float  # sigma of the values around the rolling-median trend: the MAD's or the interdecile range's, the larger
    net_progress_after_transient: float  # median of 10-30% of the run minus the final level, at most head - tail
    relative_swing: float  # swing over the late level's distance from the lowest value seen (shift-free "large")
    persistence_ratio: float  # swing in the last quarter over the swing in the second quarter
    swing_autocorrelation: float  # lag-1, winsorized at 3 swings (a burst of spikes cannot pose as structure)
    period_points: float  # dominant period, in logged points
    periodicity_g: float  # Fisher's g of that period
    periodic: bool  # g significant at 1% against white noise, with 10+ cycles
    burst_fraction: float  # share of points beyond 3 robust sigmas (0.27% for Gaussian noise)
    swing_min: float
    swing_max: float

    @property
    def swing_to_progress(self) -> float:
        """The swing over the net progress after the transient; inf without progress (evidence shows "inf", not 1e+299)."""
        gained = self.net_progress_after_transient
        return self.swing / gained if gained > 0 else float("inf")

    def mechanism(self, min_bounce: float, max_short_period: float, min_bursts: float, optimizer: str) -> str:
        """The known mechanism whose signature the swings match (see detectors/oscillation.py): edge_of_stability,
        bursty or slow_ringing. Bursts alone do not tell GD's catapults far past the stability limit from an adaptive
        optimizer's: the logged `optimizer` does."""
        if self.swing_autocorrelation <= -min_bounce or self.period_points <= max_short_period:
            return "edge_of_stability"
        if self.burst_fraction >= min_bursts:
            return "edge_of_stability" if optimizer.startswith(("sgd", "momentum", "nesterov")) else "bursty"
        return "slow_ringing"


_SWINGS: weakref.WeakKeyDictionary[Profile, dict[float | None, Swings]] = weakref.WeakKeyDictionary()


def swings(p: Profile, cycle_steps: float | None = None) -> Swings:
    """Swings around the trend; under a cyclic lr (`cycle_steps`, see lr_cycle) the swing and the progress are
    measured between equal phases of the first and last cycles instead (cycle_progress). Measured once per profile:
    oscillation and noisy_small_batch both read them."""
    measured = _SWINGS.setdefault(p, {})
    if cycle_steps not in measured:
        measured[cycle_steps] = _swings(p, cycle_steps)
    return measured[cycle_steps]


def _swings(p: Profile, cycle_steps: float | None) -> Swings:
    n = len(p.values)
    resid = residuals(p)
    late = resid[n // 2 :]
    sigma = robust_sigma(late)  # outliers are judged against the MAD; the swing also counts bursts (interdecile)
    swing = max(sigma, interdecile_sigma(late))
    progress = float(np.median(p.values[n // 10 : max(3 * n // 10, n // 10 + 1)])) - p.tail
    clipped = np.clip(late, np.median(late) - 3 * sigma, np.median(late) + 3 * sigma)
    period, g, periodic = periodicity(late, sigma)
    # the trend is a rolling median over ~5% of the run: a slower period is drift it only partly removed
    # (red noise, which always wins a white-noise test at the lowest frequencies), so 10+ cycles are needed
    periodic = periodic and period <= len(late) / 10
    if cycle_steps is not None:
        progress, swing = cycle_progress(p, cycle_steps)
    # never more than the run's own net drop: a loss that first rose (a cyclic peak, a bad start) and came back
    # made no progress
    return Swings(swing, max(min(progress, p.head - p.tail), 0.0), swing / max(p.late_level - p.floor, 1e-300),
                  robust_sigma(resid[3 * n // 4 :]) / max(robust_sigma(resid[n // 4 : n // 2]), 1e-300),
                  autocorrelation(clipped), period, g, periodic, burst_fraction(late, sigma),
                  float(np.min(p.values[n // 2 :])), float(np.max(p.values[n // 2 :])))


def lr_cycle(lr: Series | None) -> float | None:
    """Period, in steps, of a cyclic lr schedule (triangular, SGDR restarts): a periodicity significant by
    Fisher's g, repeating 3+ times, spanning 2x or more. None for constant, decaying or warmup schedules."""
    if lr is None or lr.finite_count < 16:
        return None
    steps, values = lr.steps[lr.finite], lr.values[lr.finite]
    period, _, significant = periodicity(values)
    if not significant or period > len(values) / 3 or values.max() < 2 * values.min():
        return None
    return period * float(np.median(np.diff(steps)))


def phase_locked(steps: np.ndarray, period_steps: float, alpha: float = 0.01) -> bool:
    """Whether events at `steps` recur at one phase of a cycle of `period_steps` (a cyclic lr's): one angle per
    cycle that has any (a burst is one event), 3+ cycles, concentrated beyond Rayleigh's test at `alpha` (Zar's
    approximation, p = exp(sqrt(1 + 4n + 4(n^2 - R^2)) - (1 + 2n)) for R the resultant of n unit vectors)."""
    steps = np.asarray(steps, dtype=np.float64)
    cycles = np.unique(np.floor(steps / period_steps), return_inverse=True)[1]
    angles = 2 * np.pi * (steps % period_steps) / period_steps
    per_cycle = np.bincount(cycles, np.cos(angles)) + 1j * np.bincount(cycles, np.sin(angles))
    n = len(per_cycle)
    resultant = float(np.abs(np.sum(per_cycle / np.maximum(np.abs(per_cycle), 1e-300))))
    return n >= 3 and float(np.exp(np.sqrt(1 + 4 * n + 4 * (n * n - resultant**2)) - (1 + 2 * n))) < alpha


def cycle_progress(p: Profile, period_steps: float) -> tuple[float, float]:
    """Median loss over the first full cycle minus that over the last (progress between equal phases of a
    cyclic schedule), and the sigma of the loss within the last cycle from its interdecile range (2.563 sigma for a
    normal, see interdecile_sigma): the schedule drives the loss up for part of every cycle."""
    first = p.values[p.steps <= p.steps[0] + period_steps]
    last = p.values[p.steps >= p.steps[-1] - period_steps]
    return float(np.median(first) - np.median(last)), interdecile_sigma(last)


def interdecile_sigma(values: np.ndarray) -> float:
    """Sigma from the interdecile range (2.563 sigma for a normal): unlike the MAD, which sets up to half the points
    aside, it keeps swings that fill 10-50% of them (bursts, a cyclic schedule's peaks) and still ignores sparse spikes."""
    return float(np.subtract(*np.percentile(values, [90, 10]))) / 2.563 if len(values) else 0.0

