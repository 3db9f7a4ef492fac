from dataclasses import replace

from posthoc.demo.loops import TrainConfig
from tests.conftest import QUICK
from tests.detectors.conftest import finding

BASE = replace(QUICK, steps=400, batch_size=16)
SPIKES = (150, 280)


def test_corrupted_batches_are_spikes_at_their_steps(analyze):
    d = analyze("spiky", replace(BASE, corrupt_steps=SPIKES, corrupt_mode="both", corrupt_scale=10.0))
    f = finding(d, "loss_spikes")
    assert f is not None and d.primary == "loss_spikes"
    assert set(SPIKES) <= set(f.evidence["spike_steps"])
    assert f.evidence["max_ratio_above_floor"] >= 3 and f.evidence["spike_event_fraction"] <= 0.02
    assert any("150" in s for s in f.suggestions)


def test_clean_batches_have_no_spikes(analyze):
    d = analyze("clean", BASE)
    assert finding(d, "loss_spikes") is None


def test_jumps_of_the_early_descent_are_not_spikes_of_a_healthy_adam_run(analyze):
    # batch noise shrinks as the loss falls to ~0: early jumps are measured against the noise around them
    d = analyze("adam-digits", TrainConfig(dataset="digits", depth=1, hidden=64, optimizer="adam", lr=1e-3,
                                           batch_size=32, steps=1500, seed=1, val_every=50))
    assert finding(d, "loss_spikes") is None and d.primary == "healthy"


def test_mislabeled_examples_in_a_batch_of_one_are_the_noise_tail_not_spikes(analyze):
    d = analyze("b1-labels", TrainConfig(dataset="synthetic", depth=2, lr=0.05, schedule="warmup", warmup_steps=70,
                                         batch_size=1, steps=1400, label_noise=0.1, seed=2, val_every=50))
    assert finding(d, "loss_spikes") is None and finding(d, "oscillation") is None


def test_spikes_far_taller_than_the_swings_are_spikes_not_oscillation(analyze):
    config = TrainConfig(dataset="moons", depth=1, hidden=64, lr=0.0134, schedule="warmup", warmup_steps=130,
                         batch_size=16, steps=1300, weight_decay=1e-3, corrupt_steps=(730, 1066, 1150),
                         corrupt_mode="both", corrupt_scale=10.0, log_every=2, val_every=50)
    d = analyze("tall-spikes", config)
    f = finding(d, "loss_spikes")
    assert d.primary == "loss_spikes" and finding(d, "oscillation") is None
    assert {730, 1066} <= {step + offset for step in f.evidence["spike_steps"] for offset in (-1, 0, 1)}


def test_runs_of_three_bad_batches_are_spikes_not_dense_noise(analyze):
    # four runs of 3 mislabeled batches in a row (a bad shard): 12 points of 400 stand above the bars, 3% of the
    # points but 1% as events; density is counted in events, as batch noise crosses the bars one point at a time
    steps = (73, 74, 75, 91, 92, 93, 171, 172, 173, 244, 245, 246)
    config = TrainConfig(dataset="iris", depth=1, activation="tanh", optimizer="rmsprop", lr=0.00266, batch_size=128,
                         steps=400, corrupt_steps=steps, corrupt_scale=10.3, corrupt_mode="labels", grad_clip=5.0,
                         seed=23, val_every=5)
    d = analyze("bad-shard", config)
    f = finding(d, "loss_spikes")
    assert f is not None and d.primary == "loss_spikes" and f.evidence["spike_count"] >= 2
    assert all(any(abs(s - c) <= 3 for c in steps) for s in f.evidence["spike_steps"])
