"""Score posthoc's analyzer on a labeled corpus built by scripts/make_corpus.py.

    python scripts/evaluate.py --db /tmp/corpus-1.db [--by split|holdout|family] [--show-errors] [--json]
    python scripts/evaluate.py --db /tmp/autolog-11.db --by framework   # scripts/make_autolog_corpus.py's runs

For each group of runs (by default dev and test, the held-out families) prints the confusion matrix
(label × primary), per-class precision/recall/F1, macro-F1, the healthy false-alarm rate (healthy runs
given a non-healthy primary) and finding recall (problem runs whose true pattern is among the warning or
critical findings, primary or not), then the primary's accuracy per recipe family.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus.autolog import FRAMEWORK_TAG
from corpus.recipes import FAMILY_TAG, LABEL_TAG, LABELS_TAG, NEW_HELD_OUT_FAMILIES, PATTERNS, SPLIT_TAG

from posthoc.diagnose import diagnose
from posthoc.store import open_store

CLASSES = ("healthy",) + PATTERNS
SHORT = {"healthy": "ok", "nan_inf": "nan", "divergence": "div", "exploding_gradients": "expl",
         "oscillation": "osc", "loss_spikes": "spk", "plateau": "plat", "vanishing_gradients": "van",
         "overfitting": "ovf", "underfitting": "unf", "noisy_small_batch": "noisy"}


def score(pairs: list[tuple[str, str]]) -> dict:
    """Confusion matrix and per-class precision/recall/F1 over (label, primary) pairs."""
    labels = sorted({p for pair in pairs for p in pair} - set(CLASSES))
    classes = [c for c in CLASSES if any(c in pair for pair in pairs)] + labels
    matrix = {a: {b: 0 for b in classes} for a in classes}
    for label, primary in pairs:
        matrix[label][primary] += 1
    per_class = {}
    for c in classes:
        tp = matrix[c][c]
        predicted = sum(matrix[a][c] for a in classes)
        actual = sum(matrix[c].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    scored = [c for c in classes if per_class[c]["support"]]
    healthy = [primary for label, primary in pairs if label == "healthy"]
    return {
        "runs": len(pairs),
        "confusion": matrix,
        "per_class": per_class,
        "macro_f1": sum(per_class[c]["f1"] for c in scored) / max(len(scored), 1),
        "accuracy": sum(label == primary for label, primary in pairs) / max(len(pairs), 1),
        "healthy_false_alarm": sum(p != "healthy" for p in healthy) / max(len(healthy), 1),
        "healthy_runs": len(healthy),
    }


def summarize(rows: list[dict]) -> dict:
    """score() of the rows, plus finding recall: the true pattern among a problem run's findings."""
    result = score([(r["label"], r["primary"]) for r in rows])
    problems = [r for r in rows if r["label"] != "healthy"]
    result["finding_recall"] = sum(r["label"] in r["patterns"] for r in problems) / max(len(problems), 1)
    injected = [(label, r) for r in problems for label in r["labels"]]
    result["all_labels_found"] = sum(label in r["patterns"] for label, r in injected) / max(len(injected), 1)
    result["problem_runs"] = len(problems)
    return result


def holdout(split: str, family: str) -> str:
    """`--by holdout`: dev, test runs of the families never scored before the latest round
    (NEW_HELD_OUT_FAMILIES), and the other test runs (earlier held-out families, dataset and optimizer)."""
    return split if split != "test" else "test-new-families" if family in NEW_HELD_OUT_FAMILIES else "test-first"


def evaluate(db: Path, experiment: str | None) -> tuple[list[dict], float]:
    """One row per labeled run: its labels, family, split, and what diagnose() said."""
    store = open_store(f"sqlite:///{db}")
    if experiment:
        experiment_ids = list(store.experiment_ids([experiment]).values())
    else:
        import sqlite3

        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            experiment_ids = [str(row[0]) for row in
                              connection.execute("select experiment_id from experiments where lifecycle_stage='active'")]
    rows, seconds = [], 0.0
    for batch in store.iter_runs(store.run_ids(experiment_ids)):
        for run in batch:
            label = run.tags.get(LABEL_TAG)
            if label is None:
                continue
            started = time.perf_counter()
            diagnosis = diagnose(run)
            seconds += time.perf_counter() - started
            top = next((f for f in diagnosis.findings if f.pattern == diagnosis.primary), None)
            rows.append({"run_id": run.run_id, "run_name": run.run_name, "label": label,
                         "labels": run.tags.get(LABELS_TAG, label).split(","),
                         "family": run.tags.get(FAMILY_TAG, label), "split": run.tags.get(SPLIT_TAG, "dev"),
                         "holdout": holdout(run.tags.get(SPLIT_TAG, "dev"), run.tags.get(FAMILY_TAG, label)),
                         "framework": run.tags.get(FRAMEWORK_TAG, "numpy"),
                         "primary": diagnosis.primary, "status": diagnosis.status,
                         "patterns": [f.pattern for f in diagnosis.findings if f.severity in ("warning", "critical")],
                         "message": top.message if top else "", "errors": list(diagnosis.errors)})
    return rows, seconds


def print_summary(title: str, result: dict) -> None:
    classes = list(result["confusion"])
    print(f"== {title}: {result['runs']} runs\nconfusion (rows: label, columns: primary)")
    print(f"{'':8s}" + "".join(f"{SHORT.get(c, c[:5]):>6s}" for c in classes))
    for a in classes:
        print(f"{SHORT.get(a, a[:7]):8s}" + "".join(f"{result['confusion'][a][b] or '.':>6}" for b in classes))
    print(f"\n{'class':22s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>4s}")
    for c in classes:
        m = result["per_class"][c]
        print(f"{c:22s} {m['precision']:6.2f} {m['recall']:6.2f} {m['f1']:6.2f} {m['support']:4d}")
    print(f"\nmacro-F1 {result['macro_f1']:.3f}   accuracy {result['accuracy']:.3f}   "
          f"healthy false-alarm {result['healthy_false_alarm']:.1%} of {result['healthy_runs']}   "
          f"finding recall {result['finding_recall']:.1%} of {result['problem_runs']} "
          f"(every injected label {result['all_labels_found']:.1%})\n")


def print_families(rows: list[dict]) -> None:
    by_family = collections.defaultdict(list)
    for r in rows:
        by_family[(r["split"], r["family"])].append(r)
    print(f"{'split':5s} {'family':42s} {'n':>4s} {'primary':>8s} {'found':>6s}  most common wrong primary")
    for (split, family), group in sorted(by_family.items()):
        wrong = collections.Counter(r["primary"] for r in group if r["primary"] != r["label"]).most_common(1)
        found = sum(r["label"] in r["patterns"] for r in group) / len(group)
        print(f"{split:5s} {family:42s} {len(group):4d} {sum(r['primary'] == r['label'] for r in group) / len(group):8.0%} "
              + (f"{'-':>6s}" if group[0]["label"] == "healthy" else f"{found:6.0%}")
              + (f"  {wrong[0][0]} ×{wrong[0][1]}" if wrong else ""))



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--experiment", help="only this experiment (default: every active one)")
    parser.add_argument("--by", default="split", help="row field to score separately: split (default), holdout "
                        "(dev, test-first, test-new-families), family, framework")
    parser.add_argument("--show-errors", action="store_true", help="list misclassified runs")
    parser.add_argument("--json", action="store_true", help="print the scores and per-run rows as JSON")
    args = parser.parse_args(argv)
    if not args.db.exists():
        parser.error(f"{args.db} does not exist: build it with scripts/make_corpus.py --db {args.db}")
    rows, seconds = evaluate(args.db, args.experiment)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[str(r.get(args.by))].append(r)
    results = {name: summarize(group) for name, group in sorted(groups.items())}
    if args.json:
        print(json.dumps({"by": args.by, "groups": results, "seconds": seconds, "runs_detail": rows}, indent=1))
        return
    print(f"{len(rows)} labeled runs; analysis {seconds:.2f} s ({1000 * seconds / max(len(rows), 1):.1f} ms/run)\n")
    for name, result in results.items():
        print_summary(f"{args.by} {name}", result)
    print_families(rows)
    crashed = [r for r in rows if r["errors"]]
    if crashed:
        print(f"{len(crashed)} runs had detector errors, e.g. {crashed[0]['run_name']}: {crashed[0]['errors'][0]}")
    errors = [r for r in rows if r["label"] != r["primary"]]
    if args.show_errors and errors:
        print(f"\nmisclassified ({len(errors)})")
        for r in sorted(errors, key=lambda r: (r["split"], r["family"], r["primary"])):
            print(f"  {r['run_name']:16s} {r['split']:4s} {r['family']:36s} -> {r['primary']:20s} {r['message'][:80]}")


if __name__ == "__main__":
    main()
