"""Build a labeled corpus of runs logged by MLflow's own autologging, and runs logged without a step.

    python scripts/make_autolog_corpus.py --db /tmp/autolog-7.db --seed 7
    python scripts/make_autolog_corpus.py --db /tmp/tiny.db --seed 3 --per-label 2 --healthy 2 --frameworks lightgbm

Each run trains a tiny real model (corpus.autolog) with `mlflow.<flavor>.autolog()` on; its label (tag
`posthoc.label`) is the injected configuration and its framework is the tag `posthoc.framework`. A run
whose logged losses do not show its label (corpus.autolog.shows) is deleted, not mislabeled. The
`stepless` framework is the numpy corpus's recipes logged without a step, as `mlflow.log_metric(k, v)` does.
Score it with `python scripts/evaluate.py --db DB --by framework`.
Needs the `integrations` extra: pip install -e '.[integrations]'.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import collections
import dataclasses
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus.autolog import FRAMEWORK_TAG, LABELS, TRAINERS, autolog, shows
from corpus.checks import check
from corpus.recipes import LABEL_TAG, recipe

from posthoc.demo.loops import train
from posthoc.demo.record import log_history


def _history(client, run_id: str, keys) -> dict:
    import numpy as np

    out = {}
    for key in keys:
        points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
        out[key] = (np.array([m.step for m in points]), np.array([m.value for m in points], dtype=float))
    return out


def _log_stepless(client, experiment_id: str, label: str, seed: int, name: str, tags: dict) -> str | None:
    """A numpy corpus recipe (posthoc.demo's loops) logged like `mlflow.log_metric(key, value)`: every point
    at step 0, told apart only by its timestamp. None when kept, else why the corpus check rejected it."""
    made = recipe(label, seed)
    config = dataclasses.replace(made.config, log_steps=False)
    history = train(config)
    reason = check(made, history)
    if reason is None:
        log_history(client, experiment_id, history, name, tags=tags)
    return reason


def build(db: Path, seed: int, per_label: int, healthy: int, frameworks: list[str], max_tries: int = 3) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    experiment_id = mlflow.set_experiment("autolog-corpus").experiment_id
    kept, dropped = collections.Counter(), collections.defaultdict(list)
    started = time.perf_counter()
    for framework in frameworks:
        if framework != "stepless":
            autolog(framework)
        for label in LABELS[framework]:
            wanted = healthy if label == "healthy" else per_label
            for index in range(wanted * max_tries):
                if kept[framework, label] >= wanted:
                    break
                run_seed = seed * 100_000 + index * 13 + 1 + 5000 * list(LABELS).index(framework)
                tags = {LABEL_TAG: label, FRAMEWORK_TAG: framework}
                name = f"{framework}-{label}-{run_seed}"
                if framework == "stepless":
                    reason = _log_stepless(client, experiment_id, label, run_seed, name, tags)
                else:
                    with mlflow.start_run(run_name=name, tags=tags) as run:
                        names = TRAINERS[framework](label, run_seed)
                    metrics = client.get_run(run.info.run_id).data.metrics
                    reason = shows(label, _history(client, run.info.run_id, metrics), names)
                    if reason is not None:
                        client.delete_run(run.info.run_id)
                if reason is None:
                    kept[framework, label] += 1
                else:
                    dropped[framework, label].append(reason)
            print(f"{framework:9s} {label:13s} kept {kept[framework, label]:3d}  dropped {len(dropped[framework, label]):3d}"
                  + (f"  e.g. {dropped[framework, label][0]}" if dropped[framework, label] else ""), flush=True)
    print(f"{sum(kept.values())} runs in {time.perf_counter() - started:.0f} s -> {db}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-label", type=int, default=10, help="runs per fault label and framework")
    parser.add_argument("--healthy", type=int, default=20, help="healthy runs per framework")
    parser.add_argument("--frameworks", nargs="+", default=list(LABELS), choices=list(LABELS))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    build(args.db, args.seed, args.per_label, args.healthy, args.frameworks)


if __name__ == "__main__":
    main()
