from posthoc.demo.loops import TrainConfig
from tests.detectors.conftest import finding

JUMP = 150
BASE = TrainConfig(dataset="digits", depth=1, hidden=32, optimizer="adam", lr=2e-3, steps=300, val_every=10)


def test_lr_jump_mid_run_diverges_from_its_best(analyze):
    from dataclasses import replace

    d = analyze("jump", replace(BASE, lr_jump_step=JUMP, lr_jump_factor=60.0))
    f = finding(d, "divergence")
    assert f is not None and d.status == "failed"
    assert f.evidence["best_step"] <= JUMP + 10  # the best was reached before the lr jumped
    assert f.evidence["final_value"] > f.evidence["best_value"]
    assert f.evidence["rise_ratio"] >= 0.5 and f.step_start >= JUMP - 20
    assert f.suggestions[0].startswith("lr=0.002: try")


def test_same_run_without_the_jump_does_not_diverge(analyze):
    d = analyze("steady", BASE)
    assert finding(d, "divergence") is None and d.status != "failed"
