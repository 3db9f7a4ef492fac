"""Template context for one run's report: plain strings, preformatted numbers and our own SVG."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from markupsafe import Markup

from posthoc import __version__
from posthoc.model import Diagnosis, Finding, Run, Series
from posthoc.report.charts import Line, Span, line_chart
from posthoc.report.checklist import build_checklist
from posthoc.report.format import (
    RUN_NOTES,
    SEVERITY_MARK,
    STATUS_MARK,
    STATUS_WORD,
    evidence_rows,
    inconclusive_reason,
    span_text,
)
from posthoc.report.kinds import range_chart
from posthoc.roles import ROLES

PANELS = (("loss", ("train_loss", "val_loss")), ("grad norm", ("grad_norm",)), ("learning rate", ("lr",)))
MAX_EXTRA_PANELS = 4


def common_params(runs: list[Run]) -> dict[str, str]:
    """param → the value most runs share (ties: the smallest string), so a report can flag outliers."""
    counts: dict[str, Counter] = {}
    for run in runs:
        for key, value in run.params.items():
            counts.setdefault(key, Counter())[value] += 1
    return {key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in counts.items()}


def finding_context(number: int, f: Finding, primary: bool) -> dict:
    return {
        "number": number,
        "anchor": f"finding-{number}",
        "pattern": f.pattern,
        "severity": f.severity,
        "mark": SEVERITY_MARK.get(f.severity, "●"),
        "confidence": f"{f.confidence:.2f}",
        "metric": f.metric or "—",
        "span": span_text(f.step_start, f.step_end),
        "message": f.message,
        "evidence": evidence_rows(f.evidence),
        "suggestions": list(f.suggestions),
        "primary": primary,
    }


def chart_panels(run: Run, roles: dict[str, str], findings: tuple[Finding, ...]) -> list[Markup]:
    """Loss, grad norm and lr on one shared step axis; then any finding's metric not already shown."""
    panels: list[tuple[str, list[Line]]] = []
    shown: set[str] = set()
    for title, panel_roles in PANELS:
        lines = [_line(role.replace("_", " "), run.metrics[roles[role]]) for role in panel_roles if role in roles]
        if lines:
            panels.append((title, lines))
            shown.update(roles[role] for role in panel_roles if role in roles)
    extra = [f.metric for f in findings if f.metric in run.metrics and f.metric not in shown]
    if not panels:
        extra += sorted(run.metrics)
    for key in list(dict.fromkeys(extra))[:MAX_EXTRA_PANELS]:
        panels.append((key, [Line(key, run.metrics[key].steps, run.metrics[key].values)]))
    steps = [line.steps for _, lines in panels for line in lines if len(line.steps)]
    x_range = (int(min(s[0] for s in steps)), int(max(s[-1] for s in steps))) if steps else (0, 1)
    spans = [Span(n, f.pattern, f.severity, f.step_start, f.step_end if f.step_end is not None else f.step_start)
             for n, f in enumerate(findings, 1) if f.step_start is not None]
    # the SVG was built by charts.py with every text escaped: safe to mark
    return [Markup(line_chart(title, lines, x_range, spans)) for title, lines in panels]


def _line(label: str, series: Series) -> Line:
    return Line(f"{label} ({series.key})" if series.key != label.replace(" ", "_") else label, series.steps, series.values)


def _time(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def build_run_context(diagnosis: Diagnosis, experiment_params: dict[str, str] | None = None) -> dict:
    run = diagnosis.run
    status = diagnosis.status
    primary_index = next((i for i, f in enumerate(diagnosis.findings) if f.pattern == diagnosis.primary), None)
    findings = [finding_context(i + 1, f, i == primary_index) for i, f in enumerate(diagnosis.findings)]
    experiment_params = experiment_params or {}
    params = [
        {"key": key, "value": value, "usual": experiment_params.get(key, ""),
         "differs": key in experiment_params and experiment_params[key] != value}
        for key, value in sorted(run.params.items())
    ]
    tags = sorted(run.tags.items(), key=lambda kv: (kv[0].startswith("mlflow."), kv[0]))
    steps = [int(s.steps[-1]) for s in run.metrics.values() if len(s)]
    checklist = build_checklist(diagnosis)
    stages = list(dict.fromkeys(row["stage"] for row in checklist))
    return {
        "title": f"{STATUS_WORD[status]} · {run.run_name or run.run_id}",
        "kind": "run",
        "run": {"name": run.run_name, "id": run.run_id, "experiment_id": run.experiment_id, "status": run.status,
                "start": _time(run.start_time), "end": _time(run.end_time), "last_step": max(steps, default="—"),
                "metrics": len(run.metrics)},
        "status": status,
        "status_word": STATUS_WORD[status],
        "status_mark": STATUS_MARK[status],
        "primary": findings[primary_index] if primary_index is not None else None,
        "primary_pattern": diagnosis.primary,
        "inconclusive_reason": inconclusive_reason(diagnosis),
        "notes": [RUN_NOTES[run.status]] if run.status in RUN_NOTES else [],
        "charts": [c for c in (range_chart(diagnosis),) if c is not None] + chart_panels(run, diagnosis.roles,
                                                                                            diagnosis.findings),
        "findings": findings,
        "checklist": [{"stage": stage, "rows": [r for r in checklist if r["stage"] == stage]} for stage in stages],
        "params": params,
        "differing": sum(p["differs"] for p in params),
        "has_usual": bool(experiment_params),
        "tags": [{"key": k, "value": v} for k, v in tags],
        "roles": [{"role": role, "key": diagnosis.roles.get(role, ""), "resolved": role in diagnosis.roles}
                  for role in ROLES],
        "role_notes": list(diagnosis.role_notes),
        "skipped": [{"detector": s.detector, "reason": s.reason} for s in diagnosis.skipped],
        "errors": list(diagnosis.errors),
        "version": __version__,
    }
