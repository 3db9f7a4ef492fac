"""One-batch overfit tests trained for real: PASSED when the batch is memorized, FAILED on a dead network."""

from posthoc.demo.loops import TrainConfig
from posthoc.diagnose import diagnose
from posthoc.kinds import ONE_BATCH_TEST
from tests.kinds.conftest import trained_run

ONE_BATCH = dict(train_subset=32, batch_size=32, log_val=False)


def test_a_memorized_batch_passes(kinds_store):
    kinds_store.add("one-batch-adam", TrainConfig(optimizer="adam", lr=0.01, steps=150, **ONE_BATCH), experiment="one")
    d = diagnose(kinds_store.load("one-batch-adam"), strict=True)
    t = d.test
    assert d.kind == ONE_BATCH_TEST and d.kind_source == "name" and d.status == "healthy"
    assert t.verdict == "PASSED" and t.grade == "memorized" and t.final_loss < 0.01
    assert t.pass_step is not None and t.memorized_step is not None and t.pass_step <= t.memorized_step < 150
    assert d.findings[0].pattern == "one_batch_test" and d.findings[0].severity == "info"
    assert {s.detector for s in d.skipped} >= {"divergence", "overfitting"}  # ordinary checks do not apply
    assert d.to_dict()["one_batch_test"]["verdict"] == "PASSED"


def test_dead_relus_fail_as_a_major_bug(kinds_store):
    kinds_store.add("one-batch-dead", TrainConfig(dataset="digits", depth=2, bias_init=-5.0, lr=0.1, steps=100, **ONE_BATCH),
                    experiment="one")
    d = diagnose(kinds_store.load("one-batch-dead"), strict=True)
    t = d.test
    assert t.verdict == "FAILED" and t.grade == "major_bug" and t.final_loss > 1.0 and t.pass_step is None
    assert d.status == "failed" and d.primary == "one_batch_test"
    assert "gradient flow" in d.findings[0].message


def test_a_too_small_lr_is_weak_and_still_falling():
    t = diagnose(trained_run("one-batch-slow", TrainConfig(lr=0.005, steps=300, **ONE_BATCH))).test
    assert t.grade == "weak" and not t.passed and 0.1 <= t.final_loss <= 1.0 and t.still_falling
