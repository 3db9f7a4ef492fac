"""Template context for the nightly digest: one row per run, worst first, a CSS-only pattern filter."""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from posthoc.model import SEVERITY_RANK, Diagnosis
from posthoc.report.charts import sparkline
from posthoc.report.format import (
    STATUS_MARK,
    STATUS_WORD,
    inconclusive_reason,
    number,
    safe_href,
    span_text,
)

STATUS_RANK = {"failed": 0, "warning": 1, "inconclusive": 2, "healthy": 3}  # worst first: unjudged runs need a look


def _sort_key(d: Diagnosis):
    top = max((f.confidence for f in d.findings if f.pattern == d.primary), default=0.0)
    worst = max((SEVERITY_RANK[f.severity] for f in d.findings), default=-1)
    return (STATUS_RANK[d.status], -worst, -top, d.run.run_name, d.run.run_id)


def _spark(d: Diagnosis) -> Markup | None:
    key = d.roles.get("train_loss") or next(iter(sorted(d.run.metrics)), None)
    series = d.run.metrics.get(key) if key else None
    if series is None or not len(series):
        return None
    return Markup(sparkline(series.steps, series.values))  # built by charts.py, every text escaped


def _val_summary(d: Diagnosis) -> str:
    """'val_loss best 0.31 (step 400), final 0.33' (and accuracy when logged): what a healthy run reached."""
    parts = []
    for role, best_of in (("val_loss", np.argmin), ("val_acc", np.argmax)):
        series = d.run.metrics.get(d.roles.get(role, ""))
        if series is None or not series.finite_count:
            continue
        finite = series.finite_part()
        best = int(best_of(finite.values))
        parts.append(f"{series.key} best {number(float(finite.values[best]))} (step {int(finite.steps[best])}), "
                     f"final {number(float(series.values[-1]))}")
    return "; ".join(parts)


def _news(changes: list[dict], rows: dict[str, dict]) -> dict[str, list[dict]]:
    """Tonight's changes grouped: new failures, newly healthy, any other change of status (new runs count
    as changed from 'new')."""
    groups: dict[str, list[dict]] = {"new_failures": [], "newly_healthy": [], "changed": []}
    for change in changes:
        row = rows.get(change.get("run_id", ""))
        before, now = change.get("before"), change.get("now")
        if row is None or before == now:
            continue
        item = {**row, "before": STATUS_WORD.get(before, "new") if before else "new", "now": STATUS_WORD.get(now, now)}
        if now == "failed":
            groups["new_failures"].append(item)
        elif now == "healthy" and before:
            groups["newly_healthy"].append(item)
        else:
            groups["changed"].append(item)
    return groups


def build_digest_context(diagnoses: list[Diagnosis], hrefs: dict[str, str], title: str, generated_at: str,
                         failures=(), experiments: dict[str, str] | None = None,
                         changes: list[dict] | None = None) -> dict:
    """`experiments`: experiment id → name; `changes`: [{run_id, before, now}] statuses from the previous
    night (before None for a run new tonight), or None when there is no previous night to compare with."""
    ordered = sorted(diagnoses, key=_sort_key)
    experiments = experiments or {}
    patterns = sorted({f.pattern for d in ordered for f in d.findings} | {d.primary for d in ordered})
    # filter ids are indices, never pattern or experiment text: nothing untrusted reaches the CSS
    index = {p: i for i, p in enumerate(patterns, 1)}
    counts = {p: sum(1 for d in ordered if p == d.primary or any(f.pattern == p for f in d.findings)) for p in patterns}
    experiment_ids = sorted({d.run.experiment_id for d in ordered}, key=lambda e: (experiments.get(e, e), e))
    exp_index = {e: i for i, e in enumerate(experiment_ids, 1)}
    rows = []
    for d in ordered:
        status = d.status
        primary = next((f for f in d.findings if f.pattern == d.primary), None)
        own = sorted({f.pattern for f in d.findings} | {d.primary})
        train = d.run.metrics.get(d.roles.get("train_loss", ""))
        rows.append({
            "status": status, "status_word": STATUS_WORD[status], "status_mark": STATUS_MARK[status],
            "name": d.run.run_name or d.run.run_id, "id": d.run.run_id, "short_id": d.run.run_id[:12],
            "href": safe_href(hrefs.get(d.run.run_id)), "run_status": d.run.status,
            "experiment": experiments.get(d.run.experiment_id, d.run.experiment_id),
            "primary": d.primary, "message": primary.message if primary else inconclusive_reason(d),
            "span": span_text(primary.step_start, primary.step_end) if primary else "",
            "patterns": [p for p in own if p != "healthy"],
            "classes": " ".join([f"p{index[p]}" for p in own] + [f"e{exp_index[d.run.experiment_id]}"]),
            "spark": _spark(d),
            # the last logged value, NaN included: a run that ended NaN must not read as its last finite loss
            "last_loss": number(float(train.values[-1])) if train is not None and len(train) else "—",
            "val": _val_summary(d),
        })
    totals = {word: sum(1 for r in rows if r["status"] == word) for word in STATUS_RANK}
    return {
        "title": title,
        "kind": "digest",
        "generated_at": generated_at,
        "rows": rows,
        "filters": [{"index": index[p], "pattern": p, "count": counts[p]} for p in patterns],
        "experiments": [{"index": exp_index[e], "name": experiments.get(e, e),
                         "count": sum(1 for d in ordered if d.run.experiment_id == e)} for e in experiment_ids],
        "news": _news(changes, {r["id"]: r for r in rows}) if changes is not None else None,
        "totals": [{"word": STATUS_WORD[w], "mark": STATUS_MARK[w], "status": w, "count": n}
                   for w, n in totals.items() if n],
        "failures": [{"id": run_id, "name": name, "message": message} for run_id, name, message in failures],
    }
