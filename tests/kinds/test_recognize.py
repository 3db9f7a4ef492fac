"""Recognition fires on real range tests and one-batch tests, and never on ordinary schedules (the demo's own runs:
tests/test_cli.py::test_demo_builds_and_summarizes)."""

import pytest

from posthoc.demo.loops import TrainConfig
from posthoc.kinds import LR_RANGE_TEST, ONE_BATCH_TEST, TRAINING, recognize
from posthoc.roles import resolve_roles
from tests.kinds.conftest import trained_run

RANGE = TrainConfig(dataset="wine", lr=1e-7, schedule="range_test", range_end_lr=10.0, steps=200, log_val=False)


def kind_of(run):
    return recognize(run, resolve_roles(run))


@pytest.mark.parametrize("name,config", [
    ("finder-sgd", RANGE),
    ("finder-adam-hf", TrainConfig(dataset="digits", optimizer="adam", lr=1e-6, schedule="range_test", range_end_lr=1.0,
                                   steps=120, log_val=False, naming="hf")),
])
def test_range_tests_are_recognized_from_their_logged_data_alone(kinds_store, name, config):
    kinds_store.add(name, config, experiment="recognize")
    match = kind_of(kinds_store.load(name))
    assert (match.kind, match.source) == (LR_RANGE_TEST, "data")
    assert match.evidence["r2"] > 0.99 and match.evidence["decades"] >= 6


@pytest.mark.parametrize("name,config", [
    ("linear-warmup-then-flat", TrainConfig(dataset="wine", lr=0.1, schedule="warmup", warmup_steps=150, steps=300)),
    ("warmup-over-the-whole-run", TrainConfig(dataset="wine", lr=0.1, schedule="warmup", warmup_steps=2000, steps=2000,
                                              log_val=False)),
    ("warmup-cosine", TrainConfig(dataset="wine", lr=0.1, schedule="warmup_cosine", warmup_steps=50, steps=300)),
    ("cyclic-triangular", TrainConfig(dataset="wine", lr=0.1, schedule="cyclic", decay_steps=50, steps=300)),
    ("exponential-decay", TrainConfig(dataset="wine", lr=0.1, schedule="exp", decay_steps=20, steps=300)),
    ("lr-jump-10000x", TrainConfig(dataset="wine", lr=1e-5, lr_jump_step=150, lr_jump_factor=1e4, steps=300)),
])
def test_ordinary_schedules_are_training(name, config):
    match = kind_of(trained_run(name, config))
    assert match.kind == TRAINING, match.evidence


def test_the_tag_overrides_data_and_name():
    assert kind_of(trained_run("finder-tagged", RANGE, tags={"posthoc.kind": "training"})).kind == TRAINING
    tagged = kind_of(trained_run("plain", TrainConfig(dataset="wine", steps=50), tags={"posthoc.kind": "one_batch_test"}))
    assert (tagged.kind, tagged.source) == (ONE_BATCH_TEST, "tag")


def test_a_name_hint_needs_data_that_fits():
    ramp = TrainConfig(dataset="wine", lr=1e-3, schedule="range_test", range_end_lr=3e-2, steps=100, log_val=False)
    assert kind_of(trained_run("resnet-lr_find", ramp)).kind == LR_RANGE_TEST  # 1.5 decades, named: a range test
    assert kind_of(trained_run("resnet-short-ramp", ramp)).kind == TRAINING  # too few decades without the name
    assert kind_of(trained_run("lr-range-followup", TrainConfig(dataset="wine", steps=100))).kind == TRAINING
    one_batch = kind_of(trained_run("overfit-one-batch", TrainConfig(dataset="wine", train_subset=16, batch_size=16,
                                                                      steps=50)))
    assert (one_batch.kind, one_batch.source) == (ONE_BATCH_TEST, "name")
    for name in ("someone_batch-sweep", "epoch1_batch", "mini-batch-1"):  # "batch" alone is no hint
        assert kind_of(trained_run(name, TrainConfig(dataset="wine", steps=30))).kind == TRAINING, name
