"""Real numpy range tests (SGD and Adam, two datasets): the suggestion trains healthily, inside the healthy band."""

import numpy as np
import pytest

from posthoc.demo.loops import TrainConfig
from posthoc.diagnose import diagnose
from posthoc.kinds import LR_RANGE_TEST, RangeTest, build_context
from posthoc.kinds.lr_range import ema, valley_index
from tests.kinds.conftest import trained_run

GRID = np.logspace(-4, 1, 11)  # constant lrs, half a decade apart


@pytest.mark.parametrize("dataset,optimizer", [("wine", "sgd"), ("wine", "adam"), ("synthetic", "sgd"),
                                               ("synthetic", "adam")])
def test_suggested_lr_trains_healthily_inside_the_healthy_band(kinds_store, dataset, optimizer):
    case = f"{dataset}-{optimizer}"
    kinds_store.add(f"finder-{case}", TrainConfig(dataset=dataset, optimizer=optimizer, lr=1e-7, schedule="range_test",
                                                 range_end_lr=10.0, steps=300, log_val=False), experiment=case)
    test = diagnose(kinds_store.load(f"finder-{case}"), strict=True)
    assert test.kind == LR_RANGE_TEST and isinstance(test.test, RangeTest)
    suggested = test.test.suggested_lr
    low, high = test.test.recommended
    assert low <= suggested <= high

    kinds_store.add(f"at-suggested-{case}", TrainConfig(dataset=dataset, optimizer=optimizer, lr=suggested, steps=300),
                    experiment=case)
    trained = diagnose(kinds_store.load(f"at-suggested-{case}"), strict=True)
    loss = trained.run.metrics["train_loss"].values
    assert trained.status == "healthy", [f.message for f in trained.findings]
    assert np.median(loss[-30:]) < 0.5 * loss[0]  # it learns: the suggestion is not uselessly small

    statuses = np.array([diagnose(trained_run(f"lr={lr:.2g}", TrainConfig(dataset=dataset, optimizer=optimizer,
                                                                            lr=float(lr), steps=300))).status
                         for lr in GRID])
    unhealthy_above = GRID[(GRID > suggested) & (statuses != "healthy")]
    assert len(unhealthy_above), "the grid must reach lrs too large to train with, or the band check is vacuous"
    # lrs far below the suggestion are flagged too (plateau: never learned or far too slow), so the healthy band
    # starts where the grid first trains healthily: the suggestion lies within one grid step of it
    assert GRID[statuses == "healthy"].min() <= suggested * 10**0.5 and suggested < unhealthy_above.min()
    if test.test.diverged_lr is not None:
        assert test.test.diverged_lr > suggested


def test_runs_past_the_divergence_are_a_finding_with_evidence():
    finder = TrainConfig(dataset="wine", lr=1e-7, schedule="range_test", range_end_lr=100.0, steps=200, log_val=False,
                         stop_on_nan=True)
    runs = [trained_run("finder-diverges", finder), trained_run("lr=30", TrainConfig(dataset="wine", lr=30.0, steps=60)),
            trained_run("lr=0.03", TrainConfig(dataset="wine", lr=0.03, steps=60)),
            trained_run("lr=30 adam", TrainConfig(dataset="wine", optimizer="adam", lr=30.0, steps=60))]
    context = build_context(runs)["0"]
    test = diagnose(runs[0], strict=True, context=context)
    past = next(f for f in test.findings if f.pattern == "lr_past_divergence")
    assert past.severity == "warning" and test.status == "warning"
    assert [r["run_name"] for r in past.evidence["runs"]] == ["lr=30"]  # adam diverges elsewhere: not compared
    assert 0.03 < past.evidence["diverged_lr"] < 30 and "past the point where the range test diverged" in past.message
    assert not any(f.pattern == "lr_past_divergence" for f in diagnose(runs[0], strict=True).findings)  # no context
    cited = diagnose(runs[1], strict=True, context=context).experiment_tests
    assert [t.run_name for t in cited] == ["finder-diverges"]


def test_a_range_test_too_short_to_read_says_so():
    short = TrainConfig(dataset="wine", lr=1e-4, schedule="range_test", range_end_lr=1e-2, steps=6, log_val=False)
    d = diagnose(trained_run("short", short, tags={"posthoc.kind": "lr_range_test"}), strict=True)
    assert d.kind == LR_RANGE_TEST and d.test.suggested_lr is None
    assert d.findings[0].severity == "warning" and "too few" in d.findings[0].message


def test_ema_bias_correction_and_valley():
    assert np.allclose(ema(np.full(5, 3.0)), 3.0)  # bias correction: a constant stays constant from the start
    curve = np.array([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 3.0, 9.0])
    assert 2 <= valley_index(curve) <= 5  # inside the longest decreasing stretch, before its bottom
