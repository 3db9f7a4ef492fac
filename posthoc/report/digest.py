"""Template context for the nightly digest: one row per run, worst first, a CSS-only pattern filter."""

from __future__ import annotations

import re

from markupsafe import Markup

from posthoc.model import SEVERITY_RANK, Diagnosis
from posthoc.report.charts import sparkline
from posthoc.report.format import (
    STATUS_MARK,
    STATUS_WORD,
    inconclusive_reason,
    number,
    span_text,
)

STATUS_RANK = {"failed": 0, "warning": 1, "inconclusive": 2, "healthy": 3}  # worst first: unjudged runs need a look
_SCHEME = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.\-]*:")


def safe_href(href: str | None) -> str | None:
    """Only relative links: the digest links to sibling reports, never to javascript:, data: or the network."""
    if not href or _SCHEME.match(href) or href.lstrip().startswith("//"):
        return None
    return href


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


def build_digest_context(diagnoses: list[Diagnosis], hrefs: dict[str, str], title: str, generated_at: str,
                         failures=()) -> dict:
    ordered = sorted(diagnoses, key=_sort_key)
    patterns = sorted({f.pattern for d in ordered for f in d.findings} | {d.primary for d in ordered})
    # filter ids are indices, never pattern text: nothing untrusted reaches the CSS
    index = {p: i for i, p in enumerate(patterns, 1)}
    counts = {p: sum(1 for d in ordered if p == d.primary or any(f.pattern == p for f in d.findings)) for p in patterns}
    rows = []
    for d in ordered:
        status = d.status
        primary = next((f for f in d.findings if f.pattern == d.primary), None)
        own = sorted({f.pattern for f in d.findings} | {d.primary})
        train = d.run.metrics.get(d.roles.get("train_loss", ""))
        last = train.finite_part().values[-1] if train is not None and train.finite_count else None
        rows.append({
            "status": status, "status_word": STATUS_WORD[status], "status_mark": STATUS_MARK[status],
            "name": d.run.run_name or d.run.run_id, "id": d.run.run_id, "short_id": d.run.run_id[:12],
            "href": safe_href(hrefs.get(d.run.run_id)), "run_status": d.run.status,
            "primary": d.primary, "message": primary.message if primary else inconclusive_reason(d),
            "span": span_text(primary.step_start, primary.step_end) if primary else "",
            "patterns": [p for p in own if p != "healthy"],
            "classes": " ".join(f"p{index[p]}" for p in own),
            "spark": _spark(d), "last_loss": number(float(last)) if last is not None else "—",
        })
    totals = {word: sum(1 for r in rows if r["status"] == word) for word in STATUS_RANK}
    return {
        "title": title,
        "kind": "digest",
        "generated_at": generated_at,
        "rows": rows,
        "filters": [{"index": index[p], "pattern": p, "count": counts[p]} for p in patterns],
        "totals": [{"word": STATUS_WORD[w], "mark": STATUS_MARK[w], "status": w, "count": n}
                   for w, n in totals.items() if n],
        "failures": [{"id": run_id, "name": name, "message": message} for run_id, name, message in failures],
    }
