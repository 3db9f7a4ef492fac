"""Isolated upward jumps of a series above its running level that recover: loss_spikes' measurements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.signal.stats import apart_from_tail, local_sigma, rolling_median


def event_ids(index: np.ndarray) -> np.ndarray:
    """Which event each of the sorted point indexes belongs to: points within 3 of each other are one event."""
    return np.concatenate([[0], np.cumsum(np.diff(index) > 3)])


def recovered_spikes(values: np.ndarray, level: np.ndarray, needed: np.ndarray, skip: int, window: int,
                     recover_fraction: float) -> tuple[np.ndarray, int]:
    """Peaks of upward excursions above `level` by more than `needed` that recover (the median of the next
    `window` points falls back below level + recover_fraction x height), one per event (points within 3 of
    each other), and how many such events stood that high at all: one bad batch can hold the loss up for a few points,
    batch noise crosses the bar one point at a time. The first `skip` points are never spikes."""
    n, dev = len(values), values - level
    candidate = (dev > needed) & (dev > 0)
    candidate[:skip] = False
    index = np.flatnonzero(candidate)
    if not len(index):
        return index, 0
    events = int(event_ids(index)[-1]) + 1
    ahead = np.lib.stride_tricks.sliding_window_view(np.pad(values, (0, window), mode="edge"), window)
    after = np.median(ahead[np.minimum(index + 1, n)], axis=1)
    index = index[(after <= level[index] + recover_fraction * dev[index]) & (index + 2 < n)]
    if not len(index):
        return index, events
    event_id = event_ids(index)
    order = np.lexsort((-dev[index], event_id))
    first_of_event = np.concatenate([[True], event_id[order][1:] != event_id[order][:-1]])
    return index[order][first_of_event], events


@dataclass(frozen=True)
class Spikes:
    """Recovered upward jumps of a series above its running level (see `spikes`): loss_spikes' measurements."""

    peaks: np.ndarray  # index of each event's peak: recovered, and apart from the noise's own tail
    count: int  # how many events (points within 3 of each other) stood that high at all
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
