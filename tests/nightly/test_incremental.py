"""The job over real sqlite and file stores: incremental, RUNNING runs, failures that do not stop it."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from posthoc.errors import BadInput
from tests.conftest import QUICK
from tests.nightly.conftest import (
    HF_RUN,
    NAN_RUN,
    bump,
    nightly,
    reports,
    requires_report,
    state_runs,
    summary,
    temp_files,
    tree_digest,
)

pytestmark = requires_report


def test_incremental_new_changed_and_running(sqlite_store, tmp_path):
    out = tmp_path / "out"
    healthy = sqlite_store.add("healthy", QUICK, experiment="exp")
    nan = sqlite_store.add("nan", NAN_RUN, experiment="exp")
    running = sqlite_store.add("running", dataclasses.replace(QUICK, steps=60), experiment="exp", status="RUNNING")
    first = nightly(sqlite_store.uri, out, "--experiment", "exp", "--workers", "2")
    assert first.exit_code == 1, first.stderr  # the NaN run reached --fail-on failed
    night1 = summary(out)
    assert night1["analyzed_tonight"] == 3 and night1["runs_known"] == 3
    assert night1["counts"]["status"] == {"healthy": 2, "failed": 1}
    assert night1["counts"]["pattern"] == {"nan_inf": 1} and night1["still_running"] == 1
    assert [f["run_id"] for f in night1["new_failures"]] == [nan] and night1["errors"] == []
    assert reports(out) == {healthy, nan, running}
    assert state_runs(out)[running]["run_status"] == "RUNNING"
    umask = os.umask(0o022)
    os.umask(umask)
    for path in (out / "index.html", out / "summary.json", out / "runs" / f"{nan}.html"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes

    second = nightly(sqlite_store.uri, out, "--experiment", "exp", "--fail-on", "never")
    assert second.exit_code == 0, second.stderr
    night2 = summary(out)
    assert night2["analyzed_tonight"] == 1 and night2["runs_known"] == 3  # only the RUNNING run, again
    assert night2["new_failures"] == [] and night2["counts"]["status"] == {"healthy": 2, "failed": 1}
    assert "1 new or changed" in second.stderr

    sqlite_store.client.set_terminated(running)  # it finished: analyzed once more, then done
    bump(sqlite_store, healthy, value=float("nan"))  # and this one resumed and broke
    newcomer = sqlite_store.add("new", QUICK, experiment="exp")
    third = nightly(sqlite_store.uri, out, "--experiment", "exp")
    assert third.exit_code == 1
    night3 = summary(out)
    assert night3["analyzed_tonight"] == 3 and night3["runs_known"] == 4
    assert [f["run_id"] for f in night3["new_failures"]] == [healthy]  # the NaN run failed already last night
    records = state_runs(out)
    assert records[running]["run_status"] == "FINISHED"
    assert records[healthy]["diagnosis"]["findings"][0]["evidence"]["first_bad_step"] == QUICK.steps
    assert reports(out) == {healthy, nan, running, newcomer}

    fourth = nightly(sqlite_store.uri, out, "--experiment", "exp", "--fail-on", "never")
    assert fourth.exit_code == 0 and summary(out)["analyzed_tonight"] == 0
    assert summary(out)["runs_known"] == 4 and summary(out)["counts"]["status"] == {"healthy": 2, "failed": 2}
    assert temp_files(out) == []

    (out / "runs" / f"{newcomer}.html").unlink()  # a lost report is noticed and written again
    assert nightly(sqlite_store.uri, out, "--experiment", "exp").exit_code == 0  # only tonight's runs count
    assert summary(out)["analyzed_tonight"] == 1 and reports(out) == {healthy, nan, running, newcomer}


def test_every_experiment_and_deleted_runs(sqlite_store, tmp_path):
    out = tmp_path / "out"
    a = sqlite_store.add("a", QUICK, experiment="first")
    b = sqlite_store.add("b", QUICK, experiment="second")
    assert nightly(sqlite_store.uri, out).exit_code == 0
    assert set(summary(out)["experiments"]) == {"Default", "first", "second"} and reports(out) == {a, b}
    sqlite_store.client.delete_run(b)
    assert nightly(sqlite_store.uri, out).exit_code == 0
    assert reports(out) == {a} and set(state_runs(out)) == {a}  # a deleted run leaves the digest


def test_since_skips_older_runs(sqlite_store, tmp_path):
    out = tmp_path / "out"
    sqlite_store.add("old", QUICK, experiment="exp")
    result = nightly(sqlite_store.uri, out, "--experiment", "exp", "--since", "2999-01-01")
    assert result.exit_code == 0 and summary(out)["analyzed_tonight"] == 0 and reports(out) == set()
    assert nightly(sqlite_store.uri, out, "--since", "someday").exit_code == 2


def test_a_run_whose_analysis_raises_does_not_stop_the_job(sqlite_store, tmp_path, monkeypatch):
    """A detector that raises on one run and a report that cannot be rendered for another: bugs, since a bad
    config is refused on load; each costs only its own run."""
    import posthoc.report
    from posthoc.detectors import nan_inf

    out = tmp_path / "out"
    healthy = sqlite_store.add("healthy", QUICK, experiment="exp")
    nan = sqlite_store.add("nan", NAN_RUN, experiment="exp")
    hf = sqlite_store.add("hf", HF_RUN, experiment="exp")
    detect, render = nan_inf.detect, posthoc.report.render_run_report

    def failing_detect(run, roles, thresholds):
        if run.run_name == "nan":
            raise TypeError("'<' not supported between instances of 'str' and 'float'")
        return detect(run, roles, thresholds)

    def failing_render(diagnosis, *args, **kwargs):
        if diagnosis.run.run_name == "hf":
            raise TypeError("unhashable type: 'list'")
        return render(diagnosis, *args, **kwargs)

    monkeypatch.setattr(nan_inf, "detect", failing_detect)
    monkeypatch.setattr(posthoc.report, "render_run_report", failing_render)
    result = nightly(sqlite_store.uri, out, "--experiment", "exp", "--fail-on", "never",
                     "--workers", "1")  # in-process: the same outcome without a pool
    assert result.exit_code == 1, result.stderr  # not a failed run: the errors alone say "look at me"
    errors = {e["run_id"]: e for e in summary(out)["errors"]}
    assert set(errors) == {nan, hf}
    assert errors[hf]["stage"] == "analysis" and errors[hf]["error"].startswith("TypeError")
    assert errors[nan]["stage"] == "detector" and errors[nan]["error"].startswith("nan_inf: TypeError")
    assert reports(out) == {healthy, nan}  # the partial diagnosis is still reported; the crashed one is not
    records = state_runs(out)
    assert records[hf]["diagnosis"] is None and records[healthy]["diagnosis"]["status"] == "healthy"
    assert f"could not analyze {hf} 'hf' (analysis): TypeError" in result.stderr
    index = (out / "index.html").read_text()
    assert hf in index and "TypeError" in index  # the digest lists it with its error

    again = nightly(sqlite_store.uri, out, "--experiment", "exp", "--fail-on", "never")
    assert summary(out)["analyzed_tonight"] == 2 and again.exit_code == 1  # retried until it works
    monkeypatch.undo()
    fixed = nightly(sqlite_store.uri, out, "--experiment", "exp", "--fail-on", "never")
    assert fixed.exit_code == 0 and summary(out)["errors"] == [] and reports(out) == {healthy, nan, hf}
    assert summary(out)["counts"]["status"] == {"healthy": 2, "failed": 1}


def test_plain_run_never_writes_to_the_store(sqlite_store, file_store, tmp_path):
    for builder in (sqlite_store, file_store):
        builder.add("nan", NAN_RUN, experiment="exp")
        builder.add("running", QUICK, experiment="exp", status="RUNNING")
    for builder, name in ((sqlite_store, "sqlite"), (file_store, "files")):
        path = tmp_path / ("mlflow.db" if name == "sqlite" else "mlruns")
        before = tree_digest(path)
        out = tmp_path / f"out-{name}"
        result = nightly(builder.uri, out, "--experiment", "exp", "--workers", "2")
        assert result.exit_code == 1, result.stderr
        assert summary(out)["counts"]["status"] == {"healthy": 1, "failed": 1}
        assert json.loads((out / "summary.json").read_text())["analyzed_tonight"] == 2
        assert nightly(builder.uri, out, "--experiment", "exp").exit_code == 0  # a running, healthy run
        assert summary(out)["analyzed_tonight"] == 1
        assert tree_digest(path) == before, f"the {name} store was modified"


def test_bad_input_and_unreachable_store_exit_codes(sqlite_store, tmp_path):
    sqlite_store.add("healthy", QUICK, experiment="exp")
    out = tmp_path / "out"
    unknown = nightly(sqlite_store.uri, out, "--experiment", "nope")
    assert unknown.exit_code == 2
    assert unknown.stderr == f"posthoc: error: experiment 'nope' not found in {sqlite_store.uri}; check the name\n"
    assert not out.exists()
    missing = nightly(f"sqlite:///{tmp_path / 'none.db'}", tmp_path / "out-missing")
    assert missing.exit_code == 3 and "does not exist" in missing.stderr
    assert not (tmp_path / "out-missing").exists() and not (tmp_path / "none.db").exists()
    down = nightly("http://127.0.0.1:9", tmp_path / "out-down")
    assert down.exit_code == 3 and "is unreachable" in down.stderr
    assert nightly(sqlite_store.uri, out, "--workers", "0").exit_code == 2


def test_a_run_deleted_during_the_job_is_skipped(sqlite_store):
    """Selected, then deleted for good (`mlflow gc`) before it was read: skipped, not the end of the job."""
    from posthoc.nightly.job import read_batches
    from posthoc.store import open_store

    ids = [sqlite_store.add(name, QUICK, experiment="exp") for name in ("a", "b", "c")]
    store = open_store(sqlite_store.uri)
    experiment_ids = list(store.experiment_ids(["exp"]).values())
    sqlite_store.client.delete_run(ids[1])
    subprocess.run([sys.executable, "-m", "mlflow", "gc", "--backend-store-uri", sqlite_store.uri, "--tracking-uri", sqlite_store.uri,
                    "--run-ids", ids[1]],
                   check=True, capture_output=True)
    with pytest.raises(BadInput, match="not found"):
        list(store.iter_runs(ids))  # what the job would have died of
    assert [r.run_id for batch in read_batches(store, ids, experiment_ids) for r in batch] == [ids[0], ids[2]]
