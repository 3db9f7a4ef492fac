"""Benchmark: read every metric history of an N-run sqlite store, naive MlflowClient loop vs posthoc.

    python scripts/bench_read.py [--runs 1000] [--steps 1000] [--db bench-read/mlflow.db]

Builds the store once (runs through MLflow's client, metric rows in bulk in MLflow's own schema), reads the
file once so the page cache is warm for both, then in one process times (a) search_runs +
get_metric_history per run and key and (b) posthoc's reader, for all runs and for one run, and prints
both, rows/s and the ratio.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("train_loss", "val_loss", "grad_norm", "lr")


def build(db: Path, runs: int, steps: int) -> None:
    import numpy as np
    from mlflow.tracking import MlflowClient

    from posthoc.demo.loops import TrainConfig, train

    db.parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment_id = client.create_experiment("bench")
    histories = [train(TrainConfig(dataset="wine", depth=0, lr=lr, steps=steps, val_every=1)) for lr in (0.01, 0.05, 0.2, 1.0)]
    start = int(time.time() * 1000)
    rows, latest = [], []
    for index in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{index}").info.run_id
        client.log_batch(run_id, params=[__import__("mlflow").entities.Param("lr", str(index % 4))])
        metrics = histories[index % 4].metrics
        for key in KEYS:
            steps_, values = metrics[key if key != "val_loss" else "val_loss"]
            stamps = start + steps_ * 10
            rows.extend(zip([key] * len(steps_), values.tolist(), stamps.tolist(), [run_id] * len(steps_), steps_.tolist(), [0] * len(steps_)))
            latest.append((key, float(values[-1]), int(stamps[-1]), int(steps_[-1]), 0, run_id))
        client.set_terminated(run_id)
        if index % 100 == 99:
            print(f"  built {index + 1}/{runs} runs", file=sys.stderr)
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)", latest)
    del np


def search_all_runs(client, experiment: str) -> list:
    """Every run of the experiment, page by page, as the naive approach sees them."""
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def naive(uri: str, experiment: str) -> tuple[float, int, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    started = time.perf_counter()
    runs = search_all_runs(client, experiment)
    count = 0
    for run in runs:
        for key in run.data.metrics:
            count += len(client.get_metric_history(run.info.run_id, key))
    return time.perf_counter() - started, count, runs[0].info.run_id


def posthoc_read(uri: str, experiment: str, run_id: str | None = None) -> tuple[float, int]:
    from posthoc.store import load_runs, open_store

    started = time.perf_counter()
    store = open_store(uri)
    ids = [run_id] if run_id else store.run_ids(list(store.experiment_ids([experiment]).values()))
    runs = load_runs(store, ids)
    return time.perf_counter() - started, sum(len(s) for r in runs for s in r.metrics.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--skip-naive", action="store_true", help="only time posthoc's reader")
    args = parser.parse_args()
    db = args.db or Path(f"bench-read-{args.runs}x{args.steps}/mlflow.db")
    if not db.exists():
        started = time.perf_counter()
        build(db, args.runs, args.steps)
        print(f"built {db} in {time.perf_counter() - started:.1f} s")
    uri = f"sqlite:///{db}"
    with open(db, "rb") as handle:  # both paths then read from the page cache: we time compute, not the disk
        while handle.read(1 << 24):
            pass
    fast_all, rows = posthoc_read(uri, "bench")
    print(f"posthoc reader, all runs: {fast_all:8.2f} s  {rows:,} rows  {rows / fast_all:,.0f} rows/s")
    if args.skip_naive:
        return
    slow_all, slow_rows, one_id = naive(uri, "bench")
    print(f"naive MlflowClient loop:  {slow_all:8.2f} s  {slow_rows:,} rows  {slow_rows / slow_all:,.0f} rows/s")
    print(f"ratio (all runs): {slow_all / fast_all:.1f}x")
    fast_one, one_rows = posthoc_read(uri, "bench", one_id)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    started = time.perf_counter()
    run = client.get_run(one_id)
    for key in run.data.metrics:
        client.get_metric_history(one_id, key)
    slow_one = time.perf_counter() - started
    print(f"one run: posthoc {fast_one * 1000:.1f} ms vs naive {slow_one * 1000:.1f} ms ({one_rows:,} rows), ratio {slow_one / fast_one:.1f}x")


if __name__ == "__main__":
    main()
