"""Benchmark: the nightly job over N varied runs, single-process and worker pool vs Spark local[1] and local[2].

    python scripts/bench_spark.py [--runs 10000] [--db bench-spark/mlflow.db] [--source jdbc|parquet]

Builds the store once (scripts/varied_store.py), then times a full first night into a fresh folder for each
engine, prints runs/s, and checks that every engine reached the same verdict on every run. Spark's
session start (JVM, Python workers) is timed apart from the job.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def verdicts(out_dir: Path) -> dict[str, tuple]:
    runs = json.loads((out_dir / "state.json").read_text())["runs"]
    records = runs.values() if isinstance(runs, dict) else runs
    return {r["run_id"]: (r["diagnosis"]["status"], r["diagnosis"]["primary"], json.dumps(r["diagnosis"]["findings"]))
            for r in records}


def night(store, out_dir: Path, workers: int = 1, analyze=None) -> float:
    from posthoc.config import Config
    from posthoc.nightly import NightlyOptions, run_nightly

    started = time.perf_counter()
    run_nightly(store, NightlyOptions(out_dir=out_dir, workers=workers), Config(), analyze=analyze)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--db", type=Path, default=Path("bench-spark/mlflow.db"))
    parser.add_argument("--source", choices=("jdbc", "parquet"), default="jdbc",
                        help="what Spark reads: the sqlite store over JDBC, or a posthoc export of it")
    parser.add_argument("--spark-only", action="store_true", help="skip the single-machine runs (measured already)")
    args = parser.parse_args()

    from varied_store import build

    from posthoc.spark.engine import analyze_on_spark, spark_session
    from posthoc.spark.sources import from_jdbc, from_parquet
    from posthoc.store import open_store
    from posthoc.store.longformat import export_parquet

    uri = f"sqlite:///{args.db.absolute()}"
    if not args.db.exists():
        started = time.perf_counter()
        build(args.db, args.runs)
        print(f"built {args.runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    store = open_store(uri)
    runs = len(store.run_ids(list(store.experiment_ids(store.experiment_names()).values())))
    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    if args.source == "parquet":
        ids = store.experiment_ids(store.experiment_names())
        export_parquet(store, store.run_ids(list(ids.values())), {i: n for n, i in ids.items()}, work / "export")

    rows, results = [], {}
    for label, workers in () if args.spark_only else (("single process", 1), ("process pool, 2 workers", 2)):
        out = work / label.replace(" ", "-").replace(",", "")
        seconds = night(open_store(uri), out, workers)
        rows.append((label, seconds, None))
        results[label] = verdicts(out)
    for master in ("local[1]", "local[2]"):
        started = time.perf_counter()
        spark = spark_session(master)
        source = from_parquet(spark, str(work / "export")) if args.source == "parquet" else from_jdbc(spark, uri)
        start_s = time.perf_counter() - started
        out = work / f"spark-{master.replace('[', '-').rstrip(']')}"  # Hadoop reads [ ] in a path as a glob
        seconds = night(source, out, analyze=analyze_on_spark)
        spark.stop()
        label = f"spark {master} ({args.source})"
        rows.append((label, seconds, start_s))
        results[label] = verdicts(out)

    reference = results.get("single process") or results[rows[0][0]]
    print(f"nightly job, first night, {runs} runs ({args.db}):")
    for label, seconds, start_s in rows:
        same = sum(results[label].get(r) == v for r, v in reference.items())
        extra = f"  (+{start_s:.1f} s session start)" if start_s is not None else ""
        print(f"  {label:34s} {seconds:8.1f} s  {runs / seconds:8.1f} runs/s  same verdicts {same}/{len(reference)}{extra}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
