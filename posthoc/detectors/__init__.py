"""Every detector, in one literal tuple: adding a pattern means one module and one line here."""

from posthoc.detectors import (
    divergence,
    exploding_gradients,
    loss_spikes,
    nan_inf,
    noisy_small_batch,
    oscillation,
    overfitting,
    plateau,
    underfitting,
    vanishing_gradients,
)

DETECTORS = (
    nan_inf,
    exploding_gradients,
    divergence,
    oscillation,
    loss_spikes,
    plateau,
    vanishing_gradients,
    overfitting,
    underfitting,
    noisy_small_batch,
)
