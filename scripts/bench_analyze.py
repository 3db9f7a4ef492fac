"""How long `diagnose` takes on one long run: a 10,000-step run with 4 metrics (train/val loss, grad norm, lr).

    python scripts/bench_analyze.py [--steps 10000] [--repeat 30]

The run comes from a real posthoc.demo loop, held in memory (reading is bench_read.py's business); each
repetition builds fresh Series so no cached statistic is reused. Prints the median and worst time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from posthoc.demo.loops import TrainConfig, config_params, train
from posthoc.diagnose import diagnose
from posthoc.model import Run, Series


def build_run(history) -> Run:
    metrics = {key: Series.from_points(key, steps, values, steps * 20) for key, (steps, values) in history.metrics.items()
               if key != "val_acc"}
    return Run("bench", "bench", "0", "FINISHED", 0, 1, config_params(history.config), {}, metrics)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    history = train(TrainConfig(dataset="wine", depth=1, hidden=16, steps=args.steps, val_every=1, batch_size=8))
    diagnose(build_run(history), strict=True)  # warm up imports
    times = []
    for _ in range(args.repeat):
        run = build_run(history)
        started = time.perf_counter()
        d = diagnose(run, strict=True)
        times.append((time.perf_counter() - started) * 1000)
    points = {k: len(s) for k, s in run.metrics.items()}
    print(f"diagnose: {args.steps}-step run, metrics {points}")
    print(f"median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms over {args.repeat} runs "
          f"(primary: {d.primary})")


if __name__ == "__main__":
    main()
