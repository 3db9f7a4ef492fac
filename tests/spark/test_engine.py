"""The Spark engine must conclude exactly what the single-machine job concludes, run by run."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.config import Config
from posthoc.demo.runs import build_demo
from posthoc.nightly import NightlyOptions, run_nightly
from posthoc.spark.engine import DIAGNOSES_DIR, diagnose_runs
from posthoc.spark.sources import _hex_slices, from_databricks, from_parquet
from posthoc.store import open_store

VARIED_RUNS = 2000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """The demo experiment plus ~2,000 varied runs (NaN/Inf encodings, step-less, re-logged steps…)."""
    from varied_store import build

    db = tmp_path_factory.mktemp("big") / "mlflow.db"
    variants = build(db, VARIED_RUNS, seed=3)
    build_demo(f"sqlite:///{db}", "posthoc-demo")
    return f"sqlite:///{db}", variants


def _verdicts(out_dir) -> dict[str, tuple]:
    runs = json.loads((out_dir / "state.json").read_text())["runs"]
    records = runs.values() if isinstance(runs, dict) else runs
    return {r["run_id"]: (r["diagnosis"]["status"], r["diagnosis"]["primary"], r["diagnosis"]["findings"],
                          r["diagnosis"]["roles"], r["sketch"]) for r in records}


def _nightly(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["nightly", *args])
    return result.exit_code, result.stderr


def test_spark_and_local_reach_identical_verdicts_on_every_run(spark, big_store, tmp_path):
    uri, variants = big_store
    local, on_spark = tmp_path / "local", tmp_path / "spark"
    code_local, _ = _nightly("--tracking-uri", uri, "--out", str(local), "--workers", "2")
    code_spark, err = _nightly("--tracking-uri", uri, "--out", str(on_spark), "--engine", "spark")
    assert code_spark == code_local == 1, err  # the demo and the NaN variants hold failed runs
    expected, got = _verdicts(local), _verdicts(on_spark)
    store = open_store(uri)
    assert len(expected) == len(store.run_ids(list(store.experiment_ids(store.experiment_names()).values())))
    assert len(expected) > VARIED_RUNS
    assert got.keys() == expected.keys()
    differing = [run_id for run_id in expected if got[run_id] != expected[run_id]]
    assert not differing, [(variants.get(r), expected[r][:2], got[r][:2]) for r in differing[:5]]
    assert {status for status, *_ in got.values()} >= {"healthy", "warning", "failed"}
    summary_local = json.loads((local / "summary.json").read_text())
    summary_spark = json.loads((on_spark / "summary.json").read_text())
    assert summary_spark["counts"] == summary_local["counts"]
    assert len(summary_spark["new_failures"]) == len(summary_local["new_failures"]) > 0
    index = (on_spark / "index.html").read_text()
    assert all(f"runs/{run_id}.html" in index for run_id in expected)  # the digest links every run's report
    assert len(list((on_spark / "runs").glob("*.html"))) == len(expected)  # the executors wrote the reports
    rows = spark.read.parquet(str(on_spark / DIAGNOSES_DIR))
    assert rows.count() == len(expected)
    assert {r["run_id"] for r in rows.select("run_id").collect()} == set(expected)

    code, err = _nightly("--tracking-uri", uri, "--out", str(on_spark), "--engine", "spark")
    running = sum(v == "running" for v in variants.values())
    assert running and json.loads((on_spark / "summary.json").read_text())["analyzed_tonight"] == running, err
    # the second night: only the runs still RUNNING are analyzed again, exactly as the local engine does


def test_exported_parquet_and_databricks_shaped_tables_give_the_same_verdicts(spark, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    build_demo(uri, "posthoc-demo")
    export = tmp_path / "export"
    result = CliRunner().invoke(cli, ["export", "--tracking-uri", uri, "--parquet", str(export)])
    store = open_store(uri)
    demo_runs = store.run_ids(list(store.experiment_ids(["posthoc-demo"]).values()))
    assert result.exit_code == 0, result.stderr
    assert f"exported {len(demo_runs)} runs" in result.stderr

    local = tmp_path / "local"
    run_nightly(store, NightlyOptions(out_dir=local, workers=1), Config())
    expected = {run_id: verdict[:3] for run_id, verdict in _verdicts(local).items()}

    code, err = _nightly("--out", str(tmp_path / "pq"), "--engine", "spark", "--spark-source", f"parquet:{export}",
                         "--experiment", "posthoc-demo")
    assert code == 1, err
    assert {run_id: v[:3] for run_id, v in _verdicts(tmp_path / "pq").items()} == expected

    _databricks_views(spark, export)
    source = from_databricks(spark, "global_temp")
    assert source.experiment_ids(["posthoc-demo"])
    rows = diagnose_runs(source, None, Config(), tmp_path / "dbx", {}).collect()
    got = {r["run_id"]: (r["status"], r["primary"], json.loads(r["findings"])) for r in rows}
    assert got == expected


def _databricks_views(spark, export) -> None:
    """The export reshaped as Databricks' MLflow system tables (timestamps, maps, delete_time), as views."""
    from pyspark.sql import functions as F

    runs = spark.read.parquet(str(export / "runs.parquet"))
    metrics = spark.read.parquet(str(export / "metrics.parquet"))
    stamp = lambda c: F.timestamp_millis(F.col(c))  # noqa: E731
    metrics.select("run_id", F.lit("0").alias("experiment_id"), F.col("key").alias("metric_name"),
                   F.col("step").alias("metric_step"), stamp("timestamp").alias("metric_time"),
                   F.col("value").alias("metric_value")).createOrReplaceGlobalTempView("run_metrics_history")
    runs.select("run_id", "experiment_id", "run_name", "status", stamp("start_time").alias("start_time"),
                stamp("end_time").alias("end_time"), "params", "tags",
                F.lit(None).cast("timestamp").alias("delete_time")).createOrReplaceGlobalTempView("runs_latest")
    runs.select("experiment_id", F.col("experiment_name").alias("name"),
                F.lit(None).cast("timestamp").alias("delete_time")).distinct() \
        .createOrReplaceGlobalTempView("experiments_latest")


def test_spark_refuses_write_back_and_unknown_sources_in_one_line(spark, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    build_demo(uri, "posthoc-demo")
    code, err = _nightly("--tracking-uri", uri, "--out", str(tmp_path / "a"), "--engine", "spark", "--write-tags")
    assert code == 2 and err == "posthoc: error: --write-tags and --attach work with --engine local only\n"
    code, err = _nightly("--tracking-uri", uri, "--out", str(tmp_path / "b"), "--engine", "spark",
                         "--spark-source", "hive:x")
    assert code == 2 and err.startswith("posthoc: error: --spark-source 'hive:x': use parquet:DIR") and err.count("\n") == 1
    code, err = _nightly("--tracking-uri", str(tmp_path / "mlruns"), "--out", str(tmp_path / "c"), "--engine", "spark")
    assert code == 2 and "reads SQL tracking stores over JDBC" in err and err.count("\n") == 1
    code, err = _nightly("--out", str(tmp_path / "d"), "--engine", "spark", "--spark-source", f"parquet:{tmp_path}")
    assert code == 2 and "holds no posthoc export" in err
    code, err = _nightly("--tracking-uri", uri, "--out", str(tmp_path / "night[1]"), "--engine", "spark")
    assert code == 2 and "must not hold [ ] { } * ?" in err and err.count("\n") == 1


def test_jdbc_slices_cover_every_run_id_exactly_once():
    ids = [f"{i:032x}" for i in range(0, 2**128, 2**123)] + ["0" * 32, "f" * 32, "run-not-hex", "ABC", "~tilde"]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE metrics (run_uuid TEXT)")
    db.executemany("INSERT INTO metrics VALUES (?)", [(i,) for i in ids])
    for partitions in (1, 2, 5, 16, 40):
        clauses = _hex_slices(partitions)
        seen = [row[0] for clause in clauses for row in db.execute(f"SELECT run_uuid FROM metrics WHERE {clause}")]
        assert sorted(seen) == sorted(ids), partitions  # every id once: no gap, no overlap
        assert len(clauses) == min(max(partitions, 1), 16)


def test_parquet_source_needs_an_export(spark, tmp_path):
    from posthoc.errors import BadInput

    with pytest.raises(BadInput, match="holds no posthoc export"):
        from_parquet(spark, str(tmp_path))
