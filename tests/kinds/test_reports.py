"""What a user sees: every run of the experiment cites its tests; the range test's report charts loss vs lr."""

import json

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.demo.loops import TrainConfig
from posthoc.nightly.state import report_path

WINE = dict(dataset="wine", hidden=16)


@pytest.fixture(scope="module")
def experiment(kinds_store):
    runs = {
        "overfit-one-batch": TrainConfig(optimizer="adam", lr=0.01, train_subset=16, batch_size=16, steps=120,
                                         log_val=False, **WINE),
        "finder": TrainConfig(lr=1e-7, schedule="range_test", range_end_lr=100.0, steps=200, log_val=False,
                              stop_on_nan=True, **WINE),
        "lr=0.05": TrainConfig(lr=0.05, steps=150, **WINE),
        "lr=50": TrainConfig(lr=50.0, steps=150, **WINE),
    }
    for name, config in runs.items():
        kinds_store.add(name, config, experiment="reports")
    return kinds_store


def analyze(store, name, fmt, *more):
    return CliRunner().invoke(cli, ["analyze", store.ids[name], "--tracking-uri", store.uri, "--format", fmt, *more])


def test_text_ends_with_the_training_debug_report(experiment):
    text = analyze(experiment, "lr=0.05", "text").stdout
    report = text[text.index("Training Debug Report"):]
    assert "Single Batch Test: PASSED in run 'overfit-one-batch' (loss " in report and "memorized" in report
    assert "LR Range Test: lr=0.05, below where the loss diverged; range test in run 'finder' suggests" in report
    assert "Training (first 150 steps): loss " in report and "Grad norm: range [" in report and "(stable)" in report
    assert "Val loss: " in report and report.rstrip().endswith("Status: HEALTHY")


def test_json_gains_the_kind_and_the_cited_tests(experiment):
    past = json.loads(analyze(experiment, "lr=50", "json").stdout)
    assert past["kind"] == "training" and {t["run_name"] for t in past["experiment_tests"]} == {"overfit-one-batch", "finder"}
    finder = json.loads(analyze(experiment, "finder", "json").stdout)
    assert (finder["kind"], finder["kind_source"]) == ("lr_range_test", "data")
    assert finder["lr_range_test"]["suggested_lr"] < finder["lr_range_test"]["diverged_lr"] < 50
    past_finding = next(f for f in finder["findings"] if f["pattern"] == "lr_past_divergence")
    assert [r["run_name"] for r in past_finding["evidence"]["runs"]] == ["lr=50"]


def test_an_experiment_too_large_to_read_is_said_so_not_called_empty(experiment, monkeypatch):
    import posthoc.cli

    monkeypatch.setattr(posthoc.cli, "CONTEXT_MAX_RUNS", 2)  # the experiment holds more runs than that
    assert json.loads(analyze(experiment, "lr=0.05", "json").stdout)["experiment_tests"] is None
    text = analyze(experiment, "lr=0.05", "text").stdout
    assert "Single Batch Test: not checked: the experiment's other runs were not read" in text


def test_html_checklist_cites_the_tests_and_the_range_test_has_its_chart(experiment, tmp_path):
    analyze(experiment, "lr=50", "html", "--out", str(tmp_path / "past.html"))
    html = (tmp_path / "past.html").read_text()
    assert "passed in run &#39;overfit-one-batch&#39;: loss" in html
    assert "lr=50 is past the point where the range test in run &#39;finder&#39;" in html
    analyze(experiment, "finder", "html", "--out", str(tmp_path / "finder.html"))
    finder = (tmp_path / "finder.html").read_text()
    assert 'class="chart line lr-range wide"' in finder and 'class="chart line lr-range narrow"' in finder
    assert ">suggested " in finder and ">diverged " in finder


def test_nightly_reports_cite_the_tests_found_tonight_and_on_earlier_nights(experiment, tmp_path):
    def night():
        result = CliRunner().invoke(cli, ["nightly", "--experiment", "reports", "--out", str(tmp_path / "night"),
                                          "--workers", "1", "--tracking-uri", experiment.uri])
        assert result.exit_code in (0, 1), result.stderr  # 1: the lr=50 run failed, as it should

    def cites(name):
        html = report_path(tmp_path / "night", experiment.ids[name]).read_text()
        return "passed in run &#39;overfit-one-batch&#39;: loss" in html

    night()
    assert cites("lr=0.05")
    experiment.add("lr=0.05 later", TrainConfig(lr=0.05, steps=150, seed=1, **WINE), experiment="reports")
    night()  # analyzes only the new run; the one-batch test is known from the first night
    assert cites("lr=0.05 later")
