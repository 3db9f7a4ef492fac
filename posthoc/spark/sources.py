"""Where Spark reads runs from, normalized to two DataFrames: the long metric table (METRIC_COLUMNS) and one
row per run (RUN_COLUMNS). Three shapes: MLflow's own SQL backend over JDBC, a `posthoc export --parquet`
folder, and tables shaped like Databricks' `system.mlflow.runs_latest` / `run_metrics_history`.

A SparkSource answers the same cheap questions as a store (experiments, run versions), so the nightly job
selects new or changed runs the same way on both engines."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from posthoc.errors import BadInput
from posthoc.store import unknown_experiments_error, unknown_runs_error
from posthoc.store.longformat import METRIC_COLUMNS, RUN_COLUMNS, run_from_metric_frame

JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "com.mysql.cj.jdbc.Driver", "sqlite": "org.sqlite.JDBC"}
HEX = "0123456789abcdef"  # MLflow run ids are 32 hex digits: their first digit splits the tables evenly


class SparkSource:
    """The runs of one source as Spark DataFrames, plus the Store calls the nightly selection needs."""

    def __init__(self, uri: str, metrics, runs, experiments, latest=None):
        from pyspark.sql import functions as F

        self.uri = uri
        self.metrics = metrics  # METRIC_COLUMNS
        self.runs = runs  # RUN_COLUMNS, active runs only
        self.experiments = experiments  # experiment_id, name (active)
        # run_id, latest: a run's newest metric timestamp (MLflow keeps it in latest_metrics; else aggregated)
        self.latest = latest if latest is not None else metrics.groupBy("run_id").agg(F.max("timestamp").alias("latest"))

    def experiment_names(self) -> list[str]:
        return [row["name"] for row in self.experiments.orderBy("experiment_id").collect()]

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        found = {row["name"]: str(row["experiment_id"])
                 for row in self.experiments.where(self.experiments.name.isin(names)).collect()}
        missing = [n for n in names if n not in found]
        if missing:
            raise unknown_experiments_error(missing, self.uri)
        return found

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        """run id → (status, latest metric timestamp or end time), one aggregation over the metric table."""
        from pyspark.sql import functions as F

        rows = (self.runs.where(F.col("experiment_id").isin(experiment_ids)).join(self.latest, "run_id", "left")
                .select("run_id", "status", F.greatest(F.coalesce("latest", F.lit(0)),
                                                       F.coalesce("end_time", F.lit(0))).alias("version"))
                .collect())
        return {row["run_id"]: (row["status"], int(row["version"])) for row in rows}

    def iter_runs(self, run_ids: list[str], batch_runs: int = 200):
        """A few whole runs brought to the driver, in batches in the order asked (the nightly job reads the
        experiments' test runs this way); BadInput names ids that are not active runs."""
        from pyspark.sql import functions as F

        for start in range(0, len(run_ids), batch_runs):
            ids = run_ids[start : start + batch_runs]
            infos = {r["run_id"]: r.asDict() for r in self.runs.where(F.col("run_id").isin(ids)).collect()}
            missing = [r for r in ids if r not in infos]
            if missing:
                raise unknown_runs_error(missing, self.uri)
            rows = self.metrics.where(F.col("run_id").isin(ids)).toPandas()
            groups = dict(tuple(rows.groupby("run_id"))) if len(rows) else {}
            yield [run_from_metric_frame(infos[r], groups.get(r)) for r in ids]

    def common_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        """experiment id → each param's most common value (ties: the smallest), computed on Spark."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        pairs = (self.runs.where(F.col("experiment_id").isin(experiment_ids))
                 .select("experiment_id", F.explode("params").alias("key", "value"))
                 .groupBy("experiment_id", "key", "value").count())
        rank = Window.partitionBy("experiment_id", "key").orderBy(F.desc("count"), F.asc("value"))
        out: dict[str, dict[str, str]] = {}
        for row in pairs.withColumn("rank", F.row_number().over(rank)).where("rank = 1").collect():
            out.setdefault(str(row["experiment_id"]), {})[row["key"]] = row["value"]
        return out


def from_parquet(spark, folder: str) -> SparkSource:
    """A `posthoc export --parquet` folder: metrics.parquet and runs.parquet."""
    from pyspark.sql import functions as F

    path = Path(folder)
    if not (path / "metrics.parquet").exists() or not (path / "runs.parquet").exists():
        raise BadInput(f"{folder} holds no posthoc export: write one with `posthoc export --parquet {folder}`")
    metrics = spark.read.parquet(str(path / "metrics.parquet"))
    runs = spark.read.parquet(str(path / "runs.parquet"))
    experiments = runs.select("experiment_id", F.col("experiment_name").alias("name")).distinct()
    return SparkSource(f"parquet:{folder}", metrics.select(*METRIC_COLUMNS), runs.select(*RUN_COLUMNS), experiments)


def from_databricks(spark, schema: str = "system.mlflow") -> SparkSource:
    """Tables shaped like Databricks' MLflow system tables: `<schema>.run_metrics_history` (run_id,
    metric_name, metric_step, metric_time as a timestamp, metric_value), `<schema>.runs_latest` (run_id,
    experiment_id, run_name, status, start_time and end_time as timestamps, params and tags as maps,
    delete_time) and `<schema>.experiments_latest` (experiment_id, name, delete_time)."""
    from pyspark.sql import functions as F

    def millis(column: str):
        return (F.unix_micros(F.col(column)) / 1000).cast("long")

    history = spark.table(f"{schema}.run_metrics_history")
    metrics = history.select("run_id", F.col("metric_name").alias("key"), F.col("metric_step").cast("long").alias("step"),
                             millis("metric_time").alias("timestamp"), F.col("metric_value").alias("value"),
                             F.isnan("metric_value").alias("is_nan"))
    runs = (spark.table(f"{schema}.runs_latest").where(F.col("delete_time").isNull())
            .select("run_id", F.col("experiment_id").cast("string"), "run_name", "status",
                    millis("start_time").alias("start_time"), millis("end_time").alias("end_time"), "params", "tags"))
    experiments = (spark.table(f"{schema}.experiments_latest").where(F.col("delete_time").isNull())
                   .select(F.col("experiment_id").cast("string"), "name"))
    return SparkSource(f"databricks:{schema}", metrics, runs, experiments)


def from_jdbc(spark, tracking_uri: str, partitions: int = 16) -> SparkSource:
    """MLflow's own SQL backend (PostgreSQL, MySQL, sqlite) over JDBC. The metric table is read in
    `partitions` slices by the first hex digit of run_uuid, so no executor reads the whole table; values
    come raw (NaN as 0 with is_nan, ±Inf as ±1.797e308) and are decoded where runs are rebuilt."""
    from pyspark.sql import functions as F

    url, properties = jdbc_url(tracking_uri)
    slices = _hex_slices(partitions)

    def table(name: str, predicates: list[str] | None = None, **options: str):
        if predicates:
            return spark.read.jdbc(url, name, predicates=predicates, properties={**properties, **options})
        return spark.read.jdbc(url, name, properties={**properties, **options})

    # sqlite's driver reports the FLOAT column as a 32-bit float: read it as the 64-bit double MLflow stores
    metrics = table("metrics", slices, customSchema="value DOUBLE, step BIGINT, timestamp BIGINT").select(F.col("run_uuid").alias("run_id"), "key", F.col("step").cast("long"),
                                              F.col("timestamp").cast("long"), F.col("value").cast("double"),
                                              F.col("is_nan").cast("boolean"))
    by_run = table("runs").where("lifecycle_stage = 'active'")
    params = table("params").groupBy("run_uuid").agg(F.map_from_entries(F.collect_list(F.struct("key", "value"))).alias("params"))
    tags = table("tags").groupBy("run_uuid").agg(F.map_from_entries(F.collect_list(F.struct("key", "value"))).alias("tags"))
    runs = (by_run.join(params, "run_uuid", "left").join(tags, "run_uuid", "left")
            .select(F.col("run_uuid").alias("run_id"), F.col("experiment_id").cast("string"),
                    F.col("name").alias("run_name"), "status", F.col("start_time").cast("long"),
                    F.col("end_time").cast("long"), "params", "tags"))
    experiments = (table("experiments").where("lifecycle_stage = 'active'")
                   .select(F.col("experiment_id").cast("string"), "name"))
    latest = (table("latest_metrics").groupBy(F.col("run_uuid").alias("run_id"))
              .agg(F.max(F.col("timestamp").cast("long")).alias("latest")))
    return SparkSource(tracking_uri, metrics, runs, experiments, latest)


def jdbc_url(tracking_uri: str) -> tuple[str, dict[str, str]]:
    """An MLflow SQLAlchemy tracking URI as a JDBC URL and connection properties (user, password, driver)."""
    parsed = urlparse(tracking_uri)
    dialect = parsed.scheme.split("+")[0]
    if dialect not in JDBC_DRIVERS:
        raise BadInput(f"--engine spark reads SQL tracking stores over JDBC (postgresql, mysql, sqlite), not "
                       f"{parsed.scheme or tracking_uri!r}: export other stores with `posthoc export --parquet DIR`")
    properties = {"driver": JDBC_DRIVERS[dialect]}
    if dialect == "sqlite":
        path = unquote(parsed.path[1:] if tracking_uri.startswith("sqlite:///") else parsed.path)
        return f"jdbc:sqlite:{Path(path).absolute()}", properties
    if parsed.username:
        properties["user"] = unquote(parsed.username)
    if parsed.password:
        properties["password"] = unquote(parsed.password)
    host = parsed.hostname or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"jdbc:{dialect}://{host}{port}{parsed.path}", properties


def _hex_slices(partitions: int) -> list[str]:
    """WHERE clauses that split run_uuid into `partitions` (1–16) contiguous ranges of its first character:
    together they cover every id once, hex or not."""
    partitions = max(1, min(partitions, 16))
    edges = [None, *(HEX[i * 16 // partitions] for i in range(1, partitions)), None]
    clauses = []
    for low, high in zip(edges[:-1], edges[1:]):
        parts = ([f"run_uuid >= '{low}'"] if low else []) + ([f"run_uuid < '{high}'"] if high else [])
        clauses.append(" AND ".join(parts) or "1 = 1")
    return clauses


def open_source(spark, spec: str | None, tracking_uri: str) -> SparkSource:
    """--spark-source: 'parquet:DIR', 'databricks:SCHEMA', or nothing for the tracking store over JDBC."""
    if spec is None:
        return from_jdbc(spark, tracking_uri)
    kind, _, where = spec.partition(":")
    if kind == "parquet" and where:
        return from_parquet(spark, where)
    if kind == "databricks":
        return from_databricks(spark, where or "system.mlflow")
    raise BadInput(f"--spark-source {spec!r}: use parquet:DIR or databricks:CATALOG.SCHEMA (or leave it out to "
                   "read the tracking store over JDBC)")
