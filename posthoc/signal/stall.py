"""Flat stretches of a loss trend and the lr windows that explain them: plateau's measurements."""

from __future__ import annotations

import numpy as np

from posthoc.model import Series
from posthoc.signal.shape import Profile


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
