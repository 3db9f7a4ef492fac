"""Benchmark: `compare` on N runs of 12 varying params, after loading (goal: 1,000 runs in under 5 s).

    python scripts/bench_compare.py [--runs 1000] [--steps 40] [--seeds 4] [--design mutations|random]

Every run is a real short training history from posthoc.demo's numpy loops, held in memory as Run objects
(the store read is measured by bench_read.py). Configs are random bases plus one-param mutations of them
(so fair comparisons exist, as in a real sweep; `--design random` is a pure random search, the worst case
for the confounding search), each trained with several seeds. Prints the time to
diagnose the runs and the time of compare() itself (grouping, noise bands, confounding, importance).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = {  # 12 params that vary
    "lr": [0.003, 0.01, 0.03, 0.1, 0.3],
    "batch_size": [8, 16, 32, 64],
    "hidden": [8, 16, 32],
    "weight_decay": [0.0, 1e-4, 1e-3],
    "optimizer": ["sgd", "momentum", "adam"],
    "activation": ["relu", "tanh"],
    "init_scale": [0.5, 1.0, 2.0],
    "depth": [0, 1, 2],
    "schedule": ["constant", "cosine"],
    "warmup_steps": [0, 5],
    "label_noise": [0.0, 0.1],
    "grad_clip": [0.0, 1.0],
}


def make_configs(count: int, steps: int, seeds: int, rng: random.Random, mutations: int = 4):
    from posthoc.demo.loops import TrainConfig

    base = TrainConfig(dataset="wine", steps=steps, val_every=5)
    configs: list = []
    while len(configs) * seeds < count:
        choice = {k: rng.choice(v) for k, v in GRID.items()}
        configs.append(dataclasses.replace(base, **choice))
        for param in rng.sample(sorted(GRID), mutations):  # one-param mutations: the fair comparisons
            other = rng.choice([v for v in GRID[param] if v != choice[param]])
            configs.append(dataclasses.replace(base, **{**choice, param: other}))
    return [dataclasses.replace(c, seed=s) for c in configs for s in range(seeds)][:count]


def to_run(index: int, history):
    from posthoc.demo.loops import config_params
    from posthoc.model import Run, Series

    metrics = {key: Series.from_points(key, steps, values, steps * 20) for key, (steps, values) in history.metrics.items()}
    return Run(f"run{index:05d}", f"bench-{index}", "bench", "FINISHED", 0, 1, config_params(history.config), {}, metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--design", choices=["mutations", "random"], default="mutations")
    args = parser.parse_args()

    from posthoc.compare import compare
    from posthoc.demo.loops import train
    from posthoc.diagnose import diagnose

    start = time.perf_counter()
    configs = make_configs(args.runs, args.steps, args.seeds, random.Random(0), 4 if args.design == "mutations" else 0)
    runs = [to_run(i, train(c)) for i, c in enumerate(configs)]
    print(f"trained {len(runs)} real runs ({args.steps} steps, {args.seeds} seeds per config) "
          f"in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    diagnoses = [diagnose(r) for r in runs]
    diagnose_s = time.perf_counter() - start
    start = time.perf_counter()
    result = compare(runs, diagnoses)
    compare_s = time.perf_counter() - start
    varying = len(result.comparisons)
    print(f"diagnose: {diagnose_s:.2f} s for {len(runs)} runs")
    print(f"compare: {compare_s:.2f} s for {len(runs)} runs x {varying} varying params "
          f"(goal < 5 s; {sum(c.significant for c in result.comparisons)} significant, "
          f"{sum(c.confounded for c in result.comparisons)} confounded, {result.failures} failed runs)")
    for line in result.summary[:4]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
