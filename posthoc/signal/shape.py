"""The shape of a loss-like series (Profile), measured once per series and shared by the detectors, and the
measurements built on it: residuals around the trend, the climb from the best, swings before and after it."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from posthoc.model import Series
from posthoc.signal.stats import (
    HEAD_FRACTION,
    LARGE_EFFECT,
    LATE_FRACTION,
    MIN_REMOVED,
    SIGNIFICANT,
    TAIL_FRACTION,
    bucket_medians,
    edge_count,
    edge_level,
    finite_prefix,
    in_sigmas,
    median_gap_se,
    noise_sigma,
    ramp,
    robust_sigma,
    rolling_median,
)


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
        """The net drop, up or down, is within LARGE_EFFECT point sigmas and the first TAIL_FRACTION of the points
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

    def falls_straight(self) -> bool:
        """The last third fell as far as the middle third did, within SIGNIFICANT standard errors of the difference
        (first - 2 middle + last, sqrt(3) median gaps): no deceleration, so no level in sight."""
        first, middle, last, k = self.thirds()
        return first - 2 * middle + last <= SIGNIFICANT * np.sqrt(3) * median_gap_se(self.noise, k, k)

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


def residuals(p: Profile) -> np.ndarray:
    """Each value minus the rolling-median trend at its step: the swings and noise around the trend."""
    return p.values - np.interp(p.steps, p.trend_steps, p.trend)


@dataclass(frozen=True)
class Climb:
    """How a loss rose from its best to its final level (see `climb`): divergence's measurements."""

    ratio: float  # tail - best, over the progress made (Profile.scale)
    noise_sigmas: float  # tail - best in point-noise sigmas of the healthy part before the best
    noise: float  # that noise
    best_level: float  # median of as many points around the best as the final level holds (the trend's min: biased low)
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
    start_step = int(p.trend_steps[np.argmax(up)]) if up.any() else p.best_step
    return Climb(rise / p.scale, in_sigmas(rise, noise, p.best), noise, best_level, p.tail - best_level,
                 median_gap_se(max(noise, 1e-300), k, k), start_step, k)


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
