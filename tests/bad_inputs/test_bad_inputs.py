"""Bad and odd inputs, as a new user tries them: each gives its exit code and ONE stderr line that says what
to do (exact, or its stable start when it ends in …), and no store or input file changes by a byte."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from posthoc.cli import cli

A = "analyze"
NOT_LISTED = "(posthoc analyze --experiment NAME lists by experiment)"
CASES = [  # (id, arguments, exit code, stderr line, text stdout must hold)
    # the store: missing, wrong kind, corrupt, unreachable
    ("missing sqlite file", [A, "x", "--tracking-uri", "sqlite:///{tmp}/none.db"], 3,
     "posthoc: error: no MLflow store at {tmp}/none.db: the file does not exist; check --tracking-uri (run `posthoc demo` to create a demo store)", None),
    ("sqlite URI naming a directory", [A, "x", "--tracking-uri", "sqlite:///{tmp}/empty"], 3,
     "posthoc: error: no MLflow store at {tmp}/empty: it is a directory, not a sqlite file; check --tracking-uri (a ./mlruns file store is given as a path, without sqlite:///)", None),
    ("garbage sqlite file", [A, "x", "--tracking-uri", "sqlite:///{tmp}/garbage.db"], 3,
     "posthoc: error: cannot read {tmp}/garbage.db as an MLflow sqlite store: file is not a database", None),
    ("empty sqlite file", [A, "x", "--tracking-uri", "sqlite:///{tmp}/empty.db"], 3, "posthoc: error: cannot read {tmp}/empty.db…", None),
    ("missing directory", [A, "x", "--tracking-uri", "{tmp}/nowhere"], 3,
     "posthoc: error: no MLflow store at {tmp}/nowhere: the directory does not exist; check --tracking-uri", None),
    ("empty directory", [A, "x", "--tracking-uri", "{tmp}/empty"], 3,
     "posthoc: error: no MLflow store at {tmp}/empty: the directory holds no experiment (no <experiment id>/meta.yaml); check --tracking-uri", None),
    ("directory of other files", ["nightly", "--tracking-uri", "{tmp}/junk", "--out", "{tmp}/out-junk"], 3,
     "posthoc: error: no MLflow store at {tmp}/junk: the directory holds no experiment (no <experiment id>/meta.yaml); check --tracking-uri", None),
    ("a text file as the store", [A, "x", "--tracking-uri", "{tmp}/notes.txt"], 3,
     "posthoc: error: no MLflow store at {tmp}/notes.txt: it is a file, not a store directory; a sqlite store is given as sqlite:///{tmp}/notes.txt", None),
    ("unsupported scheme", [A, "x", "--tracking-uri", "ftp://example.com/mlflow"], 2,
     "posthoc: error: unsupported tracking URI 'ftp://example.com/mlflow'…", None),
    ("server down", [A, "x", "--tracking-uri", "http://127.0.0.1:9"], 3,
     "posthoc: error: tracking server http://127.0.0.1:9 is unreachable (ConnectionError); is `mlflow server` running there?", None),
    ("server answering 503", [A, "x", "--tracking-uri", "{down}"], 3,
     "posthoc: error: tracking server {down} answered 503 Service Unavailable to GET /health; it is down or overloaded: try again later", None),
    ("credentials in the URI are redacted", [A, "x", "--tracking-uri", "http://alice:s3cret@127.0.0.1:9"], 3,
     "posthoc: error: tracking server http://alice:***@127.0.0.1:9 is unreachable (ConnectionError); is `mlflow server` running there?", None),
    ("a token in the URI is redacted", ["nightly", "--tracking-uri", "https://ghp_t0ken@127.0.0.1:9", "--out", "{tmp}/out-token"], 3,
     "posthoc: error: tracking server https://***@127.0.0.1:9 is unreachable (ConnectionError); is `mlflow server` running there?", None),
    # runs and experiments
    ("unknown run id", [A, "0123456789abcdef0123456789abcdef", "--tracking-uri", "{sqlite}"], 2,
     "posthoc: error: run '0123456789abcdef0123456789abcdef' not found in {sqlite}; check the id " + NOT_LISTED, None),
    ("unknown short id", [A, "ffff0000", "--tracking-uri", "{files}"], 2,
     "posthoc: error: run 'ffff0000' not found in {files}; check the id " + NOT_LISTED, None),
    ("ambiguous prefix", [A, "abcd", "--tracking-uri", "{files}"], 2,
     "posthoc: error: run id prefix 'abcd' is ambiguous: it matches {twin_a}, {twin_b}; give more characters", None),
    ("unique prefix", [A, "abcd5", "--tracking-uri", "{files}", "--format", "jsonl"], 0, "", '"run_id": "{twin_b}"'),
    ("12-character prefix from text output", [A, "{run_healthy:.12}", "--tracking-uri", "{sqlite}", "--format", "text"], 0, "", "HEALTHY"),
    ("path-like run id", [A, "../../etc/passwd", "--tracking-uri", "{files}"], 2, "posthoc: error: run '../../etc/passwd' not found in…", None),
    ("unknown experiment", [A, "--experiment", "nope", "--tracking-uri", "{sqlite}"], 2,
     "posthoc: error: experiment 'nope' not found in {sqlite}; check the name", None),
    ("experiment without runs", [A, "--experiment", "empty-experiment", "--tracking-uri", "{sqlite}"], 2,
     "posthoc: error: experiment empty-experiment has no active runs", None),
    ("nothing to analyze", [A, "--tracking-uri", "{sqlite}"], 2,
     "posthoc: error: give one or more RUN_IDS or --experiment NAME (see posthoc analyze --help)", None),
    # verdicts without evidence
    ("only unrecognized metric names", [A, "{run_foo_bar_only}", "--tracking-uri", "{sqlite}", "--format", "text"], 0, "",
     'no training loss resolved among: bar, foo; map one with [tool.posthoc.roles] train_loss = ["bar"]'),
    ("a single point", [A, "{run_one_point}", "--tracking-uri", "{sqlite}", "--format", "text"], 0, "",
     "train_loss logged 1 finite point(s); the training-loss checks need at least 8"),
    ("no metrics", [A, "{run_no_metrics}", "--tracking-uri", "{sqlite}", "--format", "json"], 0, "", '"status": "inconclusive"'),
    ("--fail-on inconclusive", [A, "--experiment", "odd", "--tracking-uri", "{sqlite}", "--fail-on", "inconclusive",
                                "--format", "jsonl"], 1, "", '"primary": "inconclusive"'),
    # one bad file in a file store: that run is unreadable, the others are analyzed
    ("half-written metric line", [A, "--experiment", "torn-line", "--tracking-uri", "{files}", "--format", "jsonl"], 0, "",
     "unreadable: metrics/train_loss line 121 is not 'timestamp value step': '1764551234567 0.41'"),
    ("garbage metric file", [A, "--experiment", "garbage", "--tracking-uri", "{files}", "--format", "jsonl"], 0, "",
     "unreadable: metrics/train_loss line 1 is not 'timestamp value step'"),
    ("non-UTF-8 param file", [A, "--experiment", "not-utf8", "--tracking-uri", "{files}", "--format", "jsonl"], 0, "",
     "unreadable: params/lr is not UTF-8 text"),
    ("malformed run meta.yaml", [A, "--experiment", "bad-meta", "--tracking-uri", "{files}", "--format", "jsonl"], 0, "",
     "unreadable: meta.yaml is not valid YAML at line 2"),
    # options (click's usage errors, made one line)
    ("unknown option", [A, "--bogus"], 2, "posthoc: error: No such option '--bogus'…", None),
    ("unknown command", ["analyse", "x"], 2, "posthoc: error: No such command 'analyse'…", None),
    ("bad --format", [A, "x", "--format", "xml"], 2,
     "posthoc: error: Invalid value for '--format': 'xml' is not one of 'text', 'json', 'jsonl', 'html' (see cli analyze --help)", None),
    ("bad --fail-on", [A, "x", "--fail-on", "sometimes"], 2, "posthoc: error: Invalid value for '--fail-on'…", None),
    ("nightly without --out", ["nightly"], 2, "posthoc: error: Missing option '--out' (see cli nightly --help)", None),
    ("--workers 0", ["nightly", "--out", "{tmp}/o", "--workers", "0"], 2,
     "posthoc: error: Invalid value for '--workers': 0 is not in the range 1<=x<=64 (see cli nightly --help)", None),
    ("bad --since", ["nightly", "--out", "{tmp}/out-since", "--since", "yesterday", "--tracking-uri", "{sqlite}"], 2,
     "posthoc: error: --since 'yesterday' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM", None),
    ("bad --filter", ["compare", "--experiment", "exp", "--tracking-uri", "{sqlite}", "--filter", "params.lr <"], 2, "posthoc: error: …", None),
    ("--target never logged", ["compare", "--experiment", "exp", "--tracking-uri", "{sqlite}", "--target", "nope"], 2,
     "posthoc: error: no run logged metric 'nope'…", None),
    # config: checked on load, one line naming the key
    ("config file missing", [A, "x", "--config", "{cfg}/none.toml"], 2, "posthoc: error: config file {cfg}/none.toml not found", None),
    ("config syntax error", [A, "x", "--config", "{cfg}/syntax.toml"], 2, "posthoc: error: cannot parse {cfg}/syntax.toml: …", None),
    ("config not UTF-8", [A, "x", "--config", "{cfg}/not-utf8.toml"], 2, "posthoc: error: cannot parse {cfg}/not-utf8.toml: …", None),
    ("threshold of the wrong type", [A, "x", "--config", "{cfg}/wrong-type.toml"], 2,
     "posthoc: error: {cfg}/wrong-type.toml: tool.posthoc.thresholds.nan_inf.growth_ratio = 'ten' must be a number (default 10.0)", None),
    ("negative threshold", [A, "x", "--config", "{cfg}/negative.toml"], 2,
     "posthoc: error: {cfg}/negative.toml: tool.posthoc.thresholds.divergence.min_rise_ratio = -0.5 must be a finite number >= 0 (default 0.25)", None),
    ("NaN threshold", [A, "x", "--config", "{cfg}/nan.toml"], 2,
     "posthoc: error: {cfg}/nan.toml: tool.posthoc.thresholds.divergence.min_rise_ratio = nan must be a finite number >= 0 (default 0.25)", None),
    ("fractional count", [A, "x", "--config", "{cfg}/float-count.toml"], 2,
     "posthoc: error: {cfg}/float-count.toml: tool.posthoc.thresholds.divergence.min_points = 2.5 must be a whole number >= 1 (default 8)", None),
    ("boolean threshold", [A, "x", "--config", "{cfg}/bool.toml"], 2,
     "posthoc: error: {cfg}/bool.toml: tool.posthoc.thresholds.loss_spikes.spike_ratio = True must be a number (default 3.0)", None),
    ("unknown threshold", [A, "x", "--config", "{cfg}/unknown-threshold.toml"], 2,
     "posthoc: error: {cfg}/unknown-threshold.toml: unknown key tool.posthoc.thresholds.nan_inf.growth (did you mean growth_ratio?); known: lead_up_points, growth_ratio", None),
    ("unknown pattern", [A, "x", "--config", "{cfg}/unknown-pattern.toml"], 2,
     "posthoc: error: {cfg}/unknown-pattern.toml: unknown key tool.posthoc.thresholds.nan_ifn (did you mean nan_inf?); known: …", None),
    ("misspelled role", [A, "x", "--config", "{cfg}/misspelled-role.toml"], 2,
     "posthoc: error: {cfg}/misspelled-role.toml: unknown key tool.posthoc.roles.train_los (did you mean train_loss?); known: train_loss, val_loss, grad_norm, lr, train_acc, val_acc", None),
    ("role that is not a list", [A, "x", "--config", "{cfg}/role-not-list.toml"], 2,
     'posthoc: error: {cfg}/role-not-list.toml: tool.posthoc.roles.train_loss must be a list of metric names, e.g. train_loss = ["my_metric"]', None),
    ("misspelled section", [A, "x", "--config", "{cfg}/unknown-section.toml"], 2,
     "posthoc: error: {cfg}/unknown-section.toml: unknown key tool.posthoc.threshold (did you mean thresholds?); known: roles, thresholds, replicate_params, ignore_params", None),
    ("replicate_params of numbers", ["compare", "-e", "exp", "--config", "{cfg}/replicate-numbers.toml"], 2,
     "posthoc: error: {cfg}/replicate-numbers.toml: tool.posthoc.replicate_params must be a list of param names, e.g. replicate_params = [\"seed\"]", None),
    ("unknown key at a posthoc.toml's top", [A, "x", "--config", "{cfg}/top-level-posthoc.toml"], 2,
     "posthoc: error: {cfg}/top-level-posthoc.toml: unknown key rolez (did you mean roles?); known: roles, thresholds, replicate_params, ignore_params", None),
    # output
    ("--out under a file", [A, "{run_healthy}", "--tracking-uri", "{sqlite}", "--out", "{file}/report.json"], 2,
     "posthoc: error: cannot write {file}/report.json: {file} is a file, not a directory; choose another --out", None),
    ("nightly --out under a file", ["nightly", "--tracking-uri", "{sqlite}", "--out", "{file}/nightly"], 2,
     "posthoc: error: cannot write {file}/nightly: {file} is a file, not a directory; choose another --out", None),
    ("--out is a directory", [A, "{run_healthy}", "--tracking-uri", "{sqlite}", "--format", "json", "--out", "{tmp}/empty"], 2,
     "posthoc: error: --out {tmp}/empty is a directory; give a file path", None),
    ("nightly --out is a file", ["nightly", "--tracking-uri", "{sqlite}", "--out", "{file}"], 2,
     "posthoc: error: Invalid value for '--out': Directory '{file}' is a file (see cli nightly --help)", None),
    ("html of several runs without --out", [A, "--experiment", "exp", "--tracking-uri", "{sqlite}", "--format", "html"], 2,
     "posthoc: error: --format html with several runs writes one report per run: give --out DIR (a directory)", None),
    # --debug never asks to rerun with --debug
    ("--debug keeps one error line last", [A, "x", "--tracking-uri", "sqlite:///{tmp}/none.db", "--debug"], 3, None, None),
]


def fill(text: str, places: dict) -> str:
    return text.format(**places)


@pytest.mark.parametrize("name, args, code, stderr, stdout", CASES, ids=[case[0] for case in CASES])
def test_bad_input(world, monkeypatch, name, args, code, stderr, stdout):
    monkeypatch.chdir(world.tmp)  # no ./pyproject.toml or ./mlflow.db of the repo is read
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = world.digests()
    result = CliRunner().invoke(cli, [fill(a, world.places) for a in args])
    assert result.exit_code == code, (result.stdout[-500:], result.stderr)
    lines = result.stderr.splitlines()
    if stderr is None:  # --debug: a traceback, then the one error line, never "(rerun with --debug)"
        assert "Traceback" in result.stderr and lines[-1].startswith("posthoc: error: ") and "--debug" not in lines[-1]
    elif stderr == "":
        assert [line for line in lines if not line.startswith("wrote ")] == []
    else:
        expected = fill(stderr, world.places)
        assert len(lines) == 1, result.stderr
        if expected.endswith("…"):
            assert lines[0].startswith(expected[:-1]), lines[0]
        else:
            assert lines[0] == expected
    if stdout is not None:
        assert fill(stdout, world.places) in result.stdout
    assert world.digests() == before, "an input or store changed"


def test_unreadable_runs_do_not_hide_the_others(world, monkeypatch):
    """Every corrupt run is listed as unreadable with its reason; its readable sibling is diagnosed."""
    monkeypatch.chdir(world.tmp)
    for how in ("torn-line", "garbage", "not-utf8", "bad-meta"):
        result = CliRunner().invoke(cli, [A, "--experiment", how, "--tracking-uri", world.files.uri, "--format", "jsonl"])
        out = {d["run_id"]: d for d in map(json.loads, result.stdout.splitlines())}
        bad = out.pop(world.places[f"bad_{how.replace('-', '_')}"])
        assert bad["status"] == "inconclusive" and bad["findings"][0]["message"].startswith("unreadable: ")
        assert [d["status"] for d in out.values()] == ["healthy"]


def test_nightly_reports_unreadable_runs_and_analyzes_the_rest(world, monkeypatch, tmp_path):
    monkeypatch.chdir(world.tmp)
    before = world.digests()
    out = tmp_path / "nightly"
    result = CliRunner().invoke(cli, ["nightly", "--tracking-uri", world.files.uri, "--out", str(out), "--workers", "1"])
    assert result.exit_code == 1, result.stderr  # runs could not be read: cron must look
    summary = json.loads((out / "summary.json").read_text())
    unreadable = {e["run_id"]: e["error"] for e in summary["errors"] if e["stage"] == "read"}
    assert set(unreadable) == {world.places[f"bad_{how}"] for how in ("torn_line", "garbage", "not_utf8", "bad_meta")}
    assert all(message.startswith("unreadable: ") for message in unreadable.values())
    assert summary["tonight"]["status"]["healthy"] >= 5 and summary["analyzed_tonight"] == summary["runs_known"]
    assert world.digests() == before


def test_server_failing_after_its_health_check_gives_up_within_ten_seconds(world, monkeypatch):
    """/health answers 200 but every API call 503: MLflow's client would retry for about four minutes."""
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(name, raising=False)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, [A, "--experiment", "exp", "--tracking-uri", world.places["half"]])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 3 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"posthoc: error: tracking store {world.places['half']} failed: ")
    assert "503" in result.stderr and elapsed < 15, elapsed


def test_a_full_disk_is_one_line_exit_1_and_leaves_no_partial_file(world, tmp_path):
    """A file-size limit stands in for a full disk (EFBIG like ENOSPC): the write fails half-way."""
    target = tmp_path / "report.json"

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the error, not the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    before = world.digests()
    result = subprocess.run([sys.executable, "-m", "posthoc", A, "--experiment", "exp", "--tracking-uri",
                             world.sqlite.uri, "--format", "json", "--out", str(target)], cwd=tmp_path,
                            capture_output=True, text=True, preexec_fn=small_files, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"posthoc: error: cannot write {target}: File too large\n"
    assert list(tmp_path.iterdir()) == [] and world.digests() == before


def test_nightly_counts_inconclusive_runs_apart(world, monkeypatch, tmp_path):
    monkeypatch.chdir(world.tmp)
    out = tmp_path / "nightly"
    args = ["nightly", "--tracking-uri", world.sqlite.uri, "--out", str(out), "--experiment", "odd", "--workers", "1"]
    assert CliRunner().invoke(cli, args).exit_code == 0  # --fail-on failed: nothing failed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["status"] == {"inconclusive": 3} and summary["counts"]["primary"] == {"inconclusive": 3}
    index = (out / "index.html").read_text()
    assert "3 INCONCLUSIVE" in index and "no training loss resolved among: bar, foo" in index
    assert CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "again"), "--fail-on", "inconclusive"]).exit_code == 1
