import pytest

from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding


def test_full_batch_step_far_past_stable_swings(analyze):
    d = analyze("swing", TrainConfig(dataset="moons", depth=0, lr=50.0, batch_size=0, steps=300, val_every=10))
    f = finding(d, "oscillation")
    assert f is not None and d.primary == "oscillation"
    assert f.evidence["swing_to_progress"] >= 0.5 and f.evidence["persistence_ratio"] >= 0.5
    assert f.evidence["swing_max"] > f.evidence["swing_min"] and f.evidence["mechanism"] == "edge_of_stability"
    assert f.suggestions[0].startswith("lr=50: try")


def test_stable_step_size_does_not_oscillate(analyze):
    d = analyze("calm", TrainConfig(dataset="moons", depth=2, hidden=32, lr=0.3, batch_size=0, steps=300, val_every=10))
    assert finding(d, "oscillation") is None and d.primary == "healthy"


def test_full_batch_gd_at_the_edge_of_stability_swings_with_period_2(analyze):
    d = analyze("two-cycle", TrainConfig(dataset="moons", depth=0, lr=8.0, batch_size=0, steps=500, label_noise=0.2))
    f = finding(d, "oscillation")
    assert f is not None and d.primary == "oscillation" and f.evidence["mechanism"] == "edge_of_stability"
    assert f.evidence["swing_autocorrelation"] <= -0.9 and f.evidence["period_points"] == 2


def test_momentum_099_rings_in_slow_waves(analyze):
    config = TrainConfig(dataset="wine", depth=0, optimizer="momentum", momentum=0.99, lr=20.0, batch_size=0,
                         label_noise=0.2, steps=1500, val_every=50)
    f = finding(analyze("ringing", config), "oscillation")
    assert f is not None and f.evidence["mechanism"] == "slow_ringing"
    assert f.evidence["period_points"] >= 20 and f.evidence["swing_autocorrelation"] >= 0.3
    assert f.evidence["grad_norm_period_points"] >= 12  # the grad norm rings slowly too
    assert any(s.startswith("momentum=0.99: try 0.9") for s in f.suggestions)


def test_momentum_ringing_from_the_first_step_is_oscillation_not_a_rise_from_the_initial_point(analyze):
    """Momentum 0.99 past its stable lr: the loss jumps from 0.9 to ~11 at step 1 and rings around that level.
    The trend's minimum sits on the first point, a level the loss never held: measured from the level around it
    (11.2) the final 12.9 is a rise the swings span (was: divergence, 'rose from its best 4.83 at step 0')."""
    config = TrainConfig(dataset="wine", depth=0, optimizer="momentum", momentum=0.99, lr=29.378811977568304,
                         batch_size=0, label_noise=0.2606419863038396, steps=1730, seed=4111000007, val_every=100)
    d = analyze("ringing-from-step-1", config)
    assert d.primary == "oscillation" and finding(d, "divergence") is None
    assert finding(d, "oscillation").evidence["mechanism"] == "slow_ringing"


def test_spikes_at_one_phase_of_a_cyclic_lr_are_its_swings_not_bad_batches(analyze):
    """Full-batch GD whose cyclic lr peaks past the stable step: the loss leaps up near every peak of the 272-step
    cycle, hundreds of swings tall. Spikes recurring at one phase of the lr cycle (Rayleigh) are the oscillation's,
    not isolated bad batches (was: loss_spikes)."""
    config = TrainConfig(dataset="moons", depth=0, optimizer="sgd", lr=36.685547517614935, schedule="cyclic",
                         decay_steps=136, batch_size=0, steps=2180, seed=4112000084, val_every=50, loss_offset=-2.0)
    d = analyze("cyclic-peaks", config)
    assert d.primary == "oscillation" and finding(d, "oscillation").evidence["mechanism"] == "cyclic_lr"
    assert finding(d, "loss_spikes") is None


def test_a_cyclic_lr_swings_over_the_part_of_each_cycle_its_peak_drives(analyze):
    """GD on moons with a cyclic lr past the stable step: in the low-lr half of every cycle the loss sits at its
    floor, at the peak it leaps. The MAD of the last cycle sees only the floor (the leaps are under half the
    points), so the swing read as smaller than the progress; the interdecile range sees the cycle (was: spikes)."""
    config = TrainConfig(dataset="moons", depth=0, optimizer="sgd", lr=45.27313927407785, schedule="cyclic",
                         decay_steps=130, batch_size=0, steps=1040, seed=4114000106, val_every=10)
    d = analyze("cyclic-floor-and-leaps", config)
    assert d.primary == "oscillation" and finding(d, "oscillation").evidence["mechanism"] == "cyclic_lr"


def test_coming_back_from_a_first_blow_up_is_no_progress(analyze):
    """GD on wine with a cyclic lr (not logged) past the stable step: the first peaks throw the loss far up and it
    ends above where it started. Measured from 10-30% of the run it 'fell' by more than it swings; bounded by the
    run's own net drop it made no progress, so the swings are an oscillation (was: plateau, never learned)."""
    config = TrainConfig(dataset="wine", depth=0, optimizer="sgd", lr=35.70617227049562, schedule="cyclic",
                         decay_steps=140, batch_size=0, steps=840, label_noise=0.24968973700818245, seed=4111000029,
                         loss_offset=-2.0, log_lr=False, log_val=False)
    d = analyze("cyclic-first-blow-up", config)
    f = finding(d, "oscillation")
    assert d.primary == "oscillation" and f.evidence["net_progress_after_transient"] == 0
    assert f.evidence["final_value"] > f.evidence["initial_value"]


def test_a_cyclic_lr_is_a_fault_only_when_the_loss_does_not_progress(analyze):
    stuck = TrainConfig(dataset="moons", depth=0, lr=40.0, schedule="cyclic", decay_steps=60, batch_size=0,
                        label_noise=0.2, steps=720, val_every=20)
    f = finding(analyze("cyclic-stuck", stuck), "oscillation")
    assert f is not None and f.evidence["mechanism"] == "cyclic_lr" and f.evidence["swing_to_progress"] >= 1
    fine = TrainConfig(dataset="wine", depth=1, hidden=16, lr=0.05, schedule="cyclic", decay_steps=50, steps=600,
                       val_every=20)
    d = analyze("cyclic-fine", fine)
    assert finding(d, "oscillation") is None and d.primary == "healthy"


@pytest.mark.parametrize("seed", [1, 2])
def test_slow_drift_of_a_long_healthy_run_is_not_a_period(analyze, seed):
    # a periodogram peak a few cycles long is drift the rolling trend left behind, not swings that repeat
    config = TrainConfig(dataset="iris", depth=1, hidden=16, lr=0.033, batch_size=32, steps=6000, weight_decay=1e-4,
                         seed=seed, val_every=100, log_val=False)
    d = analyze(f"drift-{seed}", config)
    assert finding(d, "oscillation") is None and d.primary == "healthy"


def test_rmsprop_past_its_stable_lr_bounces_even_with_a_lone_spike(analyze):
    # a lone moderate spike (info) does not explain away swings that repeat every two steps
    config = TrainConfig(dataset="moons", depth=1, hidden=32, optimizer="rmsprop", lr=0.3, batch_size=0, steps=600,
                         label_noise=0.1, val_every=20)
    d = analyze("rmsprop-bounce", config)
    f = finding(d, "oscillation")
    assert d.primary == "oscillation" and f.evidence["period_points"] <= 12


def test_faint_period_in_a_long_healthy_runs_batch_noise_is_not_oscillation(analyze):
    # 17,220 steps: over 4,300 frequencies the white-noise test passes a period-2 peak holding 0.3% of the power
    # (batches drawn without replacement tilt the noise toward the Nyquist frequency), far below a visible swing
    config = TrainConfig(dataset="moons", depth=1, hidden=16, optimizer="momentum", lr=0.016856635520351264,
                         schedule="warmup_cosine", warmup_steps=861, batch_size=64, steps=17220, weight_decay=1e-4,
                         grad_clip=5.0, seed=4114001052, val_every=200)
    d = analyze("long-healthy", config)
    assert finding(d, "oscillation") is None and d.status == "healthy"


SWINGS_THE_MAD_SET_ASIDE = {  # runs whose swings fill 10-50% of the points: the MAD alone read them as outliers
    "adam-bursts": TrainConfig(dataset="iris", depth=0, optimizer="adam", lr=3.7356743615452963, batch_size=0,
                               steps=2660, label_noise=0.24548068330866693, val_every=10, seed=3301000073),
    "momentum-ringing": TrainConfig(dataset="breast_cancer", depth=0, optimizer="momentum", momentum=0.99,
                                    lr=5.103973405964386, batch_size=0, steps=490, label_noise=0.2582756306659473,
                                    val_every=25, seed=4203000051),
}


@pytest.mark.parametrize("name", sorted(SWINGS_THE_MAD_SET_ASIDE))
def test_swings_filling_a_fair_share_of_the_points_count_at_their_interdecile_size(analyze, name):
    # the loss sits near its floor half the time and swings well above it the rest: the MAD's sigma shrinks to
    # the quiet half, under the progress, while the interdecile range's sigma holds the swings
    d = analyze(name, SWINGS_THE_MAD_SET_ASIDE[name])
    f = finding(d, "oscillation")
    assert f is not None and d.primary == "oscillation" and f.evidence["swing_to_progress"] >= 1


@pytest.mark.parametrize("dataset, lr, seed", [("wine", 1.4, 0), ("iris", 3.2, 3)])
def test_bursts_that_come_and_go_persist_at_their_interdecile_size(analyze, dataset, lr, seed):
    # full-batch Adam far past its stable lr: stretches of bursts alternate with quiet stretches pinned to the floor,
    # where the MAD is ~0, so a MAD-only quarter-to-quarter ratio read the swings as dying out (or exploding)
    config = TrainConfig(dataset=dataset, depth=0, optimizer="adam", lr=lr, batch_size=0, label_noise=0.2, steps=1600,
                         seed=seed)
    d = analyze(f"adam-intermittent-{dataset}", config)
    f = finding(d, "oscillation")
    assert f is not None and d.primary == "oscillation" and f.evidence["mechanism"] == "bursty"
    assert 0.4 <= f.evidence["persistence_ratio"] <= 5
