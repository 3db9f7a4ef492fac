from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding


def test_full_batch_step_far_past_stable_swings(analyze):
    d = analyze("swing", TrainConfig(dataset="moons", depth=0, lr=50.0, batch_size=0, steps=300, val_every=10))
    f = finding(d, "oscillation")
    assert f is not None and d.primary == "oscillation"
    assert f.evidence["swing_to_progress"] >= 0.5 and f.evidence["persistence_ratio"] >= 0.5
    assert f.evidence["swing_max"] > f.evidence["swing_min"]
    assert f.suggestions[0].startswith("lr=50: try")


def test_stable_step_size_does_not_oscillate(analyze):
    d = analyze("calm", TrainConfig(dataset="moons", depth=2, hidden=32, lr=0.3, batch_size=0, steps=300, val_every=10))
    assert finding(d, "oscillation") is None and d.primary == "healthy"
