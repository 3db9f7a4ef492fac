"""diagnose on real training loops: causal roots, status, skipped detectors, no double-reporting."""

from dataclasses import replace

import pytest

from posthoc.demo.loops import TrainConfig
from posthoc.diagnose import diagnose
from tests.conftest import QUICK


@pytest.fixture
def analyze(sqlite_store):
    def run(name, config):
        sqlite_store.add(name, config)
        return diagnose(sqlite_store.load(name), strict=True)

    return run


def patterns(d):
    return [f.pattern for f in d.findings]


def test_gradients_exploding_before_the_nan_are_the_root_cause(analyze):
    d = analyze("blowup", TrainConfig(dataset="regression", depth=1, hidden=16, optimizer="momentum", lr=0.003,
                                      batch_size=16, steps=120, val_every=10))
    assert d.status == "failed" and d.primary == "exploding_gradients"
    assert {"exploding_gradients", "nan_inf"} <= set(patterns(d))
    assert d.findings[0].severity == "critical"  # critical findings come first
    grad = next(f for f in d.findings if f.pattern == "exploding_gradients")
    nan = next(f for f in d.findings if f.pattern == "nan_inf")
    assert grad.step_start <= nan.evidence["first_bad_step"]


def test_a_nan_from_one_bad_batch_has_no_precursor_and_no_shape_findings_on_its_tail(analyze):
    d = analyze("bad-batch", replace(QUICK, steps=200, corrupt_steps=(120,), corrupt_scale=float("inf")))
    assert d.primary == "nan_inf" and d.status == "failed"
    # the NaN tail is not read as a stalled or diverging loss
    assert not {"plateau", "divergence", "underfitting"} & set(patterns(d))


def test_missing_roles_are_reported_as_skipped_detectors(analyze):
    d = analyze("bare", replace(QUICK, log_grad_norm=False, log_val=False))
    skipped = {s.detector: s.reason for s in d.skipped}
    assert {"exploding_gradients", "vanishing_gradients", "overfitting", "underfitting"} <= set(skipped)
    assert "grad_norm" in skipped["exploding_gradients"] and "val_loss" in skipped["overfitting"]
    assert d.status == "healthy" and d.primary == "healthy"


def test_healthy_warmup_cosine_run_is_healthy(analyze):
    config = TrainConfig(dataset="wine", depth=1, hidden=16, optimizer="adam", lr=0.003, schedule="warmup_cosine",
                         warmup_steps=40, steps=300, val_every=10, naming="hf")
    d = analyze("warm", config)
    assert (d.status, d.primary, d.findings) == ("healthy", "healthy", ())
    assert d.roles["train_loss"] == "loss" and d.roles["lr"] == "learning_rate"


def test_an_overfit_run_with_a_few_bad_batches_is_overfitting_first(analyze):
    """Two problems, neither causing the other: the spikes it recovered from stay among the findings, but the
    overfit state it ended in is the primary, however confident the spike finding is."""
    config = TrainConfig(dataset="digits", depth=1, hidden=128, train_subset=100, label_noise=0.2, optimizer="adam",
                         lr=2e-3, steps=1500, batch_size=32, corrupt_steps=(400, 401, 800, 801, 1100, 1101),
                         corrupt_mode="labels", corrupt_scale=8.0, val_every=25, seed=0)
    d = analyze("overfit-with-spikes", config)
    spikes, overfit = (next(f for f in d.findings if f.pattern == p) for p in ("loss_spikes", "overfitting"))
    assert spikes.severity == overfit.severity == "warning" and spikes.confidence > overfit.confidence
    assert d.primary == "overfitting"
