"""Benchmark: HTML report size and speed on real training histories (posthoc.demo.train).

    python scripts/bench_report.py [--long-steps 100000] [--reports 200]

Prints (1) size and render time of a 100,000-step run's report (bars: < 500 KB, < 1 s), (2) per-report
render+atomic-write time for a typical 1,000-step run (bar: < 30 ms), and (3) what drawing the same three
panels with matplotlib's SVG backend costs, which is why charts.py draws the SVG directly.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posthoc.demo.loops import TrainConfig, config_params, train
from posthoc.diagnose import diagnose
from posthoc.model import Run, Series


def as_run(name: str, config: TrainConfig) -> Run:
    """A Run from a real training loop's history, as a store reader would return it."""
    history = train(config)
    metrics = {key: Series.from_points(key, steps, values, 1_700_000_000_000 + steps * 20)
               for key, (steps, values) in history.metrics.items()}
    return Run(f"bench-{name}", name, "0", "FINISHED", 1_700_000_000_000, None, config_params(config), {}, metrics)


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def matplotlib_panels(run: Run) -> float:
    """Seconds to draw loss, grad norm and lr with matplotlib's SVG backend (for comparison only)."""
    import io

    import matplotlib

    matplotlib.use("svg")
    from matplotlib import pyplot as plt

    started = time.perf_counter()
    for keys in (("train_loss", "val_loss"), ("grad_norm",), ("lr",)):
        figure, axis = plt.subplots(figsize=(9.8, 2.1))
        for key in keys:
            axis.plot(run.metrics[key].steps, run.metrics[key].values, label=key)
        axis.legend()
        figure.savefig(io.BytesIO(), format="svg")
        plt.close(figure)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-steps", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=200, help="reports written to time the typical run")
    args = parser.parse_args()
    from posthoc.report import render_run_report, write_report

    print(f"training a {args.long_steps}-step run (wine softmax, a spike at 60%, lr decays)...", file=sys.stderr)
    long_run = as_run("long", TrainConfig(dataset="wine", depth=0, lr=0.05, schedule="cosine", steps=args.long_steps,
                                          val_every=100, corrupt_steps=(int(args.long_steps * 0.6),), corrupt_scale=30.0))
    typical = as_run("typical", TrainConfig(steps=1000, val_every=10))

    started = time.perf_counter()
    long_diagnosis = diagnose(long_run)
    diagnose_s = time.perf_counter() - started
    cold = timed(lambda: render_run_report(long_diagnosis), 1)[0]  # includes compiling the templates
    warm = timed(lambda: render_run_report(long_diagnosis), 5)
    html = render_run_report(long_diagnosis)
    points = sum(len(s) for s in long_run.metrics.values())
    print(f"{args.long_steps}-step run ({points} logged points): report {len(html.encode()) / 1024:.0f} KB "
          f"(bar < 500 KB), render {statistics.median(warm) * 1000:.0f} ms median of 5 "
          f"(first call, compiling templates: {cold * 1000:.0f} ms; bar < 1 s); diagnose {diagnose_s * 1000:.0f} ms")

    diagnosis = diagnose(typical)
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"run-{i}.html" for i in range(args.reports)]
        times = [timed(lambda p=p: write_report(p, render_run_report(diagnosis)), 1)[0] for p in paths]
        size = paths[0].stat().st_size
    times.sort()
    print(f"1000-step run: render + atomic write {statistics.median(times) * 1000:.1f} ms median, "
          f"p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms over {args.reports} reports (bar < 30 ms); "
          f"{size / 1024:.0f} KB each; {args.reports} reports in {sum(times):.2f} s")
    mpl = [matplotlib_panels(typical) for _ in range(3)]
    print(f"matplotlib SVG backend, same 3 panels of the 1000-step run: {statistics.median(mpl) * 1000:.0f} ms "
          f"(charts only, no report): drawing SVG directly instead")


if __name__ == "__main__":
    main()
