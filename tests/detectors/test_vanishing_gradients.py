from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding


def test_dead_relus_collapse_the_grad_norm(analyze):
    config = TrainConfig(dataset="wine", depth=2, hidden=16, bias_init=-6.0, lr=0.1, batch_size=0, steps=300)
    d = analyze("dead", config)
    f = finding(d, "vanishing_gradients")
    assert f is not None and d.primary == "vanishing_gradients"
    assert f.evidence["final_norm"] <= 1e-3 * f.evidence["initial_norm"] and f.evidence["collapse_decades"] >= 3
    assert f.evidence["loss_move_ratio"] <= 0.1
    assert finding(d, "plateau") is None  # the stall is vanishing's symptom, reported once


def test_live_relus_keep_their_gradient(analyze):
    d = analyze("alive", TrainConfig(dataset="wine", depth=2, hidden=16, lr=0.1, batch_size=0, steps=300))
    assert finding(d, "vanishing_gradients") is None
