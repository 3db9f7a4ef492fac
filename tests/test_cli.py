"""The CLI as a user meets it: exit codes, one-line errors, JSON contract, nothing written to the store."""

import dataclasses
import hashlib
import json

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from tests.conftest import QUICK

NAN_RUN = dataclasses.replace(QUICK, corrupt_steps=(60,), corrupt_scale=float("inf"))


@pytest.fixture
def store(sqlite_store):
    sqlite_store.add("healthy", QUICK, experiment="exp")
    sqlite_store.add("nan", NAN_RUN, experiment="exp")
    return sqlite_store


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_analyze_json_contract(store):
    result = run("analyze", store.ids["nan"], "--tracking-uri", store.uri, "--format", "json")
    assert result.exit_code == 1  # a failed run reaches the default --fail-on
    out = json.loads(result.stdout)
    assert set(out) >= {"run_id", "run_name", "experiment_id", "run_status", "status", "primary", "findings", "roles",
                        "posthoc_version"}
    assert out["status"] == "failed" and out["primary"] == "nan_inf"
    finding = out["findings"][0]
    assert set(finding) == {"pattern", "severity", "confidence", "metric", "step_start", "step_end", "evidence",
                            "message", "suggestions"}
    assert finding["evidence"]["first_bad_step"] == 60 and finding["metric"] == "train_loss"
    assert out["roles"]["train_loss"] == "train_loss"


def test_analyze_experiment_jsonl_and_fail_on(store):
    result = run("analyze", "--experiment", "exp", "--tracking-uri", store.uri, "--format", "jsonl", "--fail-on", "never")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["run_name"]: line["status"] for line in lines} == {"healthy": "healthy", "nan": "failed"}


def test_analyze_text(store):
    result = run("analyze", store.ids["nan"], store.ids["healthy"], "--tracking-uri", store.uri, "--format", "text")
    assert "FAILED: nan_inf" in result.stdout and "HEALTHY" in result.stdout
    assert "roles: train_loss=train_loss" in result.stdout


def test_environment_variable_picks_the_store(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    assert run("analyze", store.ids["healthy"], "--format", "json").exit_code == 0


def test_unknown_run_is_one_line_exit_2(store):
    result = run("analyze", "deadbeef", "--tracking-uri", store.uri)
    assert result.exit_code == 2
    assert result.stderr == (f"posthoc: error: run 'deadbeef' not found in {store.uri}; check the id "
                             "(posthoc analyze --experiment NAME lists by experiment)\n")


def test_unknown_experiment_exit_2(store):
    result = run("analyze", "--experiment", "nope", "--tracking-uri", store.uri)
    assert result.exit_code == 2 and result.stderr == f"posthoc: error: experiment 'nope' not found in {store.uri}; check the name\n"


def test_missing_store_exit_3_and_not_created(tmp_path):
    result = run("analyze", "abc", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.exit_code == 3 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_server_down_exit_3():
    result = run("analyze", "abc", "--tracking-uri", "http://127.0.0.1:9")
    assert result.exit_code == 3 and result.stderr.startswith("posthoc: error: tracking server http://127.0.0.1:9 is unreachable")


def test_debug_shows_traceback(tmp_path):
    result = run("analyze", "abc", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}", "--debug")
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_no_arguments_is_bad_input():
    result = run("analyze")
    assert result.exit_code == 2 and "give one or more RUN_IDS or --experiment NAME" in result.stderr


def test_analyze_never_writes_to_the_store(store, tmp_path):
    path = store.uri.removeprefix("sqlite:///")
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    run("analyze", "--experiment", "exp", "--tracking-uri", store.uri, "--out", str(tmp_path / "out.json"))
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before
    assert json.loads((tmp_path / "out.json").read_text())[0]["run_name"] == "healthy"


def test_analyze_over_http_and_file_store(server_store, file_store):
    for builder in (server_store, file_store):
        run_id = builder.add("nan-" + builder.uri[-6:], NAN_RUN)
        result = run("analyze", run_id, "--tracking-uri", builder.uri, "--format", "json")
        assert json.loads(result.stdout)["primary"] == "nan_inf", result.stderr


def test_demo_builds_and_summarizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run("demo", "--no-sweeps")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "mlflow.db").exists()
    lines = {line.split()[2]: line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert lines["nan-corrupted-batch"] == "FAILED"
    # the debugging guides' tests logged next to the runs, and recognition fires on nothing else
    assert (lines["one-batch-overfit"], lines["one-batch-overfit-dead-relu"]) == ("HEALTHY", "FAILED")
    from posthoc.demo.runs import DEMO_TESTS
    from posthoc.kinds import TRAINING, recognize
    from posthoc.roles import resolve_roles
    from posthoc.store import load_runs, open_store

    store = open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    demo_runs = load_runs(store, store.run_ids(list(store.experiment_ids(["posthoc-demo"]).values())))
    kinds = {r.run_name: recognize(r, resolve_roles(r)).kind for r in demo_runs}
    assert {name for name, kind in kinds.items() if kind != TRAINING} == {name for name, _ in DEMO_TESTS}
    assert kinds["lr-range-test"] == "lr_range_test" and kinds["one-batch-overfit"] == "one_batch_test"
    again = run("demo", "--no-sweeps")  # a second demo reuses the experiment instead of logging duplicates
    assert "reused experiment" in again.stderr and again.stdout == result.stdout


def test_demo_on_file_store_without_opt_in_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    result = run("demo", "--tracking-uri", str(tmp_path / "mlruns"))
    assert result.exit_code == 2 and "MLFLOW_ALLOW_FILE_STORE=true" in result.stderr


def test_run_without_metrics_is_inconclusive_not_healthy(sqlite_store):
    sqlite_store.add("x")
    bare = sqlite_store.client.create_run(sqlite_store.experiment("tests"), run_name="bare").info.run_id
    result = run("analyze", bare, "--tracking-uri", sqlite_store.uri, "--format", "text")
    assert result.exit_code == 0 and "INCONCLUSIVE" in result.stdout and "RUNNING" in result.stdout
    assert "the run logged no metrics: nothing to judge" in result.stdout
    out = json.loads(run("analyze", bare, "--tracking-uri", sqlite_store.uri, "--format", "json").stdout)
    assert (out["status"], out["primary"], out["findings"][0]["pattern"]) == ("inconclusive", "inconclusive",
                                                                              "insufficient_data")
    assert run("analyze", bare, "--tracking-uri", sqlite_store.uri, "--fail-on", "warning").exit_code == 0
    assert run("analyze", bare, "--tracking-uri", sqlite_store.uri, "--fail-on", "inconclusive").exit_code == 1


def test_a_bug_is_one_line_and_debug_never_asks_for_debug():
    import click

    from posthoc.cli import PosthocGroup, store_options

    @click.group(cls=PosthocGroup)
    def group():
        pass

    @group.command()
    @store_options
    def boom(tracking_uri, config_path):
        raise RuntimeError("a bug\nover two lines")

    plain = CliRunner().invoke(group, ["boom"])
    assert plain.exit_code == 1 and plain.stderr == "posthoc: internal error: RuntimeError: a bug over two lines (rerun with --debug)\n"
    debug = CliRunner().invoke(group, ["boom", "--debug"])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1] == "posthoc: internal error: RuntimeError: a bug over two lines"


def test_usage_errors_are_one_line():
    result = run("analyze", "--format", "xml", "abc")
    assert result.exit_code == 2
    assert result.stderr == ("posthoc: error: Invalid value for '--format': 'xml' is not one of 'text', 'json', 'jsonl', "
                             "'html' (see cli analyze --help)\n")
