"""Benchmark: read every metric history of an N-run store, naive MlflowClient loop vs posthoc, on sqlite and PostgreSQL.

    python scripts/bench_read.py [--runs 1000] [--steps 1000] [--db bench-read/mlflow.db] [--postgres | --postgres-uri URI]
    python scripts/bench_read.py --memory [--skip-sqlite] [--memory-runs 1000 10000] [--memory-steps 300]

Builds each store once (runs through MLflow's client, metric rows in bulk in MLflow's own schema: logging
4M points through the client would take hours), reads the sqlite file once so the page cache is warm for
both paths, then times (a) search_runs + get_metric_history per run and key and (b) posthoc's reader, for
all runs and for one run, and prints both, rows/s and the ratio. --postgres starts a throwaway PostgreSQL
server (Debian's binaries, scripts/local_postgres.py) and fills the same runs there; --postgres-uri uses
yours (an empty database; MLflow creates its schema).

--memory prints the peak RSS of `posthoc analyze --experiment` (goal: flat as the experiment grows, < ~300 MB)
on one sqlite store per size, cached under --memory-dir: a few template runs are logged through MLflow's
client, then cloned in SQL under new ids (MLflow's own schema, its columns read from the file), so 10,000
runs take seconds. Each output format runs in a fresh process, which reports its own peak (VmHWM at exit):
run-by-run output keeps it bounded by one batch of runs, not by the experiment.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # local_postgres

KEYS = ("train_loss", "val_loss", "grad_norm", "lr")
LARGEST = sys.float_info.max
TEMPLATES = 4  # runs of a --memory store logged for real (one per lr of build()); the rest are their clones
CLONED = ("metrics", "latest_metrics", "params", "tags")


def build(uri: str, runs: int, steps: int) -> None:
    """N runs logged through MLflow's client, then their metric rows inserted in bulk, encoded as MLflow does."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    from posthoc.demo.loops import TrainConfig, train

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("bench")
    histories = [train(TrainConfig(dataset="wine", depth=0, lr=lr, steps=steps, val_every=1)) for lr in (0.01, 0.05, 0.2, 1.0)]
    start = int(time.time() * 1000)
    rows, latest = [], []
    for index in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"run-{index}").info.run_id
        client.log_batch(run_id, params=[Param("lr", str(index % 4))])
        metrics = histories[index % 4].metrics
        for key in KEYS:
            steps_, values = metrics[key]
            stamps = start + steps_ * 10
            for step, value, stamp in zip(steps_.tolist(), values.tolist(), stamps.tolist()):
                rows.append((key, *_mlflow_value(value), stamp, run_id, step))
            latest.append((key, *_mlflow_value(float(values[-1])), int(stamps[-1]), int(steps_[-1]), run_id))
        client.set_terminated(run_id)
        if index % 100 == 99:
            print(f"  built {index + 1}/{runs} runs", file=sys.stderr)
    if uri.startswith("sqlite"):
        with sqlite3.connect(uri.removeprefix("sqlite:///")) as conn:
            conn.executemany("INSERT INTO metrics (key, value, is_nan, timestamp, run_uuid, step) VALUES (?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO latest_metrics (key, value, is_nan, timestamp, step, run_uuid) VALUES (?,?,?,?,?,?)", latest)
        return
    import psycopg
    import sqlalchemy

    url = sqlalchemy.engine.make_url(uri)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database) as conn:
        with conn.cursor().copy("COPY metrics (key, value, is_nan, timestamp, run_uuid, step) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        with conn.cursor().copy("COPY latest_metrics (key, value, is_nan, timestamp, step, run_uuid) FROM STDIN") as copy:
            for row in latest:
                copy.write_row(row)


def _mlflow_value(value: float) -> tuple[float, bool]:
    """(value, is_nan) as MLflow's SQL store writes them: NaN as 0 with is_nan, ±Inf as ±max float."""
    if math.isnan(value):
        return 0.0, True
    return (math.copysign(LARGEST, value) if math.isinf(value) else value), False


def build_cloned(db: Path, runs: int, steps: int) -> None:
    """`runs` runs of `steps` points per metric: TEMPLATES logged through MLflow, the others cloned in SQL."""
    db.parent.mkdir(parents=True, exist_ok=True)
    build(f"sqlite:///{db}", TEMPLATES, steps)
    with sqlite3.connect(db) as conn:
        templates = [row[0] for row in conn.execute("SELECT run_uuid FROM runs ORDER BY start_time")]
        conn.execute("CREATE TEMP TABLE clones (run_uuid TEXT, source TEXT, name TEXT)")
        conn.executemany("INSERT INTO clones VALUES (?, ?, ?)", [(uuid.uuid4().hex, templates[index % TEMPLATES],
                                                                  f"run-{index}") for index in range(TEMPLATES, runs)])
        for table in ("runs", *CLONED):  # one statement per table: every column copied, the id (and name) replaced
            replaced = ("run_uuid", "name") if table == "runs" else ("run_uuid",)
            names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            chosen = [f"c.{c}" if c in replaced else f"t.{c}" for c in names]
            conn.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(chosen)} FROM clones c "
                         f"JOIN {table} t ON t.run_uuid = c.source ORDER BY c.rowid")


# The child reports its own high-water RSS (VmHWM) at exit: ru_maxrss from wait4 would include the memory of
# this (parent) process, which the child inherits at fork.
REPORT_PEAK = ("import atexit, runpy, sys; atexit.register(lambda: print('VmHWM', open('/proc/self/status').read()"
               ".split('VmHWM:')[1].split()[0], file=sys.stderr)); sys.argv = ['posthoc', *sys.argv[1:]]; "
               "runpy.run_module('posthoc', run_name='__main__')")


def peak_rss_mb(arguments: list[str]) -> tuple[float, float, int]:
    """Peak RSS (MB) of `posthoc ARGUMENTS` in a fresh process, its wall time (s) and exit code."""
    started = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", REPORT_PEAK, *arguments], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    peak_kb = int(child.stderr.split("VmHWM")[-1].split()[0]) if "VmHWM" in child.stderr else 0
    return peak_kb / 1024, time.perf_counter() - started, child.returncode


def memory(sizes: list[int], steps: int, folder: Path, formats: list[str]) -> None:
    """Peak RSS of `posthoc analyze --experiment bench` per experiment size and output format."""
    print(f"{'runs':>6} {'points/run':>10} {'format':>6} {'peak RSS':>9} {'time':>8}")
    for runs in sizes:
        db = folder / f"{runs}x{steps}" / "mlflow.db"
        if not db.exists():
            started = time.perf_counter()
            build_cloned(db, runs, steps)
            print(f"built {db} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for fmt in formats:
            with tempfile.TemporaryDirectory() as out:
                command = ["analyze", "--experiment", "bench", "--tracking-uri", f"sqlite:///{db}", "--format", fmt,
                           "--fail-on", "never", *(["--out", out] if fmt == "html" else [])]
                rss, seconds, code = peak_rss_mb(command)
            if code != 0:
                sys.exit(f"posthoc {' '.join(command)} exited {code}")
            print(f"{runs:>6} {len(KEYS) * steps:>10} {fmt:>6} {rss:>6.0f} MB {seconds:>7.1f}s", flush=True)


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


def compare(uri: str, label: str, skip_naive: bool) -> None:
    """posthoc's reader against the naive loop on one store, all runs and one run."""
    fast_all, rows = posthoc_read(uri, "bench")
    print(f"{label}: posthoc reader, all runs: {fast_all:8.2f} s  {rows:,} rows  {rows / fast_all:,.0f} rows/s")
    if skip_naive:
        return
    slow_all, slow_rows, one_id = naive(uri, "bench")
    print(f"{label}: naive MlflowClient loop:  {slow_all:8.2f} s  {slow_rows:,} rows  {slow_rows / slow_all:,.0f} rows/s")
    print(f"{label}: ratio (all runs): {slow_all / fast_all:.1f}x")
    fast_one, one_rows = posthoc_read(uri, "bench", one_id)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    started = time.perf_counter()
    run = client.get_run(one_id)
    for key in run.data.metrics:
        client.get_metric_history(one_id, key)
    slow_one = time.perf_counter() - started
    print(f"{label}: one run: posthoc {fast_one * 1000:.1f} ms vs naive {slow_one * 1000:.1f} ms ({one_rows:,} rows), "
          f"ratio {slow_one / fast_one:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway local PostgreSQL server")
    parser.add_argument("--postgres-uri", metavar="URI", help="also on this (empty) PostgreSQL database")
    parser.add_argument("--skip-sqlite", action="store_true", help="no read timings on sqlite")
    parser.add_argument("--skip-naive", action="store_true", help="only time posthoc's reader")
    parser.add_argument("--memory", action="store_true", help="also the peak RSS of analyze --experiment")
    parser.add_argument("--memory-runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--memory-steps", type=int, default=300)
    parser.add_argument("--memory-dir", type=Path, default=Path("bench-memory"), help="where --memory keeps its stores")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "json", "text", "html"])
    args = parser.parse_args()
    if not args.skip_sqlite:
        db = args.db or Path(f"bench-read-{args.runs}x{args.steps}/mlflow.db")
        if not db.exists():
            started = time.perf_counter()
            db.parent.mkdir(parents=True, exist_ok=True)
            build(f"sqlite:///{db}", args.runs, args.steps)
            print(f"built {db} in {time.perf_counter() - started:.1f} s")
        with open(db, "rb") as handle:  # both paths then read from the page cache: we time compute, not the disk
            while handle.read(1 << 24):
                pass
        compare(f"sqlite:///{db}", "sqlite", args.skip_naive)
    if args.postgres or args.postgres_uri:
        server = None
        if args.postgres_uri is None:
            from local_postgres import LocalPostgres

            server = LocalPostgres().start()
        try:
            uri = args.postgres_uri or server.create_database(template=None)
            started = time.perf_counter()
            build(uri, args.runs, args.steps)
            print(f"built the PostgreSQL store in {time.perf_counter() - started:.1f} s")
            compare(uri, "postgresql", args.skip_naive)
        finally:
            if server is not None:
                server.stop()
    if args.memory:
        memory(args.memory_runs, args.memory_steps, args.memory_dir, args.formats)


if __name__ == "__main__":
    main()
