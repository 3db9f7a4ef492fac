"""The long metric table: one row per logged point (run_id, key, step, timestamp, value, is_nan), the shape
of MLflow's own `metrics` table, of Databricks' `system.mlflow.run_metrics_history` and of
`posthoc export --parquet`. Runs are rebuilt from it exactly as the store readers build them, so a run
diagnosed from the table (on Spark, say) gets the same verdict as one read from the store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from posthoc.model import Run, Series
from posthoc.store import decode_infinities

METRIC_COLUMNS = ("run_id", "key", "step", "timestamp", "value", "is_nan")
RUN_COLUMNS = ("run_id", "experiment_id", "run_name", "status", "start_time", "end_time", "params", "tags")


def decode_values(values: np.ndarray, is_nan: np.ndarray | None) -> np.ndarray:
    """MLflow's SQL encoding back to floats: is_nan rows are NaN, ±1.797e308 is ±Inf (real NaN/Inf pass)."""
    values = np.asarray(values, dtype=np.float64).copy()
    if is_nan is not None:
        values[np.asarray(is_nan, dtype=bool)] = np.nan
    return decode_infinities(values)


def run_from_metric_frame(info: dict, metrics) -> Run:
    """One Run from its info (RUN_COLUMNS; params and tags as dicts or JSON text) and a pandas frame of its
    metric rows (METRIC_COLUMNS, or None), in one order for points that share a step and a timestamp
    whatever order they arrived in (a Spark shuffle has none)."""
    series = {}
    if metrics is not None and len(metrics):
        metrics = metrics.sort_values(["key", "step", "timestamp", "value"], kind="stable")
        values = decode_values(metrics["value"].to_numpy(), metrics["is_nan"].to_numpy())
        keys = metrics["key"].to_numpy().astype(str)
        steps, timestamps = metrics["step"].to_numpy(), metrics["timestamp"].to_numpy()
        for key in np.unique(keys):
            mask = keys == key
            series[str(key)] = Series.from_points(str(key), steps[mask], values[mask], timestamps[mask])
    return Run(
        run_id=str(info["run_id"]), run_name=str(info.get("run_name") or ""), experiment_id=str(info["experiment_id"]),
        status=str(info["status"]), start_time=_int_or_none(info.get("start_time")),
        end_time=_int_or_none(info.get("end_time")), params=_mapping(info.get("params")),
        tags=_mapping(info.get("tags")), metrics=series,
    )


def export_parquet(store, run_ids: list[str], experiment_names: dict[str, str], out_dir: Path,
                   on_batch=lambda runs: None) -> tuple[int, int]:
    """Write out_dir/metrics.parquet and out_dir/runs.parquet (experiment id → name given) for these runs,
    batch by batch; returns (runs, rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    metric_schema = pa.schema([("run_id", pa.string()), ("key", pa.string()), ("step", pa.int64()),
                               ("timestamp", pa.int64()), ("value", pa.float64()), ("is_nan", pa.bool_())])
    run_schema = pa.schema([("run_id", pa.string()), ("experiment_id", pa.string()), ("experiment_name", pa.string()),
                            ("run_name", pa.string()),
                            ("status", pa.string()), ("start_time", pa.int64()), ("end_time", pa.int64()),
                            ("params", pa.map_(pa.string(), pa.string())), ("tags", pa.map_(pa.string(), pa.string()))])
    runs_total = rows_total = 0
    with pq.ParquetWriter(out_dir / "metrics.parquet", metric_schema) as metrics_out, \
            pq.ParquetWriter(out_dir / "runs.parquet", run_schema) as runs_out:
        for batch in store.iter_runs(run_ids):
            metrics_out.write_table(pa.Table.from_pydict(_metric_columns(batch), schema=metric_schema))
            rows = [{**_run_row(r), "experiment_name": experiment_names.get(r.experiment_id)} for r in batch]
            runs_out.write_table(pa.Table.from_pylist(rows, schema=run_schema))
            runs_total += len(batch)
            rows_total += sum(len(s) for r in batch for s in r.metrics.values())
            on_batch(batch)
    return runs_total, rows_total


def _metric_columns(runs: Iterable[Run]) -> dict:
    series = [(r.run_id, s) for r in runs for s in r.metrics.values()]
    counts = [len(s) for _, s in series]
    values = np.concatenate([s.values for _, s in series]) if series else np.zeros(0)
    return {
        "run_id": np.repeat([r for r, _ in series], counts).tolist(),
        "key": np.repeat([s.key for _, s in series], counts).tolist(),
        "step": np.concatenate([s.steps for _, s in series]) if series else np.zeros(0, np.int64),
        "timestamp": np.concatenate([s.timestamps for _, s in series]) if series else np.zeros(0, np.int64),
        "value": values,  # NaN and ±Inf stay real floats here; is_nan repeats the NaN flag as MLflow's table has it
        "is_nan": np.isnan(values),
    }


def _run_row(run: Run) -> dict:
    return {"run_id": run.run_id, "experiment_id": run.experiment_id, "run_name": run.run_name, "status": run.status,
            "start_time": run.start_time, "end_time": run.end_time, "params": run.params, "tags": run.tags}


def _mapping(value) -> dict[str, str]:
    """Params and tags arrive as a dict, a list of (key, value) pairs (Arrow maps) or JSON text."""
    if value is None:
        return {}
    if isinstance(value, str):
        return {str(k): str(v) for k, v in json.loads(value).items()}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in value}


def _int_or_none(value) -> int | None:
    if value is None:
        return None
    try:
        if np.isnan(value):
            return None
    except TypeError:
        pass
    return int(value)
