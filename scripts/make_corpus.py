"""Build a labeled corpus of real training runs in an MLflow sqlite store.

    python scripts/make_corpus.py --db /tmp/corpus-1.db --seed 1
    python scripts/make_corpus.py --db /tmp/tiny.db --seed 3 --per-class 2 --healthy 3   # a smoke test

Each run comes from a randomized recipe (corpus.recipes) trained by posthoc.demo's numpy loops; its label is
the injected fault, stored as the run tag `posthoc.label`, and kept only if the logged data shows it
(corpus.checks). Training runs in worker processes; the parent logs each run with batched calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny matrices: threads only fight over the 2 cores
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import collections
import re
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus.checks import check
from corpus.recipes import LABEL_TAG, RECIPES, recipe

from posthoc.demo.loops import config_params, train
from posthoc.demo.record import log_history, open_client

# what a real trainer would log as params; fault knobs (corrupt_steps, lr_jump_step…) stay hidden
LOGGED_PARAMS = ("dataset", "depth", "hidden", "activation", "optimizer", "lr", "schedule", "warmup_steps",
                 "batch_size", "steps", "weight_decay", "dropout", "grad_clip", "seed")


def _attempt(job: tuple[str, int]):
    label, run_seed = job
    warnings.filterwarnings("ignore")
    config = recipe(label, run_seed)
    started = time.perf_counter()
    history = train(config)
    reason = check(label, history)
    return label, run_seed, (history if reason is None else None), reason, time.perf_counter() - started


def _params(config, run_seed: int) -> dict[str, str]:
    """A realistic subset: every run logs a few params, some log none of the optional ones."""
    everything = config_params(config)
    keep = LOGGED_PARAMS if run_seed % 5 else LOGGED_PARAMS[:6]
    return {k: everything[k] for k in keep if not (k == "batch_size" and config.batch_size == 0)}


def build(db: Path, seed: int, per_class: int, healthy: int, workers: int, experiment: str, max_rounds: int = 6):
    wanted = {label: (healthy if label == "healthy" else per_class) for label in RECIPES}
    kept: dict[str, int] = collections.Counter()
    dropped: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    tried: dict[str, int] = collections.Counter()
    client = open_client(f"sqlite:///{db}")
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)
    started = time.perf_counter()
    train_seconds = 0.0
    with Pool(workers) as pool:
        for round_index in range(max_rounds):
            jobs = []
            for label, target in wanted.items():
                missing = target - kept[label]
                if missing <= 0:
                    continue
                # later rounds over-ask for labels whose recipes often fail their check
                rate = kept[label] / tried[label] if tried[label] else 1.0
                count = int(missing / max(rate, 0.2) * (1.2 if round_index else 1.0)) + (1 if round_index else 0)
                jobs += [(label, seed * 1_000_000 + (tried[label] + k) * 11 + 7) for k in range(count)]
                tried[label] += count
            if not jobs:
                break
            jobs.sort(key=lambda job: -recipe(job[0], job[1]).steps)  # longest first keeps both cores busy
            for label, run_seed, history, reason, seconds in pool.imap_unordered(_attempt, jobs):
                train_seconds += seconds
                if history is None:
                    dropped[label][re.sub(r"[-+]?\d[\d.e+-]*", "#", reason.split(":")[0])[:60]] += 1
                    continue
                if kept[label] >= wanted[label]:
                    continue
                kept[label] += 1
                status = "FAILED" if history.config.stop_on_nan else "FINISHED"
                if label == "healthy" and run_seed % 10 == 3:
                    status = "RUNNING"  # still in progress: analyzed on what it logged so far
                log_history(client, experiment_id, history, f"run-{seed}-{sum(kept.values()):04d}", status=status,
                            params=_params(history.config, run_seed),
                            tags={LABEL_TAG: label, "posthoc.corpus_seed": str(seed)})
                done = sum(kept.values())
                if done % 25 == 0:
                    print(f"  {done}/{sum(wanted.values())} runs logged, {time.perf_counter() - started:.0f} s",
                          file=sys.stderr, flush=True)
    return kept, dropped, tried, time.perf_counter() - started, train_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="sqlite file to create or extend")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-class", type=int, default=20, help="runs per failure pattern")
    parser.add_argument("--healthy", type=int, default=70, help="healthy runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--experiment", default="posthoc-corpus")
    args = parser.parse_args(argv)
    kept, dropped, tried, seconds, train_seconds = build(args.db, args.seed, args.per_class, args.healthy,
                                                         args.workers, args.experiment)
    print(f"corpus seed {args.seed}: {sum(kept.values())} runs in sqlite:///{args.db} "
          f"(experiment {args.experiment!r}, label tag {LABEL_TAG!r})")
    print(f"{'label':22s} {'kept':>5s} {'tried':>6s} {'dropped':>8s}  why dropped")
    for label in RECIPES:
        reasons = ", ".join(f"{why} ×{n}" for why, n in dropped[label].most_common(3))
        print(f"{label:22s} {kept[label]:5d} {tried[label]:6d} {sum(dropped[label].values()):8d}  {reasons}")
    print(f"build time {seconds:.0f} s (training {train_seconds:.0f} s of worker time)")


if __name__ == "__main__":
    main()
