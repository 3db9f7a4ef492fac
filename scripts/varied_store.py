"""A large, varied MLflow sqlite store, fast: a few real training histories (posthoc's numpy loops) logged as
many runs, each changed in one of the ways real runs differ and readers must agree on: scaled values, a
run still RUNNING, NaN and ±Inf in MLflow's SQL encoding, metrics logged without a step, a step logged twice, no metrics at all, a coarse validation grid.

MLflow's client creates the schema and the experiments; the runs and their rows go in through MLflow's own
table models in one transaction (one client call per run would take minutes for thousands of runs).

    python scripts/varied_store.py --db /tmp/varied/mlflow.db --runs 2000
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_FLOAT = 1.7976931348623157e308  # MLflow's SQL encoding of +Inf
MAX_POINTS = 150  # per metric: enough for every detector's shape statistics, small enough for thousands of runs
VARIANTS = ("plain", "running", "nan", "inf", "stepless", "relogged", "empty", "coarse_val")


def base_histories():
    """Short real histories of the demo's patterns (healthy, NaN, exploding, oscillating, plateau…)."""
    from posthoc.demo.loops import train
    from posthoc.demo.runs import DEMO_RUNS

    return [train(dataclasses.replace(config, steps=min(config.steps, 500))) for _, config in DEMO_RUNS]


def build(db: Path, runs: int, seed: int = 0, experiments: int = 2) -> dict[str, str]:
    """Create the store at db with `runs` runs; returns run id → variant."""
    import sqlalchemy as sa
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.tracking import MlflowClient

    from posthoc.demo.loops import NAMING

    db.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    experiment_ids = [client.create_experiment(f"varied-{i}") for i in range(experiments)]
    histories = base_histories()
    rng = np.random.default_rng(seed)
    start = int(time.time() * 1000) - 10_000_000
    rows: dict[str, list] = {"runs": [], "metrics": [], "latest": [], "params": [], "tags": []}
    variants = {}
    for index in range(runs):
        run_id = uuid.uuid4().hex
        variant = VARIANTS[index % len(VARIANTS)]
        history = histories[int(rng.integers(len(histories)))]
        variants[run_id] = variant
        run_start = start + index * 1000
        points = _points(history.metrics, NAMING[history.config.naming], variant, rng, run_start)
        last = max((p[2] for p in points), default=run_start)
        rows["runs"].append({
            "run_uuid": run_id, "name": f"{variant}-{index}", "source_type": "LOCAL", "source_name": "",
            "entry_point_name": "", "user_id": "posthoc", "status": "RUNNING" if variant == "running" else "FINISHED",
            "start_time": run_start, "end_time": None if variant == "running" else last + 1, "source_version": "",
            "lifecycle_stage": "active", "artifact_uri": "", "experiment_id": int(experiment_ids[index % experiments]),
        })
        rows["metrics"] += [{"key": k, "value": v, "timestamp": t, "step": s, "is_nan": n, "run_uuid": run_id}
                            for k, v, t, s, n in points]
        rows["latest"] += _latest(points, run_id)
        params = {"lr": str(history.config.lr), "batch_size": str(history.config.batch_size),
                  "optimizer": history.config.optimizer, "seed": str(index % 3), "variant": variant}
        rows["params"] += [{"key": k, "value": v, "run_uuid": run_id} for k, v in params.items()]
        rows["tags"].append({"key": "mlflow.runName", "value": f"{variant}-{index}", "run_uuid": run_id})
    engine = sa.create_engine(uri)
    with engine.begin() as connection:
        for model, key in ((SqlRun, "runs"), (SqlMetric, "metrics"), (SqlLatestMetric, "latest"),
                           (SqlParam, "params"), (SqlTag, "tags")):
            if rows[key]:
                connection.execute(sa.insert(model.__table__), rows[key])
    engine.dispose()
    return variants


def _points(metrics: dict, names: dict[str, str], variant: str, rng, run_start: int) -> list[tuple]:
    """(key, value, timestamp, step, is_nan) rows of one run, in MLflow's SQL encoding."""
    if variant == "empty":
        return []
    scale = float(rng.uniform(0.5, 2.0))
    out = []
    for key, (steps, values) in metrics.items():
        stride = max(1, len(steps) // MAX_POINTS)
        steps, values = np.asarray(steps, dtype=np.int64)[::stride], np.asarray(values, dtype=np.float64)[::stride]
        if key != names["lr"]:
            values = values * scale
        if variant == "running":
            keep = steps <= steps[len(steps) // 2] if len(steps) else steps
            steps, values = steps[keep], values[keep]
        if variant == "coarse_val" and key == names["val_loss"]:
            steps, values = steps[::5], values[::5]
        if variant == "nan" and key == names["train_loss"] and len(values) > 10:
            values = values.copy()
            values[int(rng.integers(len(values) // 2, len(values))):] = np.nan
        if variant == "inf" and key in (names["train_loss"], names["grad_norm"]) and len(values) > 10:
            values = values.copy()
            values[int(rng.integers(len(values) // 2, len(values)))] = np.inf
        timestamps = run_start + steps * 20
        if variant == "stepless" and key == names["train_loss"]:
            steps = np.zeros_like(steps)  # mlflow.log_metric(key, value) without step: MLflow writes 0
        for step, value, stamp in zip(steps.tolist(), values.tolist(), timestamps.tolist()):
            out.append(_encoded(key, value, stamp, step))
        if variant == "relogged" and len(steps) > 4:
            again = rng.choice(len(steps), size=3, replace=False)  # the same step logged again, later
            out += [_encoded(key, float(values[i]) * 1.01, int(timestamps[i]) + 5, int(steps[i])) for i in again]
    return out


def _encoded(key: str, value: float, stamp: int, step: int) -> tuple:
    if np.isnan(value):
        return key, 0.0, stamp, step, True
    if np.isinf(value):
        return key, MAX_FLOAT if value > 0 else -MAX_FLOAT, stamp, step, False
    return key, value, stamp, step, False


def _latest(points: list[tuple], run_id: str) -> list[dict]:
    latest: dict[str, tuple] = {}
    for key, value, stamp, step, is_nan in points:
        if key not in latest or (step, stamp) >= (latest[key][3], latest[key][2]):
            latest[key] = (key, value, stamp, step, is_nan)
    return [{"key": k, "value": v, "timestamp": t, "step": s, "is_nan": n, "run_uuid": run_id}
            for k, v, t, s, n in latest.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    variants = build(args.db, args.runs, args.seed)
    print(f"{len(variants)} runs in {args.db} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
