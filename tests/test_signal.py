"""Signal helpers on small hand-made inputs: scale-free, robust to outliers, no per-point loops."""

import numpy as np

from posthoc.model import Series
from posthoc.signal import (
    autocorrelation,
    bucket_medians,
    burst_fraction,
    finite_prefix,
    lr_cycle,
    noise_sigma,
    periodicity,
    phase_locked,
    profile,
    quantile_skewness,
    rolling_median,
)


def series(values, steps=None) -> Series:
    steps = np.arange(len(values)) if steps is None else np.asarray(steps)
    return Series("loss", steps, np.asarray(values, dtype=float), steps)


def test_finite_prefix_stops_at_the_first_non_finite_value():
    steps, values = finite_prefix(series([3.0, 2.0, np.nan, 1.0]))
    assert steps.tolist() == [0, 1] and values.tolist() == [3.0, 2.0]


def test_rolling_median_ignores_a_single_outlier():
    values = np.ones(21)
    values[10] = 100.0
    assert np.allclose(rolling_median(values, 5), 1.0)


def test_bucket_medians_reduce_long_series_to_the_cap():
    steps, values = bucket_medians(np.arange(10_000), np.arange(10_000, dtype=float), max_points=400)
    assert len(values) <= 400 and steps[0] == 0 and values[0] == np.median(np.arange(25))


def test_noise_sigma_is_insensitive_to_a_slow_trend():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, 5000)
    assert abs(noise_sigma(noise + np.linspace(10, 0, 5000)) - 0.1) < 0.01


def test_profile_is_shift_and_scale_free():
    rng = np.random.default_rng(1)
    curve = 2.0 * np.exp(-np.arange(500) / 60) + 0.1 + rng.normal(0, 0.02, 500)
    a, b = profile(series(curve)), profile(series(1000 * curve - 5000))  # MSE-like scale, NLL-like shift
    assert abs(a.range / a.scale - b.range / b.scale) < 1e-9
    assert abs((a.tail - a.best) / a.scale - (b.tail - b.best) / b.scale) < 1e-9
    assert a.best_step == b.best_step


def test_quantile_skewness_tells_a_few_examples_from_a_large_batch():
    # the mean of B exponential per-example losses: skewed for 1-2 examples, near-symmetric for 16 (CLT)
    rng = np.random.default_rng(3)
    one, two, sixteen = (rng.gamma(b, 1 / b, 20_000) for b in (1, 2, 16))
    assert abs(quantile_skewness(rng.normal(size=20_000))) < 0.05
    assert quantile_skewness(one) > quantile_skewness(two) > 1 / 3 > 0.2 > quantile_skewness(sixteen)
    assert abs(quantile_skewness(1000 * one - 5) - quantile_skewness(one)) < 1e-9  # shift- and scale-free
    assert quantile_skewness(np.ones(10)) == 0.0


def test_autocorrelation_tells_structured_swings_from_noise():
    rng = np.random.default_rng(2)
    assert abs(autocorrelation(rng.normal(size=2000))) < 0.1
    assert autocorrelation(np.tile([1.0, -1.0], 500)) < -0.9  # bouncing every step
    assert autocorrelation(np.sin(np.arange(1000) / 10)) > 0.9  # slow waves


def test_fisher_g_finds_a_period_in_noise_and_none_in_white_noise():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=600)
    wave = np.sin(2 * np.pi * np.arange(600) / 40) + 0.5 * noise
    period, g, significant = periodicity(wave)
    assert abs(period - 40) < 2 and significant
    assert not periodicity(noise)[2] and periodicity(np.zeros(50)) == (float("inf"), 0.0, False)


def test_bursts_are_counted_beyond_3_robust_sigmas():
    rng = np.random.default_rng(4)
    calm = rng.normal(size=2000)
    assert burst_fraction(calm) < 0.01
    calm[::10] += 20.0  # one point in ten bursts
    assert 0.09 <= burst_fraction(calm) <= 0.11


def test_a_cyclic_lr_has_a_period_and_a_cosine_decay_has_none():
    steps = np.arange(1000)
    triangle = 0.1 + 0.9 * np.abs((steps / 50.0) % 2.0 - 1.0)
    assert abs(lr_cycle(series(triangle)) - 100) <= 2
    assert lr_cycle(series(0.5 * (1 + np.cos(np.pi * steps / 999)))) is None
    assert lr_cycle(series(np.full(1000, 0.1))) is None and lr_cycle(None) is None


def test_a_constant_loss_never_learned_and_a_zero_noise_drop_did():
    flat = profile(series(np.full(300, 2.3)))
    assert flat.drop_sigmas == 0 and not flat.learned
    falling = profile(series(np.linspace(2.3, 1.0, 300)))  # noise-free: the drop is infinitely many sigmas
    assert falling.learned and falling.removed == (falling.head - falling.tail) / falling.head
    assert falling.late_share > 0.15  # a straight descent never bent toward convergence


def test_profile_reads_a_finite_climb_to_1e305():
    p = profile(series(np.logspace(0, 305, 200)))
    assert p is not None and p.tail > 1e290 and p.best < 10


def test_phase_locked_events_recur_at_one_phase_of_the_cycle():
    locked = np.array([204, 463, 478, 1003, 1010, 1018, 1033, 1292, 1825, 1843])  # near step 200 of each 272
    assert phase_locked(locked, 272.5)
    assert not phase_locked(locked, 190.0)  # the same events against another period scatter
    assert not phase_locked(np.array([5, 255, 505]), 250.0)  # three cycles cannot reach 1% whatever the phase
    rng = np.random.default_rng(0)
    chance = np.mean([phase_locked(np.sort(rng.integers(0, 2000, 8)), 250.0) for _ in range(500)])
    assert chance <= 0.02  # random events pass about as often as the test's 1% level
