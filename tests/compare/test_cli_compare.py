"""`posthoc compare` as a user meets it: JSON contract, text summary first, exit codes, one-line errors."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from tests.conftest import QUICK


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_json_contract_and_exit_0(sweeps_store):
    uri, runs, _ = sweeps_store
    path = uri.removeprefix("sqlite:///")
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    result = run("compare", "--experiment", "posthoc-sweeps", "--tracking-uri", uri, "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["experiment_id"] == runs[0].experiment_id and out["target"] == "val_loss"
    lr = out["comparisons"][0]
    assert lr["param"] == "lr" and lr["significant"] is True and lr["confounded"] is False and lr["confounders"] == []
    assert [v["value"] for v in lr["values"]] == [0.003, 0.03, 0.3, 30.0]
    assert lr["values"][3]["failures"] == 3 and lr["values"][3]["patterns"] == {"exploding_gradients": 3, "divergence": 3, "nan_inf": 3}
    confounded = {c["param"]: c["confounders"] for c in out["comparisons"] if c["confounded"]}
    assert confounded == {"schedule": ["warmup_steps"], "warmup_steps": ["schedule"]}
    assert out["summary"][0].startswith("lr 0.003 → 0.3 lowered best val_loss")
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before  # never writes to the store


def test_filter_runs_target_mode_and_out(sweeps_store, tmp_path):
    uri, runs, _ = sweeps_store
    result = run("compare", "-e", "posthoc-sweeps", "--tracking-uri", uri, "--filter", "params.lr < 1 AND params.lr > 0.01",
                 "--target", "val_acc", "--format", "json", "--out", str(tmp_path / "c.json"))
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == f"wrote {tmp_path / 'c.json'}\n"
    out = json.loads((tmp_path / "c.json").read_text())
    assert out["target"] == "val_acc" and out["outcome_metric"]["mode"] == "max"
    lr = [c for c in out["comparisons"] if c["param"] == "lr"][0]
    assert [v["value"] for v in lr["values"]] == [0.03, 0.3]
    ids = [r.run_id for r in runs if r.params["lr"] in ("0.003", "0.3")]
    result = run("compare", "--runs", ",".join(ids[:3]), "--runs", ",".join(ids[3:]), "--tracking-uri", uri,
                 "--mode", "max", "--format", "json")
    out = json.loads(result.stdout)
    (lr,) = out["comparisons"]
    assert sum(len(v["run_ids"]) for v in lr["values"]) == 6 and lr["best_value"] == 0.003  # max of a loss: worst lr wins


def test_text_puts_the_summary_first(sweeps_store):
    uri, _, _ = sweeps_store
    result = run("compare", "-e", "posthoc-sweeps", "--tracking-uri", uri, "--format", "text")
    lines = result.stdout.splitlines()
    assert lines[0] == "compare: 18 runs, outcome = best val_loss (min), failures 3"
    assert lines[2].startswith("• lr 0.003 → 0.3 lowered best val_loss")
    assert any(line.startswith("• warmup_steps moves with schedule (an exact function across these runs): confounded")
               for line in lines)
    assert "            30  3/3 failed (exploding_gradients)  exploding_gradients 3/3, divergence 3/3, nan_inf 3/3" in lines
    assert "NaN" not in result.stdout


@pytest.mark.parametrize("args, message", [
    ((), "posthoc: error: give --experiment NAME or --runs ID (see posthoc compare --help)\n"),
    (("-e", "nope"), "posthoc: error: experiment 'nope' not found in {uri}; check the name\n"),
    (("-e", "posthoc-sweeps", "--filter", "params.lr = 1 OR params.lr = 2"),
     "posthoc: error: --filter 'params.lr = 1 OR params.lr = 2': only AND joins conditions, got 'OR'; supported: "
     "params.NAME = 'value' | != | < | <= | > | >= NUMBER, joined by AND\n"),
    (("-e", "posthoc-sweeps", "--filter", "params.optimizer = 'adam'"),
     "posthoc: error: --filter \"params.optimizer = 'adam'\" matched none of the 18 runs\n"),
    (("-e", "posthoc-sweeps", "--target", "f1"),
     "posthoc: error: no run logged metric 'f1'; logged: grad_norm, lr, train_loss, val_acc, val_loss\n"),
    (("-e", "posthoc-sweeps", "--runs", "deadbeef"),
     "posthoc: error: run 'deadbeef' is not an active run of posthoc-sweeps; check the id\n"),
])
def test_bad_input_is_one_line_exit_2(sweeps_store, args, message):
    uri, _, _ = sweeps_store
    result = run("compare", *args, "--tracking-uri", uri)
    assert result.exit_code == 2 and result.stderr == message.format(uri=uri)


def test_bad_mode_is_exit_2_and_missing_store_exit_3(tmp_path):
    assert run("compare", "-e", "x", "--mode", "best").exit_code == 2
    result = run("compare", "-e", "x", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 3 and "does not exist" in result.stderr and not (tmp_path / "none.db").exists()


def test_demo_sweeps_prints_the_comparison_summary(sqlite_store):
    sqlite_store.add("tiny", QUICK, experiment="tiny-demo")  # an existing demo experiment is reused, not retrained
    result = run("demo", "--tracking-uri", sqlite_store.uri, "--experiment", "tiny-demo", "--sweeps")
    assert result.exit_code == 0, result.stderr
    assert "logged experiments 'posthoc-sweeps', 'posthoc-sweeps-hf'" in result.stderr
    plain, hf = result.stdout.split("posthoc compare --experiment posthoc-sweeps:\n", 1)[1].split(
        "posthoc compare --experiment posthoc-sweeps-hf:\n")
    assert plain.startswith("  lr 0.003 → 0.3 lowered best val_loss")
    assert "\n  warmup_steps moves with schedule (an exact function" in plain
    assert hf.startswith("  learning_rate 0.003 → 0.3 lowered best eval_loss")
    assert hf.endswith("\n  ignored: hub_model_id, logging_dir, output_dir and run_name (differ in every run)\n")


def test_html_report_of_a_real_comparison_in_chromium(sweeps_store, tmp_path):
    """compare --format html renders compare()'s own output: summary, tables with noise, no network."""
    from tests.report.test_browser import CHROMIUM, browse

    uri, _, _ = sweeps_store
    out = tmp_path / "compare.html"
    result = run("compare", "-e", "posthoc-sweeps", "--tracking-uri", uri, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    assert "lr 0.003 → 0.3 lowered best val_loss" in html and "confounded" in html
    if CHROMIUM is None:
        pytest.skip("Chromium is absent: install Debian's `chromium` package (.ci/run does) for the browser check")
    page = browse(html, tmp_path, "compare-cli")
    assert page.requests == [] and '<span class="mono param">lr</span>' in page.dom
