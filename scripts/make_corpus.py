"""Build a labeled corpus of real training runs in an MLflow sqlite store.

    python scripts/make_corpus.py --db /tmp/corpus-1.db --seed 1
    python scripts/make_corpus.py --db /tmp/tiny.db --seed 3 --per-class 2 --healthy 3   # a smoke test

Each run comes from a randomized recipe (corpus.recipes) trained by posthoc.demo's numpy loops; its labels are
the injected faults (tags `posthoc.label`, the primary, and `posthoc.labels`, all of them), its family and
split (dev, or test: a held-out family, dataset or optimizer) are tagged too, and it is kept only if the
logged data shows every label (corpus.checks). Training runs in worker processes; the parent logs each
run with batched calls.
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
from corpus.recipes import FAMILIES, FAMILY_TAG, LABEL_TAG, LABELS, LABELS_TAG, SPLIT_TAG, recipe

from posthoc.demo.loops import config_params, train
from posthoc.demo.record import log_history, open_client

# what a real trainer would log as params; fault knobs (corrupt_steps, lr_jump_step…) stay hidden
LOGGED_PARAMS = ("dataset", "depth", "hidden", "activation", "optimizer", "lr", "schedule", "warmup_steps",
                 "batch_size", "steps", "weight_decay", "dropout", "grad_clip", "seed")


def _attempt(job: tuple[str, str, int]):
    label, split, run_seed = job
    warnings.filterwarnings("ignore")
    made = recipe(label, run_seed, split)
    started = time.perf_counter()
    history = train(made.config)
    reason = check(made, history)
    return made, run_seed, (history if reason is None else None), reason, time.perf_counter() - started


def _params(config, run_seed: int) -> dict[str, str]:
    """A realistic subset: every run logs a few params, some log none of the optional ones."""
    everything = config_params(config)
    keep = LOGGED_PARAMS if run_seed % 5 else LOGGED_PARAMS[:6]
    return {k: everything[k] for k in keep if not (k == "batch_size" and config.batch_size == 0)}


def targets(per_class: int, healthy: int, test_fraction: float, labels=LABELS) -> dict[tuple[str, str], int]:
    """Runs wanted per (label, split): `test_fraction` of each label's runs come from held-out families."""
    wanted = {}
    for label in labels:
        total = healthy if label == "healthy" else per_class
        test = int(round(test_fraction * total))
        wanted[label, "dev"], wanted[label, "test"] = total - test, test
    return wanted


def build(db: Path, seed: int, per_class: int, healthy: int, workers: int, experiment: str,
          test_fraction: float = 0.4, labels=LABELS, max_rounds: int = 6):
    wanted = targets(per_class, healthy, test_fraction, labels)
    kept: dict[tuple[str, str], int] = collections.Counter()
    dropped: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    tried: dict[tuple[str, str], int] = collections.Counter()
    client = open_client(f"sqlite:///{db}")
    existing = client.get_experiment_by_name(experiment)
    experiment_id = existing.experiment_id if existing else client.create_experiment(experiment)
    started = time.perf_counter()
    train_seconds = 0.0
    with Pool(workers) as pool:
        for round_index in range(max_rounds):
            jobs = []
            for key, target in wanted.items():
                missing = target - kept[key]
                if missing <= 0:
                    continue
                # later rounds over-ask for recipes that often fail their check
                rate = kept[key] / tried[key] if tried[key] else 1.0
                count = int(missing / max(rate, 0.2) * (1.2 if round_index else 1.0)) + (1 if round_index else 0)
                jobs += [(*key, seed * 1_000_000 + (tried[key] + k) * 11 + 7) for k in range(count)]
                tried[key] += count
            if not jobs:
                break
            jobs.sort(key=lambda job: -recipe(job[0], job[2], job[1]).config.steps)  # longest first: both cores busy
            for made, run_seed, history, reason, seconds in pool.imap_unordered(_attempt, jobs):
                train_seconds += seconds
                key = (made.label, made.split)
                if history is None:
                    dropped[made.family][re.sub(r"[-+]?\d[\d.e+-]*", "#", reason.split(":")[0])[:60]] += 1
                    continue
                if kept[key] >= wanted[key]:
                    continue
                kept[key] += 1
                status = "FAILED" if history.config.stop_on_nan else "FINISHED"
                if made.label == "healthy" and run_seed % 10 == 3:
                    status = "RUNNING"  # still in progress: analyzed on what it logged so far
                tags = {LABEL_TAG: made.label, LABELS_TAG: ",".join(made.labels), FAMILY_TAG: made.family,
                        SPLIT_TAG: made.split, "posthoc.corpus_seed": str(seed)}
                log_history(client, experiment_id, history, f"run-{seed}-{sum(kept.values()):04d}", status=status,
                            params=_params(history.config, run_seed), tags=tags)
                done = sum(kept.values())
                if done % 25 == 0:
                    print(f"  {done}/{sum(wanted.values())} runs logged, {time.perf_counter() - started:.0f} s",
                          file=sys.stderr, flush=True)
    return kept, dropped, tried, time.perf_counter() - started, train_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="sqlite file to create or extend")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-class", type=int, default=22, help="runs per failure pattern")
    parser.add_argument("--healthy", type=int, default=80, help="healthy runs")
    parser.add_argument("--test-fraction", type=float, default=0.4,
                        help="share of each label's runs drawn from held-out families, datasets and optimizers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--experiment", default="posthoc-corpus")
    args = parser.parse_args(argv)
    kept, dropped, tried, seconds, train_seconds = build(args.db, args.seed, args.per_class, args.healthy,
                                                         args.workers, args.experiment, args.test_fraction)
    print(f"corpus seed {args.seed}: {sum(kept.values())} runs in sqlite:///{args.db} "
          f"(experiment {args.experiment!r}, tags {LABEL_TAG!r}, {LABELS_TAG!r}, {FAMILY_TAG!r}, {SPLIT_TAG!r})")
    print(f"{'label':22s} {'dev':>4s} {'test':>5s} {'tried':>6s}")
    for label in LABELS:
        print(f"{label:22s} {kept[label, 'dev']:4d} {kept[label, 'test']:5d} "
              f"{tried[label, 'dev'] + tried[label, 'test']:6d}")
    print("dropped by the checks, per family:")
    for label in LABELS:
        for family in (f"{label}/{name}" for name in FAMILIES[label]):
            if dropped[family]:
                reasons = ", ".join(f"{why} ×{n}" for why, n in dropped[family].most_common(3))
                print(f"  {family:40s} {sum(dropped[family].values()):4d}  {reasons}")
    print(f"build time {seconds:.0f} s (training {train_seconds:.0f} s of worker time)")


if __name__ == "__main__":
    main()
