"""Benchmark `compare`: in memory on N real runs, on params that always change together, and cold from the shell.

    python scripts/bench_compare.py [--runs 1000] [--steps 40] [--seeds 4] [--design mutations|random]
                                    [--cli 200,1000] [--store-dir DIR] [--skip-memory]

1. compare() on N runs of 12 varying params, after loading (goal: 1,000 runs in under 5 s). Every run is a
   real short training history from posthoc.demo's numpy loops, held in memory as Run objects. Configs are
   random bases plus one-param mutations of them (so fair comparisons exist, as in a real sweep;
   `--design random` is a pure random search, the worst case for the confounding search).
2. compare() on 50 runs whose 100, 200 or 500 logged params always change together (a model config that
   follows one setting; goal ≤ 2 s for 500: it once took more than 10 minutes).
3. The cold `posthoc compare --format json` from the shell, a new interpreter each time, on sqlite stores of
   200 runs × 120 params (12 settings, 3 identifiers, the rest constant) and of 1,000 runs (goal < 2 s for
   200 runs). The stores are built once under --store-dir (default: a temp dir) and reused when present.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import subprocess
import sys
import tempfile
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
CLI_PARAMS = 120  # params per run in the CLI stores, as a Trainer-style logger writes them


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


def to_run(index: int, history, params: dict[str, str] | None = None):
    from posthoc.demo.loops import config_params
    from posthoc.model import Run, Series

    metrics = {key: Series.from_points(key, steps, values, steps * 20) for key, (steps, values) in history.metrics.items()}
    return Run(f"run{index:05d}", f"bench-{index}", "bench", "FINISHED", 0, 1,
               config_params(history.config) if params is None else params, {}, metrics)


def bench_memory(args) -> None:
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
    print(f"diagnose: {diagnose_s:.2f} s for {len(runs)} runs")
    print(f"compare: {compare_s:.2f} s for {len(runs)} runs x {len(result.comparisons)} varying params "
          f"(goal < 5 s; {sum(c.significant for c in result.comparisons)} significant, "
          f"{sum(c.confounded for c in result.comparisons)} confounded, {result.failures} failed runs)")
    for line in result.summary[:4]:
        print(f"  {line}")


def bench_lockstep(steps: int) -> None:
    """50 runs: 10 settings of lr x 5 seeds, each run logging N params that are functions of its lr."""
    from posthoc.compare import compare
    from posthoc.demo.loops import TrainConfig, config_params, train

    histories = [train(TrainConfig(dataset="wine", steps=steps, val_every=5, lr=0.005 * (1 + k), seed=seed))
                 for k in range(10) for seed in range(5)]
    for count in (100, 200, 500):
        runs = [to_run(i, h, {**config_params(h.config), **{f"model.p{j:03d}": str(h.config.lr * (j + 1))
                                                             for j in range(count - 1)}})
                for i, h in enumerate(histories)]
        start = time.perf_counter()
        result = compare(runs)
        grouped = max(len(c.moves_with) + 1 for c in result.comparisons)
        print(f"lockstep: compare {time.perf_counter() - start:.2f} s for 50 runs x {count} params that always "
              f"change together (one group of {grouped}; goal <= 2 s)")


def build_store(path: Path, count: int, steps: int) -> str:
    """A sqlite store of `count` real runs with CLI_PARAMS params each; built once, reused when present."""
    from posthoc.demo.loops import config_params, train
    from posthoc.demo.record import log_history, open_client

    uri = f"sqlite:///{path}"
    if path.exists():
        return uri
    client = open_client(uri)
    experiment_id = client.create_experiment("bench")
    for index, config in enumerate(make_configs(count, steps, 4, random.Random(1))):
        params = config_params(config)
        params.update({"output_dir": f"outputs/run-{index:05d}", "run_name": f"bench-{index}",
                       "logging_dir": f"outputs/run-{index:05d}/runs/Jan05_09-{index // 60 % 60:02d}-{index % 60:02d}"})
        params.update({f"trainer.setting_{k:03d}": "default" for k in range(CLI_PARAMS - len(params))})
        log_history(client, experiment_id, train(config), f"bench-{index}", params=params)
    return uri


def cold_seconds(command: list[str]) -> list[float]:
    """Wall time of `command` in a new interpreter, three times, after one untimed run that writes the bytecode
    (as pip does on install; under PYTHONDONTWRITEBYTECODE every start would recompile posthoc). The bytecode
    goes to a temp dir, never into the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONWARNINGS="ignore", PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "posthoc-bench-pycache"))
    times = []
    for attempt in range(4):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if attempt:
            times.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return times


def bench_cli(counts: list[int], steps: int, store_dir: Path) -> None:
    command = [shutil.which("posthoc") or sys.executable, *([] if shutil.which("posthoc") else ["-m", "posthoc"])]
    python = min(cold_seconds([sys.executable, "-c", "pass"]))
    numpy = min(cold_seconds([sys.executable, "-c", "import numpy"])) - python
    print(f"this machine now: a bare python starts in {python:.2f} s; importing numpy adds {numpy:.2f} s")
    for count in counts:
        start = time.perf_counter()
        uri = build_store(store_dir / f"bench-{count}.db", count, steps)
        built = time.perf_counter() - start
        for extra in ([], ["--no-importance"]):
            times = cold_seconds([*command, "compare", "-e", "bench", "--tracking-uri", uri, "--format", "json", *extra])
            print(f"cold CLI: posthoc compare {' '.join(extra)}{' ' if extra else ''}{min(times):.2f} s (best of 3: "
                  f"{', '.join(f'{t:.2f}' for t in times)}) for {count} runs x {CLI_PARAMS} params "
                  f"(store ready in {built:.0f} s; goal < 2 s for 200 runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--design", choices=["mutations", "random"], default="mutations")
    parser.add_argument("--cli", default="200,1000", help="Run counts for the cold CLI stores ('' to skip).")
    parser.add_argument("--store-dir", type=Path, help="Keep the CLI stores here and reuse them.")
    parser.add_argument("--skip-memory", action="store_true", help="Only the lockstep and CLI figures.")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits  # BLAS threads only slow these tiny matrices down

    with threadpool_limits(1):
        if not args.skip_memory:
            bench_memory(args)
        bench_lockstep(args.steps)
        counts = [int(c) for c in args.cli.split(",") if c.strip()]
        if counts:
            with tempfile.TemporaryDirectory() as scratch:
                store_dir = args.store_dir or Path(scratch)
                store_dir.mkdir(parents=True, exist_ok=True)
                bench_cli(counts, args.steps, store_dir)


if __name__ == "__main__":
    main()
