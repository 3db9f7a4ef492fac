"""Benchmark: peak memory of `posthoc analyze --experiment` as the experiment grows (goal: flat, < ~300 MB).

    python scripts/bench_memory.py [--runs 1000 10000] [--steps 300] [--dir bench-memory]

Builds one sqlite store per size: bench_read's builder logs a few template runs through MLflow's client,
then each run is cloned in SQL under new ids (MLflow's own schema, its columns read from the file) so
10,000 runs take seconds. Then `posthoc analyze --experiment bench` runs as jsonl, json, text and html in
a fresh process each, and the script prints that process's peak RSS (its VmHWM at exit): run-by-run
output keeps it bounded by one batch of runs, not by the experiment.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_read import build  # noqa: E402

TEMPLATES = 4  # runs logged for real (one per lr in bench_read); the rest are their clones
CLONED = ("metrics", "latest_metrics", "params", "tags")


def build_store(db: Path, runs: int, steps: int) -> None:
    """`runs` runs of `steps` points per metric: TEMPLATES logged through MLflow, the others cloned in SQL."""
    build(db, TEMPLATES, steps)
    with sqlite3.connect(db) as conn:
        templates = [row[0] for row in conn.execute("SELECT run_uuid FROM runs ORDER BY start_time")]
        columns = {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in ("runs", *CLONED)}
        for index in range(TEMPLATES, runs):
            new_id, source = uuid.uuid4().hex, templates[index % TEMPLATES]
            for table in ("runs", *CLONED):
                replaced = {"run_uuid": new_id, **({"name": f"run-{index}"} if table == "runs" else {})}
                names = columns[table]
                chosen = ["?" if c in replaced else c for c in names]
                values = [replaced[c] for c in names if c in replaced]
                conn.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(chosen)} FROM {table} "
                             "WHERE run_uuid = ?", (*values, source))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=Path("bench-memory"))
    parser.add_argument("--formats", nargs="+", default=["jsonl", "json", "text", "html"])
    args = parser.parse_args()
    print(f"{'runs':>6} {'points/run':>10} {'format':>6} {'peak RSS':>9} {'time':>8}")
    for runs in args.runs:
        db = args.dir / f"{runs}x{args.steps}" / "mlflow.db"
        if not db.exists():
            started = time.perf_counter()
            build_store(db, runs, args.steps)
            print(f"built {db} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for fmt in args.formats:
            with tempfile.TemporaryDirectory() as out:
                command = ["analyze", "--experiment", "bench", "--tracking-uri",
                           f"sqlite:///{db}", "--format", fmt, "--fail-on", "never"]
                if fmt == "html":
                    command += ["--out", out]
                rss, seconds, code = peak_rss_mb(command)
            if code != 0:
                sys.exit(f"posthoc {' '.join(command)} exited {code}")
            print(f"{runs:>6} {4 * args.steps:>10} {fmt:>6} {rss:>6.0f} MB {seconds:>7.1f}s", flush=True)


if __name__ == "__main__":
    main()
