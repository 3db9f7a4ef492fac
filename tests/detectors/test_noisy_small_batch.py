from dataclasses import replace

import pytest

from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding

BASE = TrainConfig(dataset="digits", depth=1, hidden=32, lr=0.05, steps=500, val_every=25)


def test_batch_of_one_is_noisy_but_still_learning(analyze):
    d = analyze("b1", replace(BASE, batch_size=1))
    f = finding(d, "noisy_small_batch")
    assert f is not None and d.primary == "noisy_small_batch"
    assert f.evidence["batch_size"] == 1 and f.evidence["noise_to_level"] >= 1.0
    assert f.evidence["final_value"] < f.evidence["initial_value"]
    assert f.suggestions[0].startswith("batch_size=1: try 4")


def test_batch_of_64_is_not_noisy(analyze):
    d = analyze("b64", replace(BASE, batch_size=64))
    assert finding(d, "noisy_small_batch") is None and d.primary == "healthy"


@pytest.mark.parametrize("config", [
    TrainConfig(dataset="moons", depth=0, optimizer="momentum", lr=0.002, batch_size=1, steps=1600, label_noise=0.1,
                seed=1, val_every=50),
    TrainConfig(dataset="moons", depth=2, optimizer="adam", lr=4e-4, schedule="cosine", batch_size=2, steps=650,
                label_noise=0.05, val_every=25),
], ids=["momentum-b1", "adam-b2"])
def test_batch_noise_that_dwarfs_the_progress_is_not_oscillation(analyze, config):
    # per-example losses swing far more than the run still gains, but independently from step to step
    d = analyze(f"white-{config.optimizer}", config)
    assert d.primary == "noisy_small_batch" and finding(d, "oscillation") is None


def test_small_batch_noise_below_the_level_is_noisy_while_the_loss_sits_far_above_its_floor(analyze):
    # batch 4 on a loss that stays well above 0: each step's noise is just under the level, skewed and white
    config = TrainConfig(dataset="moons", depth=1, optimizer="adam", lr=6e-4, batch_size=4, steps=760, schedule="cosine",
                         val_every=25)
    d = analyze("b4-high", config)
    f = finding(d, "noisy_small_batch")
    assert f is not None and d.primary == "noisy_small_batch"
    assert 0.7 <= f.evidence["noise_to_level"] < 1.0 and f.evidence["skewness"] >= 1 / 3


def test_full_batch_swings_that_move_together_are_not_batch_noise(analyze):
    # full-batch GD past its stable step: swings as large as the level, but periodic and correlated from step to step
    config = TrainConfig(dataset="moons", depth=0, lr=24.2, batch_size=0, steps=2060, seed=4113000227, val_every=50)
    d = analyze("gd-swings", config)
    assert d.primary == "oscillation" and finding(d, "noisy_small_batch") is None


def test_trend_is_read_from_the_first_tenth_when_one_example_per_step_scatters_the_first_points(analyze):
    # an NLL-like offset loss, batch 1: its first 3 points happen to sit low, the first tenth's median does not
    config = TrainConfig(dataset="moons", optimizer="sgd", lr=0.0155, batch_size=1, steps=470, schedule="cosine",
                         label_noise=0.05, loss_offset=-2.0, seed=4111000392, val_every=25)
    d = analyze("b1-low-start", config)
    f = finding(d, "noisy_small_batch")
    assert f is not None and d.primary == "noisy_small_batch" and finding(d, "plateau") is None
    assert f.evidence["initial_value"] < f.evidence["final_value"] + f.evidence["noise_sigma"]  # the few first points


def test_loss_that_sits_at_zero_after_a_blowup_is_not_batch_noise(analyze):
    # Adam's lr x290 at step 524: the loss spikes to ~150, then saturates at exactly 0 for most of the second half
    # while val climbs from 0.15 to ~100; the recovery's noise over a level of 0 once read as "3e+298x its typical
    # distance from the best value"
    config = TrainConfig(dataset="digits", optimizer="adam", lr=0.001240293217336647, steps=1026, lr_jump_step=524,
                         lr_jump_factor=289.72919097105694, seed=6, val_every=20)
    d = analyze("saturated", config)
    assert finding(d, "noisy_small_batch") is None and finding(d, "overfitting") is not None


def test_a_loss_bouncing_step_to_step_is_not_batch_noise(analyze):
    # a 60-step healthy run (bs 16 on wine, dropout 0.1): its residuals alternate step to step (lag-1 r <= -0.45,
    # oscillation's bounce bar), a structure independent batches never have
    config = TrainConfig(dataset="wine", depth=1, hidden=64, activation="tanh", lr=0.16031821330463136,
                         schedule="warmup_cosine", warmup_steps=3, batch_size=16, steps=60, dropout=0.1, log_val=False,
                         val_every=5, seed=4203001118)
    d = analyze("bouncing", config)
    assert finding(d, "noisy_small_batch") is None
