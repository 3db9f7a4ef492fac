from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding


def test_warmup_past_the_stability_limit_explodes(analyze):
    config = TrainConfig(dataset="regression", depth=0, lr=2.0, schedule="warmup", warmup_steps=300, steps=300,
                         batch_size=64, val_every=20)
    d = analyze("explode", config)
    f = finding(d, "exploding_gradients")
    assert f is not None and d.primary == "exploding_gradients"  # the root cause, before the loss diverges
    assert "divergence" in {x.pattern for x in d.findings}
    assert f.evidence["growth_ratio"] >= 100
    assert f.evidence["peak_step"] > f.evidence["low_step"]
    assert 0 < f.evidence["suggested_clip_norm"] < f.evidence["peak_norm"]
    assert "clip the gradient norm at about" in f.suggestions[0]


def test_healthy_grad_norm_does_not_explode(analyze):
    d = analyze("ok", TrainConfig(dataset="regression", depth=0, lr=0.01, steps=300, batch_size=64, val_every=20))
    assert finding(d, "exploding_gradients") is None
