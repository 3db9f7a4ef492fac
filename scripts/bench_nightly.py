"""Benchmark: the full `posthoc nightly` job over an N-run sqlite store vs the naive approach, then a rerun.

    python scripts/bench_nightly.py [--runs 1000] [--steps 1000] [--db bench-nightly/mlflow.db]
                                    [--copy-from /tmp/br1000/mlflow.db] [--workers 2] [--naive-runs 100]

The store (4 metrics x --steps points per run) is built with scripts/bench_read.py's builder unless --db
exists, or copied from --copy-from (the source is only read). In one run it times (a) the nightly job as cron
runs it (`python -m posthoc nightly`, all reports, digest, summary), (b) the naive approach: MlflowClient
search_runs + get_metric_history per run and metric + diagnose per run, no reports (timed on --naive-runs
runs and extrapolated linearly), prints the ratio, then (c) the job again with nothing changed.
Bars: (a) < 30 s for 1,000 runs on 2 cores, (c) < 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nightly(uri: str, out: Path, workers: int) -> tuple[float, float, dict]:
    """(wall s, CPU s of the job and its workers, summary.json) for one `python -m posthoc nightly`."""
    command = [sys.executable, "-m", "posthoc", "nightly", "--tracking-uri", uri, "--out", str(out),
               "--experiment", "bench", "--workers", str(workers), "--fail-on", "never"]
    cpu = child_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"nightly failed ({done.returncode}): {done.stderr}")
    return wall, child_cpu() - cpu, json.loads((out / "summary.json").read_text())


def naive(uri: str, subset: int) -> tuple[float, float, int]:
    """(fixed s, s per run, runs in the experiment): search_runs once, then per run every history + diagnose."""
    from bench_read import search_all_runs  # scripts/ is on sys.path when a script runs
    from mlflow.tracking import MlflowClient

    from posthoc.diagnose import diagnose
    from posthoc.model import Run, Series

    started = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    runs = search_all_runs(client, "bench")
    fixed = time.perf_counter() - started
    started = time.perf_counter()
    for info in runs[:subset]:
        metrics = {}
        for key in info.data.metrics:
            history = client.get_metric_history(info.info.run_id, key)
            metrics[key] = Series.from_points(key, [m.step for m in history], [m.value for m in history],
                                              [m.timestamp for m in history])
        run = Run(info.info.run_id, info.info.run_name, info.info.experiment_id, info.info.status, info.info.start_time,
                  info.info.end_time, dict(info.data.params), dict(info.data.tags), metrics)
        diagnose(run)
    return fixed, (time.perf_counter() - started) / min(subset, len(runs)), len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--copy-from", type=Path, default=None, help="copy this ready store (never modified)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--naive-runs", type=int, default=100, help="time the naive loop on this many runs")
    args = parser.parse_args()
    db = args.db or Path(f"bench-nightly-{args.runs}x{args.steps}/mlflow.db")
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if args.copy_from:
            shutil.copyfile(args.copy_from, db)
            print(f"copied {args.copy_from} to {db} in {time.perf_counter() - started:.1f} s")
        else:
            from scripts.bench_read import build

            build(f"sqlite:///{db}", args.runs, args.steps)
            print(f"built {db} in {time.perf_counter() - started:.1f} s")
    uri = f"sqlite:///{db.resolve()}"
    out = db.parent / "nightly-out"
    shutil.rmtree(out, ignore_errors=True)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other processes share them)")

    wall, cpu, summary = nightly(uri, out, args.workers)
    runs = summary["analyzed_tonight"]
    reports = len(list((out / "runs").glob("*.html")))
    print(f"nightly, first run:   {wall:7.2f} s wall  {cpu:6.1f} s CPU  {runs} runs analyzed, {reports} reports + "
          f"index.html ({(out / 'index.html').stat().st_size / 1e6:.1f} MB)  job timings {summary['timings_s']}")

    fixed, per_run, total = naive(uri, args.naive_runs)
    slow = fixed + per_run * total
    print(f"naive MlflowClient loop + diagnose: {fixed:.2f} s search_runs + {per_run * 1000:.1f} ms/run, timed on "
          f"{min(args.naive_runs, total)} runs and extrapolated linearly to {total}: {slow:7.2f} s (no reports)")
    print(f"ratio (naive / nightly): {slow / wall:.1f}x")

    again, again_cpu, summary = nightly(uri, out, args.workers)
    print(f"nightly, nothing changed: {again:5.2f} s wall  {again_cpu:5.1f} s CPU  "
          f"{summary['analyzed_tonight']} runs analyzed, {summary['runs_known']} in the digest")
    print(f"bars: first run < 30 s: {'met' if wall < 30 else 'MISSED'}; rerun < 3 s: {'met' if again < 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
