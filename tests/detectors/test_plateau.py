from dataclasses import replace

import numpy as np
import pytest

from posthoc.demo.loops import TrainConfig
from posthoc.detectors import plateau
from posthoc.roles import resolve_roles
from posthoc.signal import profile
from tests.detectors.conftest import finding


def test_lr_decayed_to_zero_early_stalls_the_loss(analyze):
    config = TrainConfig(dataset="digits", depth=1, hidden=32, lr=0.01, schedule="exp", decay_steps=15, steps=400,
                         val_every=20)
    d = analyze("stall", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau"
    assert f.evidence["lr_collapsed"] and f.evidence["lr_final_to_peak"] <= 1e-3
    assert f.evidence["plateau_fraction"] >= 0.25 and f.evidence["plateau_end_step"] >= 350
    assert f.evidence["plateau_level"] >= 0.3 * f.evidence["initial_value"]


def test_constant_lr_keeps_improving(analyze):
    d = analyze("going", TrainConfig(dataset="digits", depth=1, hidden=32, lr=0.05, steps=400, val_every=20))
    assert finding(d, "plateau") is None


def test_lr_zeroed_mid_run_stalls_then_the_loss_falls_again(analyze):
    config = TrainConfig(dataset="digits", depth=1, hidden=32, lr=0.01, steps=600, val_every=20, lr_jump_step=60,
                         lr_jump_until=330, lr_jump_factor=1e-4)
    f = finding(analyze("bug", config), "plateau")
    assert f is not None and f.evidence["lr_collapsed"]
    assert abs(f.evidence["plateau_start_step"] - 60) <= 10 and abs(f.evidence["plateau_end_step"] - 330) <= 10
    assert f.evidence["drop_after_plateau_ratio"] >= 0.1


STUCK = TrainConfig(dataset="digits", depth=6, activation="tanh", init_scale=0.1, lr=0.05, steps=1000, val_every=20)


@pytest.mark.parametrize("log_val", [True, False], ids=["with val", "without val"])
def test_deep_tanh_stuck_at_chance_never_learned(analyze, log_val):
    d = analyze("stuck", replace(STUCK, log_val=log_val))
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert abs(f.evidence["initial_value"] - np.log(10)) < 0.05  # ln(10 classes): chance level, and it stayed
    assert abs(f.evidence["drop_noise_sigmas"]) <= 0.8 and f.evidence["plateau_fraction"] >= 0.95
    assert finding(d, "overfitting") is None and finding(d, "underfitting") is None


@pytest.mark.parametrize("dataset, batch_size", [("digits", 32), ("iris", 0)], ids=["minibatch", "full batch"])
def test_lr_far_too_small_is_not_healthy(analyze, dataset, batch_size):
    d = analyze("crawl", TrainConfig(dataset=dataset, lr=1e-5, batch_size=batch_size, steps=1000, val_every=20))
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau"
    assert f.evidence["kind"] in ("never_learned", "too_slow") and f.evidence["removed_fraction"] < 0.2
    assert finding(d, "underfitting") is None
    if f.evidence["kind"] == "too_slow":
        assert "lr=1e-05" in f.suggestions[0]


@pytest.mark.parametrize("seed", [0, 2])
def test_stuck_at_the_class_prior_with_a_smooth_curve_never_learned(analyze, seed):
    # 10-step means smooth the curve, so fitting the class prior (ln 3 -> 1.08, ~1% of the loss) is many noise
    # sigmas: only the level floor (5% of a loss bounded by 0) says it never learned
    config = TrainConfig(dataset="wine", depth=5, activation="tanh", init_scale=0.05, hidden=64, lr=0.037,
                         steps=2800, batch_size=64, log_every=10, val_every=100, seed=seed)
    d = analyze(f"prior-{seed}", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert f.evidence["drop_noise_sigmas"] > 0.8 and f.evidence["removed_fraction"] < 0.05
    assert finding(d, "overfitting") is None and finding(d, "underfitting") is None


def test_stuck_net_that_fit_only_an_imbalanced_class_prior_never_learned(analyze):
    # breast_cancer is 63/37: a deep tanh stack stuck at its tiny init still fits the prior through its output layer,
    # ln 2 = 0.69 to ~0.65, 7% of the loss; that is no practical learning (under 10%), not underfitting at 93%
    config = TrainConfig(dataset="breast_cancer", depth=5, activation="tanh", init_scale=0.05, lr=0.03, steps=800,
                         val_every=20, seed=2)
    d = analyze("prior-imbalanced", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert 0.05 <= f.evidence["removed_fraction"] < 0.1 and finding(d, "underfitting") is None


def test_batch_of_one_run_that_learned_is_not_never_learned(analyze):
    # one example per step: the first few points scatter over most of the loss's range, so the drop from them is
    # within one point's noise, yet the loss fell from chance (ln 2 = 0.69) to under a third of it
    config = TrainConfig(dataset="breast_cancer", depth=1, hidden=16, lr=0.01, batch_size=1, label_noise=0.2,
                         steps=800, log_every=1, val_every=50, seed=0)
    d = analyze("batch-of-one", config)
    f = finding(d, "plateau")
    assert f is None or f.evidence["kind"] != "never_learned"
    assert d.primary != "plateau" and finding(d, "underfitting") is None


CRAWLS = {  # lr far too small (x300 reaches a fraction of the loss): noisy straight lines, each once misread
    "adam-underfitting": TrainConfig(dataset="synthetic", optimizer="adam", lr=1.4e-6, batch_size=64, steps=2524,
                                     val_every=50, seed=36),
    "sgd-healthy": TrainConfig(dataset="iris", lr=1.9e-5, batch_size=64, steps=714, val_every=14, seed=50),
    "momentum-underfitting": TrainConfig(dataset="synthetic", optimizer="momentum", lr=1.2e-5, batch_size=32,
                                         steps=1681, log_every=10, val_every=33, seed=35),
}


@pytest.mark.parametrize("name", sorted(CRAWLS))
def test_noisy_crawl_with_a_far_too_small_lr_is_too_slow(analyze, name):
    # the net drop is 7-10% of the loss and about one point's noise, so the run's start says little; the medians
    # of its last two thirds, hundreds of points each, show it still falls at its average rate
    d = analyze(name, CRAWLS[name])
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "too_slow"
    assert f.evidence["removed_fraction"] < 0.2 and finding(d, "underfitting") is None


def test_noisy_run_that_ended_above_its_start_never_learned(analyze):
    # Adam at lr 5.6e-7, batch 8: the loss ends 6% above its few-point start, within the start's noise
    d = analyze("worse", TrainConfig(dataset="wine", optimizer="adam", lr=5.6e-7, batch_size=8, steps=1460,
                                     val_every=29, seed=41))
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert f.evidence["removed_fraction"] < 0


def test_batch_of_one_run_with_an_offset_loss_that_fell_is_not_never_learned(analyze):
    # a loss with no natural zero (an NLL-like offset) judged on its noise: one example per step scatters the first
    # points over the whole fall, yet the first 10% sit far above the last 10%, many standard errors of two medians
    config = TrainConfig(dataset="synthetic", depth=1, optimizer="momentum", lr=0.0019, batch_size=1, steps=1750,
                         schedule="warmup", warmup_steps=87, label_noise=0.1, loss_offset=-2.0, val_every=50,
                         seed=4113000227)
    d = analyze("offset-batch-of-one", config)
    assert finding(d, "plateau") is None and d.primary == "noisy_small_batch"


def test_stuck_run_with_an_offset_loss_never_learned(analyze):
    d = analyze("stuck-offset", replace(STUCK, loss_offset=-2.0))
    f = finding(d, "plateau")
    assert f is not None and f.evidence["kind"] == "never_learned" and d.primary == "plateau"


@pytest.mark.parametrize("seed", [0, 3])
def test_crawl_with_an_offset_loss_is_too_slow(analyze, seed):
    # momentum at lr 2.7e-6 with an NLL-like offset: no natural zero to say how little it removed, but the last third
    # fell as far as the middle one (no deceleration): far from any level
    config = TrainConfig(dataset="wine", optimizer="momentum", lr=2.7e-6, steps=740, loss_offset=-3.0, seed=seed)
    d = analyze(f"offset-crawl-{seed}", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "too_slow"
    assert "no level in sight" in f.message and f.evidence["final_value"] < f.evidence["initial_value"] < 0


def test_batch_of_one_offset_run_that_slows_down_is_not_too_slow(analyze):
    # RMSprop on one example per step, offset below 0: its last third still falls, but significantly less than its
    # middle third did; it is approaching a level, which only batch noise hides
    config = TrainConfig(dataset="digits", depth=2, optimizer="rmsprop", lr=3.6e-4, schedule="warmup", warmup_steps=46,
                         batch_size=1, steps=920, loss_offset=-2.7, seed=1)
    d = analyze("offset-noisy-slowing", config)
    assert finding(d, "plateau") is None and d.primary == "noisy_small_batch"


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_stuck_run_with_an_offset_loss_that_drifted_a_sigma_never_learned(analyze, dataset):
    # an NLL-like offset hides how little of the loss went (no 10% to measure): the drop is 0.9-1.2 point sigmas,
    # past "within its noise", while val did not learn at all; within 2 sigmas with val flat, it never learned
    config = TrainConfig(dataset=dataset, depth=5, activation="tanh", init_scale=0.05, lr=0.03, steps=800,
                         val_every=20, loss_offset=-2.0, seed=2)
    d = analyze(f"stuck-offset-drift-{dataset}", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert 0.8 < f.evidence["drop_noise_sigmas"] <= 2


def test_a_stuck_run_whose_val_wiggles_is_not_overfitting(analyze):
    # a deep tanh stack stuck at chance, logged with an offset every 5 steps: val ends 0.01 above its lowest
    # point, a rise in units of the nothing it learned; a train loss that never learned did not "keep falling"
    config = TrainConfig(dataset="digits", depth=6, activation="tanh", init_scale=0.0661, lr=0.0299, batch_size=64,
                         steps=1670, log_every=5, val_every=5, loss_offset=-5.0, seed=4289000139)
    d = analyze("stuck-val-wiggle", config)
    f = finding(d, "plateau")
    assert f is not None and f.evidence["kind"] == "never_learned"
    assert finding(d, "overfitting") is None and d.primary == "plateau"


def test_noisy_run_whose_few_first_points_sat_high_never_learned(analyze):
    # momentum at lr 5e-7: the first 5 points sit 6% above the end, under one point's noise, while the first 10%
    # of the run is level with the last 10%; neither "learned" nor still falling: it never moved
    config = TrainConfig(dataset="synthetic", depth=2, hidden=64, optimizer="momentum", lr=4.8e-7, batch_size=32,
                         steps=960, val_every=20, seed=4113000007)
    d = analyze("unmoved", config)
    f = finding(d, "plateau")
    assert f is not None and d.primary == "plateau" and f.evidence["kind"] == "never_learned"
    assert f.evidence["removed_fraction"] >= 0.05 and abs(f.evidence["drop_noise_sigmas"]) <= 0.8



def test_a_loss_that_rose_overall_is_not_too_slow(analyze):
    # momentum 0.9 at lr 6.4 on a tanh MLP: the loss leaps far above its start and bounces there, its last third
    # lower than its middle one; "removed only -300% of its initial loss" is no lr far too small (plateau is asked
    # directly: diagnose would let oscillation, when found, suppress it)
    config = TrainConfig(dataset="circles", depth=2, hidden=32, activation="tanh", optimizer="momentum",
                         lr=6.4102163614328695, batch_size=64, steps=950, label_noise=0.1, val_every=10, seed=23)
    run = analyze("rose", config).run
    roles = resolve_roles(run, {})
    assert profile(roles.get("train_loss")).removed < 0
    assert all(f.evidence["kind"] != "too_slow" for f in plateau.detect(run, roles, plateau.Thresholds()))
