from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding


def test_linear_model_on_moons_converges_high(analyze):
    d = analyze("linear", TrainConfig(dataset="moons", depth=0, lr=0.1, steps=500, val_every=20))
    f = finding(d, "underfitting")
    assert f is not None and d.primary == "underfitting"
    assert f.evidence["final_to_initial_ratio"] >= 0.3 and f.evidence["gap_ratio"] <= 0.25
    assert abs(f.evidence["final_val"] - f.evidence["final_train"]) < 0.1


def test_mlp_on_moons_fits(analyze):
    d = analyze("mlp", TrainConfig(dataset="moons", depth=2, hidden=32, lr=0.1, steps=500, val_every=20))
    assert finding(d, "underfitting") is None
