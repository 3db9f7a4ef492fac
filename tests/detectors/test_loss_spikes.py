from dataclasses import replace

from tests.conftest import QUICK
from tests.detectors.conftest import finding

BASE = replace(QUICK, steps=400, batch_size=16)
SPIKES = (150, 280)


def test_corrupted_batches_are_spikes_at_their_steps(analyze):
    d = analyze("spiky", replace(BASE, corrupt_steps=SPIKES, corrupt_mode="both", corrupt_scale=10.0))
    f = finding(d, "loss_spikes")
    assert f is not None and d.primary == "loss_spikes"
    assert set(SPIKES) <= set(f.evidence["spike_steps"])
    assert f.evidence["max_ratio_above_floor"] >= 3 and f.evidence["spike_point_fraction"] <= 0.02
    assert any("150" in s for s in f.suggestions)


def test_clean_batches_have_no_spikes(analyze):
    d = analyze("clean", BASE)
    assert finding(d, "loss_spikes") is None
