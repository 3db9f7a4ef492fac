"""Reading a live sqlite store never disturbs it: no lock a writer waits on, no migration, no file created."""

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.store import load_runs, open_store
from tests.conftest import QUICK

SHORT = dataclasses.replace(QUICK, steps=40)

# A training script logging through MLflow while we read. MLflow 3 sets a 20 s busy timeout on each session;
# scripts with their own engines (and MLflow 2) use sqlite's 5 s default or less: we test a 1 s one.
WRITER = '''
import json, sys, time
import sqlalchemy
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute", retval=True)
def one_second_busy_timeout(conn, cursor, statement, parameters, context, executemany):
    if statement.startswith("PRAGMA busy_timeout"):
        statement = "PRAGMA busy_timeout = 1000;"
    return statement, parameters

uri, experiment_id, stop_file = sys.argv[1:]
client = MlflowClient(tracking_uri=uri)
run_id = client.create_run(experiment_id, run_name="training").info.run_id
print("ready", flush=True)
stamps, errors, step = [], [], 0
while True:
    try:
        client.log_batch(run_id, metrics=[Metric("train_loss", 1.0 / (step + 1), int(time.time() * 1000), step)])
        stamps.append(time.time())
    except Exception as exc:
        errors.append(str(exc).splitlines()[0][:200])
    step += 1
    try:
        open(stop_file).close()
        break
    except OSError:
        time.sleep(0.02)
print(json.dumps({"stamps": stamps, "errors": errors}))
'''


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_copy(sqlite_store, tmp_path) -> Path:
    """A one-run store copied alone into its own folder, whose listing then shows any file a reader creates."""
    sqlite_store.add("a", SHORT)
    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "mlflow.db"
    shutil.copy(sqlite_store.uri.removeprefix("sqlite:///"), path)
    return path


def _add_long_metric(path: Path, run_ids: list[str], points: int) -> None:
    """`points` rows of metric 'long_loss' per run in MLflow's own schema, in bulk (as scripts/bench_read.py
    builds its store): logging a million points through MLflow's client would take minutes."""
    with sqlite3.connect(path) as db:
        for run_id in run_ids:
            db.execute(
                "WITH RECURSIVE s(step) AS (SELECT 0 UNION ALL SELECT step + 1 FROM s WHERE step + 1 < ?) "
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "SELECT 'long_loss', 1.0 / (step + 1), 1700000000000 + step, ?, step, 0 FROM s",
                (points, run_id),
            )
            db.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, 0, ?)",
                ("long_loss", 1.0 / points, 1700000000000 + points - 1, points - 1, run_id),
            )


def test_a_training_script_logging_while_nightly_reads_never_sees_a_lock(sqlite_store, tmp_path):
    """2M metric rows: read in one transaction they hold sqlite's lock for seconds (the writer's commit
    then fails after its 1 s busy timeout); read in short transactions, the writer never notices."""
    for index in range(4):
        sqlite_store.add(f"run-{index}", SHORT, experiment="big")
    path = Path(sqlite_store.uri.removeprefix("sqlite:///"))
    _add_long_metric(path, list(sqlite_store.ids.values()), 500_000)
    stop_file = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, sqlite_store.uri, sqlite_store.experiment("big"), str(stop_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        started = time.time()
        result = CliRunner().invoke(cli, ["nightly", "--experiment", "big", "--out", str(tmp_path / "out"),
                                          "--workers", "1", "--tracking-uri", sqlite_store.uri])
        finished = time.time()
    finally:
        stop_file.touch()
        out, err = writer.communicate(timeout=60)
    assert result.exit_code in (0, 1), result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["analyzed_tonight"] == 5  # and the run being logged
    report = json.loads(out.splitlines()[-1])
    assert report["errors"] == [], report["errors"][:3]
    during = [t for t in report["stamps"] if started <= t <= finished]
    assert len(during) >= 10, f"the writer logged only {len(during)} times while nightly ran: {err[-500:]}"


@pytest.mark.parametrize("revision", ["", "ffffffffffff"])
def test_a_schema_mlflow_would_migrate_is_refused_untouched(sqlite_store, tmp_path, revision):
    """MLflow's client migrates an empty or unknown alembic revision (40 tables added to a file we were
    asked to read): posthoc refuses in one line, exit 3, and the file and its folder stay as they were."""
    path = _store_copy(sqlite_store, tmp_path)
    folder = path.parent
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM alembic_version" if not revision else "UPDATE alembic_version SET version_num = ?",
                   () if not revision else (revision,))
    before = _sha(path)
    result = CliRunner().invoke(cli, ["analyze", "--experiment", "tests", "--tracking-uri", f"sqlite:///{path}"],
                                env={"MLFLOW_TRACKING_URI": ""})
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("posthoc: error: cannot read sqlite:///")
    assert f"({revision!r})" in result.stderr if revision else "(empty)" in result.stderr
    assert "never migrates" in result.stderr
    assert _sha(path) == before and sorted(p.name for p in folder.iterdir()) == ["mlflow.db"]
    assert not Path("file:").exists()


def test_the_slow_client_path_is_announced(sqlite_store, monkeypatch):
    import posthoc.store.sql as sql

    sqlite_store.add("a", QUICK)
    monkeypatch.setattr(sql, "KNOWN_SCHEMA_REVISIONS", frozenset())
    result = CliRunner().invoke(cli, ["analyze", "--experiment", "tests", "--format", "json",
                                      "--tracking-uri", sqlite_store.uri])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.startswith("posthoc: warning:")]
    assert len(warning) == 1 and "through MLflow's client" in warning[0]
    assert [d["run_id"] for d in json.loads(result.stdout)] == [sqlite_store.ids["a"]]


READ_AS_ANOTHER_USER = '''
import sys
from posthoc.store import load_runs, open_store
store = open_store(sys.argv[1])
runs = load_runs(store, store.run_ids(list(store.experiment_ids(["tests"]).values())))
print(sum(len(s) for r in runs for s in r.metrics.values()))
'''


def _without_write_permission() -> list[str]:
    """Root writes anywhere; without CAP_DAC_OVERRIDE (util-linux's setpriv) it obeys file modes like a user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only directory cannot be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _wal_copy(sqlite_store, tmp_path) -> Path:
    """A store copy switched to WAL mode, as many deployments run sqlite."""
    path = _store_copy(sqlite_store, tmp_path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    return path


def _read_in_read_only_folder(path: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    path.parent.chmod(0o555)
    try:
        result = subprocess.run([*_without_write_permission(), sys.executable, "-c", READ_AS_ANOTHER_USER,
                                 f"sqlite:///{path}"], capture_output=True, text=True, timeout=120)
        return result, sorted(p.name for p in path.parent.iterdir())
    finally:
        path.parent.chmod(0o755)


def test_a_wal_store_in_a_read_only_directory_is_readable(sqlite_store, tmp_path):
    path = _wal_copy(sqlite_store, tmp_path)
    expected = sum(len(s) for r in load_runs(open_store(sqlite_store.uri), [sqlite_store.ids["a"]]) for s in r.metrics.values())
    before = _sha(path)
    result, listing = _read_in_read_only_folder(path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) == expected
    assert listing == ["mlflow.db"] and _sha(path) == before


def test_a_wal_with_pending_transactions_in_a_read_only_directory_is_refused(sqlite_store, tmp_path):
    """immutable=1 would silently miss what is still in the -wal file: say so instead."""
    path = _wal_copy(sqlite_store, tmp_path)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE runs SET name = 'renamed'")
    writer.commit()
    shutil.copy(path.with_name("mlflow.db-wal"), tmp_path / "wal")
    writer.close()  # a clean close checkpoints and deletes the WAL: put back what a live writer leaves
    shutil.copy(tmp_path / "wal", path.with_name("mlflow.db-wal"))
    result, _ = _read_in_read_only_folder(path)
    assert result.returncode != 0 and "WAL mode with transactions still in mlflow.db-wal" in result.stderr
