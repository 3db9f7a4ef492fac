"""The nightly job's analysis step on Spark: the runs selected tonight are rebuilt and diagnosed on the
executors (one group per run), each executor writes its runs' reports, the rows are written as Parquet,
and the driver journals them into the same state as the single-machine job, which then writes the same
summary.json and digest."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from posthoc.model import Run
from posthoc.nightly.job import Outcome, experiment_contexts, run_record
from posthoc.spark.rows import OUTPUT_SCHEMA, run_diagnoser

DIAGNOSES_DIR = "diagnoses.parquet"  # tonight's per-run rows, in the job's output folder
JDBC_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/sqlite-jdbc.jar", "/usr/share/java/mysql-connector-j.jar")


def spark_session(master: str, conf: dict[str, str] | None = None):
    """A session with Arrow transfer on; the JDBC drivers that Debian's packages install are added; `conf`
    adds Spark settings (the tests keep the SQL warehouse in a tmp folder)."""
    from pyspark.sql import SparkSession

    jars = [jar for jar in JDBC_JARS if Path(jar).exists()]
    builder = SparkSession.builder.master(master).appName("posthoc")
    for name, value in (conf or {}).items():
        builder = builder.config(name, value)
    builder = (builder
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")  # the CLI has its own progress lines
               .config("spark.sql.session.timeZone", "UTC"))
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def diagnose_runs(source, run_ids: list[str] | None, config, out_dir: Path, usual_params: dict,
                  contexts: dict | None = None):
    """One row per run (rows.OUTPUT_SCHEMA): metrics and run info cogrouped by run id, diagnosed per group."""
    from pyspark.sql import functions as F

    metrics, runs = source.metrics, source.runs
    if run_ids is not None:
        spark = metrics.sparkSession
        todo = F.broadcast(spark.createDataFrame([(r,) for r in run_ids], "run_id string"))
        metrics, runs = metrics.join(todo, "run_id"), runs.join(todo, "run_id")
    runs = runs.select("run_id", "experiment_id", "run_name", "status", "start_time", "end_time",
                       F.to_json("params").alias("params"), F.to_json("tags").alias("tags"))
    diagnose_group = run_diagnoser(config, str(out_dir), usual_params, contexts or {})
    with warnings.catch_warnings():  # pyspark 4.x warns on pandas 3; the equality tests cover what we use
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        return metrics.groupBy("run_id").cogroup(runs.groupBy("run_id")).applyInPandas(diagnose_group, OUTPUT_SCHEMA)


def analyze_on_spark(store, todo, versions, options, config, key, experiment_ids, writeback, state,
                     analyzed: list[str], on_progress) -> None:
    """nightly.run_nightly's `analyze` step on Spark (the same signature as the local process pool)."""
    out_dir = Path(options.out_dir)
    rows_path = out_dir / DIAGNOSES_DIR
    contexts = experiment_contexts(store, todo, versions, experiment_ids, state, config)
    frame = diagnose_runs(store, todo, config, out_dir, store.common_params(experiment_ids), contexts)
    frame.write.mode("overwrite").parquet(str(rows_path))  # computed once: the reports are written here
    for row in store.metrics.sparkSession.read.parquet(str(rows_path)).toLocalIterator():
        run = Run(row["run_id"], row["run_name"] or "", row["experiment_id"], row["run_status"], row["start_time"],
                  row["end_time"], json.loads(row["params"]), {}, {})  # what the record keeps; no metric arrays
        outcome = Outcome(row["run_id"], json.loads(row["diagnosis"]) if row["diagnosis"] else None, row["error"],
                          json.loads(row["sketch"]))
        state.add(run_record(run, outcome, versions, key, state.records.get(run.run_id)))
        analyzed.append(run.run_id)
        on_progress(len(analyzed), len(todo))
    state.sync()
