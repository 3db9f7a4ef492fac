"""Every reader returns the same runs, exactly, and never writes to the store."""

import dataclasses
import hashlib
import shutil
import sqlite3
import time

import numpy as np
import pytest

from posthoc.demo.loops import train
from posthoc.errors import BadInput, StoreUnreachable
from posthoc.store import load_runs, open_store
from posthoc.store.client import ClientStore
from posthoc.store.sql import SqlStore
from tests.conftest import QUICK

SHORT = dataclasses.replace(QUICK, steps=40)
NAN_RUN = dataclasses.replace(QUICK, corrupt_steps=(60,), corrupt_scale=float("inf"), naming="slash")


def _fill(builder):
    builder.add("healthy", QUICK)
    builder.add("nan", NAN_RUN)
    builder.add("running", dataclasses.replace(QUICK, steps=40, naming="hf"), status="RUNNING")
    builder.client.log_metric(builder.ids["healthy"], "odd metric/with spaces", float("-inf"), step=5)
    return builder


def _check_against_training(builder):
    store = open_store(builder.uri)
    runs = {r.run_name: r for r in load_runs(store, list(builder.ids.values()))}
    for name, config in (("healthy", QUICK), ("nan", NAN_RUN)):
        history = train(config)
        for key, (steps, values) in history.metrics.items():
            series = runs[name].metrics[key]
            assert series.steps.tolist() == steps.tolist()
            np.testing.assert_array_equal(series.values, values)  # NaN where NaN, exact elsewhere
    assert np.isnan(runs["nan"].metrics["train/loss"].values[60])
    assert runs["healthy"].metrics["odd metric/with spaces"].values.tolist() == [-np.inf]
    assert runs["running"].status == "RUNNING" and runs["healthy"].status == "FINISHED"
    assert runs["healthy"].params["lr"] == str(QUICK.lr)
    return store


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_sql_reader_is_exact(builder_name, request):
    store = _check_against_training(_fill(request.getfixturevalue(builder_name)))
    assert isinstance(store, SqlStore) and store.notice is None


def test_file_store_reader_is_exact(file_store, monkeypatch):
    _fill(file_store)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # our reader needs no opt-in and writes nothing
    _check_against_training(file_store)


def test_server_reader_is_exact(server_store):
    store = _check_against_training(_fill(server_store))
    assert isinstance(store, ClientStore)


def test_server_reads_past_the_bulk_row_limit(server_store):
    """The server truncates a bulk response at 25,000 rows; a longer history must still come back whole."""
    from mlflow.entities import Metric

    run_id = server_store.add("short", dataclasses.replace(QUICK, steps=20))
    now = int(time.time() * 1000)
    metrics = [Metric("long_loss", float(step % 97), now + step, step) for step in range(30_000)]
    for start in range(0, len(metrics), 1000):
        server_store.client.log_batch(run_id, metrics=metrics[start : start + 1000])
    run = load_runs(open_store(server_store.uri), [run_id])[0]
    assert len(run.metrics["long_loss"]) == 30_000 and run.metrics["long_loss"].steps[-1] == 29_999


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_runs_longer_than_one_transaction_are_read_exactly(builder_name, request, monkeypatch):
    """Each way a batch is cut gives the one-snapshot result: a run alone, page by page (a metric logged without
    a step, all at step 0, in one read), and runs that latest_metrics says fit one transaction but do not."""
    from mlflow.entities import Metric

    import posthoc.store.sql as sql

    builder = request.getfixturevalue(builder_name)
    run_id = builder.add("long", SHORT)
    other = builder.add("other", SHORT)
    now = int(time.time() * 1000)
    builder.client.log_batch(run_id, metrics=[Metric("no_step", float(i), now + i, 0) for i in range(300)])
    whole = {r.run_id: r for r in load_runs(open_store(builder.uri), [run_id, other])}
    assert whole[run_id].metrics["no_step"].values.tolist() == [float(i) for i in range(300)]
    rows = sum(len(s) for r in whole.values() for s in r.metrics.values())
    promised = sum(int(s.steps[-1]) + 1 if s.ordered_by == "step" else 1 for r in whole.values() for s in r.metrics.values())
    assert promised + 1 < rows  # latest_metrics promises one row for no_step's 300
    for limit in (37, promised + 1):  # 37: each run is paged; promised + 1: both runs read together, then not
        monkeypatch.setattr(sql, "ROWS_PER_TRANSACTION", limit)
        cut = {r.run_id: r for r in load_runs(open_store(builder.uri), [run_id, other])}
        for rid in (run_id, other):
            assert cut[rid].metrics.keys() == whole[rid].metrics.keys() and cut[rid].params == whole[rid].params
            for key, series in whole[rid].metrics.items():
                assert cut[rid].metrics[key].steps.tolist() == series.steps.tolist(), (limit, key)
                np.testing.assert_array_equal(cut[rid].metrics[key].values, series.values)


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_experiment_lookup_and_run_order(builder_name, request):
    builder = request.getfixturevalue(builder_name)
    builder.add("a", QUICK, experiment="exp-1")
    builder.add("b", QUICK, experiment="exp-1")
    store = open_store(builder.uri)
    ids = store.run_ids(list(store.experiment_ids(["exp-1"]).values()))
    assert ids == [builder.ids["a"], builder.ids["b"]]
    versions = store.run_versions(list(store.experiment_ids(["exp-1"]).values()))
    assert {r: status for r, (status, _) in versions.items()} == {builder.ids["a"]: "FINISHED", builder.ids["b"]: "FINISHED"}
    assert store.run_params(list(store.experiment_ids(["exp-1"]).values()))[builder.ids["a"]]["lr"] == str(QUICK.lr)
    assert store.experiment_names() == ["Default", "exp-1"]
    with pytest.raises(BadInput, match="experiment 'nope' not found"):
        store.experiment_ids(["nope"])


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_unknown_run_id_is_bad_input(builder_name, request):
    builder = request.getfixturevalue(builder_name)
    builder.add("a")
    with pytest.raises(BadInput, match="run 'deadbeef' not found"):
        load_runs(open_store(builder.uri), ["deadbeef"])


def test_missing_store_is_unreachable_and_not_created(tmp_path):
    with pytest.raises(StoreUnreachable, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(StoreUnreachable, match="does not exist"):
        open_store(str(tmp_path / "absent-mlruns"))
    assert list(tmp_path.iterdir()) == []


def test_postgres_down_is_unreachable():
    with pytest.raises(StoreUnreachable, match="cannot connect to postgresql"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:9/mlflow")


def test_server_down_is_unreachable_fast():
    start = time.time()
    with pytest.raises(StoreUnreachable, match="unreachable"):
        open_store("http://127.0.0.1:9")
    assert time.time() - start < 10


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_unknown_schema_falls_back_to_the_mlflow_client_read_only(builder_name, request, monkeypatch):
    """A revision we do not know but the installed MLflow does (posthoc older than MLflow): its client
    reads it over a read-only connection, and the store says it is taking the slow path."""
    import posthoc.store.sql as fast

    builder = _fill(request.getfixturevalue(builder_name))
    monkeypatch.setattr(fast, "KNOWN_SCHEMA_REVISIONS", frozenset())
    store = _check_against_training(builder)
    assert isinstance(store, ClientStore)
    assert "through MLflow's client" in store.notice and "schema revision" in store.notice


def test_schema_nobody_knows_is_a_clear_error(sqlite_store, tmp_path):
    sqlite_store.add("a")
    copy = tmp_path / "copy.db"
    shutil.copy(sqlite_store.uri.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    with pytest.raises(StoreUnreachable, match="ffffffffffff"):
        open_store(f"sqlite:///{copy}")


def test_reading_never_writes(sqlite_store):
    _fill(sqlite_store)
    path = sqlite_store.uri.removeprefix("sqlite:///")
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    store = open_store(sqlite_store.uri)
    load_runs(store, store.run_ids(list(store.experiment_ids(["tests"]).values())))
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before


@pytest.mark.parametrize("builder_name", ["sqlite_store", "file_store", "postgres_store"])
def test_odd_logging_is_read_as_logged(builder_name, request):
    """Unsorted and duplicate steps (the latest timestamp wins), one-point and all-NaN metrics, a bare run."""
    from mlflow.entities import Metric

    builder = request.getfixturevalue(builder_name)
    run_id = builder.add("odd", dataclasses.replace(QUICK, steps=20))
    now = int(time.time() * 1000)
    builder.client.log_batch(run_id, metrics=[
        Metric("unsorted", 3.0, now + 1, 30), Metric("unsorted", 1.0, now + 2, 10), Metric("unsorted", 2.0, now + 3, 20),
        Metric("unsorted", 9.0, now + 9, 10),  # step 10 again, logged later: replaces 1.0
        Metric("single", 0.5, now, 7),
        Metric("all_nan", float("nan"), now, 0), Metric("all_nan", float("nan"), now + 1, 1),
    ])
    bare = builder.client.create_run(builder.experiment("tests"), run_name="bare").info.run_id
    store = open_store(builder.uri)
    run, empty = load_runs(store, [run_id, bare])
    assert run.metrics["unsorted"].steps.tolist() == [10, 20, 30]
    assert run.metrics["unsorted"].values.tolist() == [9.0, 2.0, 3.0]
    assert run.metrics["single"].steps.tolist() == [7] and run.metrics["all_nan"].finite_count == 0
    assert empty.metrics == {} and empty.status == "RUNNING"


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_every_read_transaction_refuses_writes(builder_name, request):
    """mode=ro on sqlite, READ ONLY transactions on PostgreSQL: the database itself rejects a write."""
    builder = request.getfixturevalue(builder_name)
    builder.add("a", dataclasses.replace(QUICK, steps=20))
    store = open_store(builder.uri)
    with pytest.raises(StoreUnreachable, match="read-only|readonly"):
        with store._snapshot() as query:
            query("UPDATE runs SET name = 'changed'")
    assert load_runs(store, [builder.ids["a"]])[0].run_name == "a"


def test_postgres_schema_mlflow_would_migrate_is_refused_untouched(postgres_store):
    import psycopg
    import sqlalchemy

    postgres_store.add("a", dataclasses.replace(QUICK, steps=20))
    url = sqlalchemy.engine.make_url(postgres_store.uri)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
        tables = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
    with pytest.raises(StoreUnreachable, match=r"'ffffffffffff'.*never migrates"):
        open_store(postgres_store.uri)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("ffffffffffff",)]
        assert db.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone() == tables
