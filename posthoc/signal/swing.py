"""Up-down swings of a loss around its trend, and the cyclic lr schedules that drive them: oscillation's (and
noisy_small_batch's) measurements."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from posthoc.model import Series
from posthoc.signal.shape import Profile, residuals
from posthoc.signal.stats import autocorrelation, burst_fraction, interdecile_sigma, periodicity, robust_sigma


@dataclass(frozen=True)
class Swings:
    """Up-down swings of a loss around its trend through the second half of the run (see `swings`); the
    field names are the oscillation finding's evidence keys."""

    swing: float  # sigma of the values around the rolling-median trend: the larger of the MAD's and interdecile's
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
        """The swing over the net progress after the transient; inf without progress (evidence: "inf", not 1e+299)."""
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
    swing = spread(late)
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
                  spread(resid[3 * n // 4 :]) / max(spread(resid[n // 4 : n // 2]), 1e-300),
                  autocorrelation(clipped), period, g, periodic, burst_fraction(late, sigma),
                  float(np.min(p.values[n // 2 :])), float(np.max(p.values[n // 2 :])))


def spread(resid: np.ndarray) -> float:
    """A swing's sigma: the larger of the MAD's and the interdecile range's, so that bursts filling 10-50% of the
    points count (the MAD alone reads a quarter of quiet steps between bursts as no swing at all)."""
    return max(robust_sigma(resid), interdecile_sigma(resid))


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
