"""--write-tags and --attach through the MLflow client, on sqlite and on a real `mlflow server`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from posthoc import __version__
from tests.conftest import QUICK
from tests.nightly.conftest import (
    NAN_RUN,
    nightly,
    requires_report,
    state_runs,
    summary,
)

pytestmark = requires_report
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", ["sqlite", "server"])
def test_write_tags_and_attach(kind, sqlite_store, request, tmp_path):
    builder = sqlite_store if kind == "sqlite" else request.getfixturevalue("server_store")
    experiment = f"writeback-{kind}-{tmp_path.name}"
    healthy = builder.add("healthy", QUICK, experiment=experiment)
    nan = builder.add("nan", NAN_RUN, experiment=experiment)
    out = tmp_path / "out"
    result = nightly(builder.uri, out, "--experiment", experiment, "--write-tags", "--attach", "--workers", "2")
    assert result.exit_code == 1, result.stderr
    assert summary(out)["errors"] == []
    for run_id, status, primary in ((healthy, "healthy", "healthy"), (nan, "failed", "nan_inf")):
        tags = builder.client.get_run(run_id).data.tags
        assert (tags["posthoc.status"], tags["posthoc.primary"], tags["posthoc.version"]) == (status, primary, __version__)
        assert [a.path for a in builder.client.list_artifacts(run_id, "posthoc")] == ["posthoc/report.html"]
        local = builder.client.download_artifacts(run_id, "posthoc/report.html", str(tmp_path))
        assert open(local).read() == (out / "runs" / f"{run_id}.html").read_text()
    # tags and artifacts do not make a run look changed: the next night has nothing to do
    assert nightly(builder.uri, out, "--experiment", experiment, "--write-tags").exit_code == 0
    assert summary(out)["analyzed_tonight"] == 0 and all(r["writeback_error"] is None for r in state_runs(out).values())


def test_without_flags_no_tags(sqlite_store, tmp_path):
    run_id = sqlite_store.add("healthy", QUICK, experiment="exp")
    assert nightly(sqlite_store.uri, tmp_path / "out", "--experiment", "exp").exit_code == 0
    assert not any(k.startswith("posthoc.") for k in sqlite_store.client.get_run(run_id).data.tags)
    assert sqlite_store.client.list_artifacts(run_id) == []


def test_file_store_write_back_and_its_opt_in(file_store, tmp_path):
    run_id = file_store.add("nan", NAN_RUN, experiment="exp")
    out = tmp_path / "out"
    # a fresh process: MLflow caches its store objects, so only a new process sees the missing opt-in
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_ALLOW_FILE_STORE"}
    refused = subprocess.run([sys.executable, "-m", "posthoc", "nightly", "--tracking-uri", file_store.uri, "--out",
                              str(out), "--experiment", "exp", "--write-tags"], cwd=ROOT, env=environment,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and not out.exists()
    assert refused.stderr == (f"posthoc: error: MLflow 3 writes file stores such as {file_store.uri} only with "
                              "MLFLOW_ALLOW_FILE_STORE=true: set it for --write-tags / --attach, or drop those flags\n")
    result = nightly(file_store.uri, out, "--experiment", "exp", "--write-tags", "--attach")
    assert result.exit_code == 1 and summary(out)["errors"] == [], result.stderr
    assert file_store.client.get_run(run_id).data.tags["posthoc.primary"] == "nan_inf"
    assert (tmp_path / "mlruns").exists() and [a.path for a in file_store.client.list_artifacts(run_id, "posthoc")] == [
        "posthoc/report.html"]
