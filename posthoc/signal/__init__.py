"""Shared, scale-free statistics of metric series: robust trend, noise, levels, resampling.

Every function is vectorized (no per-point Python loops) and works on the finite part of a series before
its first non-finite value, so a NaN tail is reported once (by nan_inf) and never read as a shape.
Scales are measured from the series itself (initial-to-best range, robust noise), never by dividing by
the loss value, so cross-entropy near 2.3, MSE in the thousands and negative log-likelihoods all work.

One module per job: stats (arrays and constants), shape (Profile), swing, spike and stall (what oscillation,
loss_spikes and plateau measure on it). Everything public is importable from posthoc.signal.
"""

from posthoc.signal.shape import (
    Climb,
    Profile,
    climb,
    earlier_rise,
    profile,
    residuals,
    swings_before_after,
)
from posthoc.signal.spike import (
    Spikes,
    recovered_spikes,
    spikes,
)
from posthoc.signal.stall import (
    escaped_stall,
    flat_ends,
    low_window,
    ramping_up,
    window_stall,
)
from posthoc.signal.stats import (
    HEAD_FRACTION,
    LARGE_EFFECT,
    LATE_FRACTION,
    MAD_TO_SIGMA,
    MAX_POINTS,
    MEDIAN_SE,
    MIN_REMOVED,
    SIGNIFICANT,
    SMALL_EFFECT,
    TAIL_FRACTION,
    apart_from_tail,
    autocorrelation,
    autocorrelation_bound,
    bucket_extremes,
    bucket_medians,
    burst_fraction,
    edge_count,
    edge_level,
    finite_prefix,
    first_nonfinite,
    first_step_below,
    growth_before,
    in_sigmas,
    interdecile_sigma,
    last_finite,
    late_period,
    local_sigma,
    log_level,
    median_gap_se,
    noise_sigma,
    periodicity,
    quantile_skewness,
    ramp,
    robust_sigma,
    rolling_median,
)
from posthoc.signal.swing import (
    Swings,
    cycle_progress,
    lr_cycle,
    phase_locked,
    swings,
)

__all__ = [
    "Climb", "HEAD_FRACTION", "LARGE_EFFECT", "LATE_FRACTION", "MAD_TO_SIGMA", "MAX_POINTS", "MEDIAN_SE",
    "MIN_REMOVED", "Profile", "SIGNIFICANT", "SMALL_EFFECT", "Spikes", "Swings", "TAIL_FRACTION", "apart_from_tail",
    "autocorrelation", "autocorrelation_bound", "bucket_extremes", "bucket_medians", "burst_fraction", "climb",
    "cycle_progress", "earlier_rise", "edge_count", "edge_level", "escaped_stall", "finite_prefix",
    "first_nonfinite", "first_step_below", "flat_ends", "growth_before", "in_sigmas", "interdecile_sigma",
    "last_finite", "late_period", "local_sigma", "log_level", "low_window", "lr_cycle", "median_gap_se",
    "noise_sigma", "periodicity", "phase_locked", "profile", "quantile_skewness", "ramp", "ramping_up",
    "recovered_spikes", "residuals", "robust_sigma", "rolling_median", "spikes", "swings", "swings_before_after",
    "window_stall"
]
