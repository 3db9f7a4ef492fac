from dataclasses import replace

import numpy as np
import pytest

from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding

JUMP = 150
BASE = TrainConfig(dataset="digits", depth=1, hidden=32, optimizer="adam", lr=2e-3, steps=300, val_every=10)


def test_lr_jump_mid_run_diverges_from_its_best(analyze):
    d = analyze("jump", replace(BASE, lr_jump_step=JUMP, lr_jump_factor=60.0))
    f = finding(d, "divergence")
    assert f is not None and d.status == "failed"
    assert f.evidence["best_step"] <= JUMP + 10  # the best was reached before the lr jumped
    assert f.evidence["final_value"] > f.evidence["best_value"]
    assert f.evidence["rise_ratio"] >= 0.5 and f.step_start >= JUMP - 20
    # the lr chart shows the 60x jump: the advice cites it instead of lowering the base lr
    assert f.suggestions[0].startswith(f"the logged lr jumped 60x at step {JUMP} (0.002 → 0.12)")


def test_same_run_without_the_jump_does_not_diverge(analyze):
    d = analyze("steady", BASE)
    assert finding(d, "divergence") is None and d.status != "failed"


@pytest.mark.parametrize("seed", [0, 3])
def test_a_loss_that_ends_several_times_its_best_diverged_though_its_rise_is_small_next_to_the_initial_drop(analyze, seed):
    """Adam on digits, lr x45 at step 280: the loss climbs from ~0.03 to 4-6x that and stays (a few % of the
    drop from 2.8, far below the 25% bar), while val loss climbs too; read as healthy or spikes before."""
    config = TrainConfig(dataset="digits", depth=2, hidden=64, optimizer="adam", lr=1.2e-3, batch_size=64, steps=700,
                         lr_jump_step=280, lr_jump_factor=45.0, seed=seed, val_every=25)
    d = analyze(f"jump-small-rise-{seed}", config)
    f = finding(d, "divergence")
    assert d.primary == "divergence" and f.evidence["rise_ratio"] < 0.25
    assert f.evidence["final_value"] >= 2 * f.evidence["best_value"] and f.evidence["best_step"] <= 300


def test_swings_born_with_an_lr_jump_are_its_symptom_not_an_oscillation(analyze):
    """Adam on a tanh net, lr x67 at step 757: the loss leaves its best 0.23 for ~0.63 and swings there 3x as widely
    as before the jump. The swings span a good part of the rise, but they began with it (was: oscillation)."""
    config = TrainConfig(dataset="synthetic", depth=2, hidden=64, activation="tanh", optimizer="adam",
                         lr=0.0015298496337293522, batch_size=64, steps=1340, lr_jump_step=757,
                         lr_jump_factor=66.95324454839074, seed=4113000348, val_every=50, log_val=False)
    d = analyze("jump-born-swings", config)
    f = finding(d, "divergence")
    assert d.primary == "divergence" and finding(d, "oscillation") is None
    assert f.evidence["swings_born_with_rise"] and f.evidence["swing_after_rise"] >= 2 * f.evidence["swing_before_best"]
    assert f.evidence["earlier_rise"] < f.evidence["final_value"] - f.evidence["best_level"]


def test_a_loss_without_a_natural_zero_diverged_when_it_rose_and_its_swings_grew_at_once(analyze):
    """Adam on digits, lr x48 at step 251, the loss logged shifted by -5 (no natural zero: 'twice the best' means
    nothing). The level rises 40+ standard errors above the one around its best and the swings around it grow
    4x at the same point: a new regime (was: loss_spikes, its worst batches read as isolated spikes)."""
    config = TrainConfig(dataset="digits", depth=2, hidden=32, optimizer="adam", lr=0.00175503175884765, batch_size=64,
                         steps=730, lr_jump_step=251, lr_jump_factor=47.74437986456924, seed=4113000216, val_every=50,
                         loss_offset=-5.0)
    d = analyze("jump-offset-loss", config)
    f = finding(d, "divergence")
    assert d.primary == "divergence" and f.evidence["swings_born_with_rise"]
    assert f.evidence["best_level"] < f.evidence["final_value"] < 0  # below zero: the doubling test does not apply


def test_ringing_that_rose_as_much_before_its_best_is_oscillation(analyze):
    """Momentum 0.99 on iris: the slow waves bottom out at step ~1530 and the loss climbs back ~2.6x; it had risen as
    much and come back before, so the climb is one more swing."""
    config = TrainConfig(dataset="iris", depth=0, optimizer="momentum", momentum=0.99, lr=22.77408976310573,
                         batch_size=0, label_noise=0.10491753976210541, steps=1780, seed=4111000040, val_every=50,
                         naming="keras", log_lr=False)
    d = analyze("ringing-rose-before", config)
    f = finding(d, "oscillation")
    assert d.primary == "oscillation" and finding(d, "divergence") is None
    assert f.evidence["mechanism"] == "slow_ringing"


# plain linear regression on raw diabetes targets with an lr past 2/curvature: the MSE grows ~10x a step
BLOWUP = TrainConfig(dataset="diabetes", depth=0, lr=0.5, batch_size=0, val_every=10)


@pytest.mark.parametrize("log_grad_norm", [True, False], ids=["with grad norm", "loss only"])
def test_a_finite_climb_to_1e305_reads_like_a_climb_to_1e250(analyze, detector_store, log_grad_norm):
    low = analyze("to-1e250", replace(BLOWUP, steps=262, log_grad_norm=log_grad_norm))
    high = analyze("to-1e305", replace(BLOWUP, steps=316, log_grad_norm=log_grad_norm))
    for d in (low, high):
        f = finding(d, "divergence")
        assert f is not None and d.status == "failed" and finding(d, "nan_inf") is None
        assert f.evidence["rise_orders_of_magnitude"] >= 200
    loss = detector_store.load("to-1e305").metrics["train_loss"].values
    assert np.all(np.isfinite(loss)) and loss.max() > 1e300  # finite all the way: nothing for nan_inf
    assert (low.primary, {f.pattern for f in low.findings}) == (high.primary, {f.pattern for f in high.findings})


def test_a_best_inside_the_final_window_is_no_level_the_loss_rose_from(analyze):
    """Batch 1 with Adam: the rolling trend's edge, pulled by the last few per-example losses, dips below the final
    level; the loss never rose from a best, so it is no divergence (was: critical, best at the last step)."""
    config = TrainConfig(dataset="synthetic", depth=2, hidden=64, optimizer="adam", lr=0.0010374442041590221,
                         batch_size=1, steps=1120, seed=4112000282, naming="lightning")
    d = analyze("batch-1-edge", config)
    assert finding(d, "divergence") is None and d.status != "failed"
