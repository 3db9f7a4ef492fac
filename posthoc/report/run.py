"""Template context for one run's report: plain strings, preformatted numbers and our own SVG."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
from markupsafe import Markup

from posthoc import __version__
from posthoc.detectors.base import unusual_param_advice
from posthoc.model import Diagnosis, Finding, Run, Series
from posthoc.report.charts import NARROW, SMALL, WIDE, Line, Span, line_chart, share_of_axis, value_scale
from posthoc.report.checklist import build_checklist
from posthoc.report.format import (
    RUN_NOTES,
    SEVERITY_MARK,
    STATUS_MARK,
    STATUS_WORD,
    evidence_rows,
    inconclusive_reason,
    safe_href,
    span_text,
)
from posthoc.report.kinds import range_chart
from posthoc.roles import ROLES

PANELS = (("loss", ("train_loss", "val_loss")), ("grad norm", ("grad_norm",)), ("learning rate", ("lr",)),
          ("accuracy", ("train_acc", "val_acc")))
MAX_SMALL_CHARTS = 30  # past this, the remaining metrics are listed by name (per-layer dumps can log hundreds)
# val drawn on train's axis covering less than this share of the height is a flat line to a reader (the
# overfitting rise 0.939 → 1.26 under train's 3 → 0.009 log axis is ~5 px): it gets its own panel
MIN_AXIS_SHARE = 0.2


def common_params(runs: list[Run]) -> dict[str, str]:
    """param → the value most runs share (ties: the smallest string), so a report can flag outliers."""
    counts: dict[str, Counter] = {}
    for run in runs:
        for key, value in run.params.items():
            counts.setdefault(key, Counter())[value] += 1
    return {key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in counts.items()}


def finding_context(number: int, f: Finding, primary: bool, params: dict[str, str] | None = None,
                    usual: dict[str, str] | None = None) -> dict:
    """A finding for the template; with the experiment's usual params, a differing param that can cause
    the pattern is cited first among the suggestions."""
    cited = unusual_param_advice(f.pattern, params or {}, usual or {})
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
        "suggestions": ([cited] if cited else []) + list(f.suggestions),
        "primary": primary,
    }


def x_axis_title(roles: dict[str, str]) -> str:
    """What the logged step counts, read from the resolved metric keys (Lightning's *_epoch, Keras epochs)."""
    keys = " ".join(roles.values()).lower()
    return "epoch" if "epoch" in keys else "iteration" if "iter" in keys else "step"


def chart_panels(run: Run, roles: dict[str, str], findings: tuple[Finding, ...]) -> tuple[list[Markup], list[Markup], list[str]]:
    """Role panels on one shared step axis (wide and narrow drawings of each), then every other logged
    metric as a small chart; returns (panels, small charts, metric keys left uncharted)."""
    panels: list[tuple[str, list[Line]]] = []
    shown: set[str] = set()
    for title, panel_roles in PANELS:
        present = [role for role in panel_roles if role in roles and roles[role] in run.metrics]
        lines = [_line(role.replace("_", " "), run.metrics[roles[role]]) for role in present]
        shown.update(roles[role] for role in present)
        if len(lines) == 2 and _squashed(lines):
            panels += [(line.label, [line]) for line in lines]
        elif lines:
            panels.append((title if len(lines) > 1 else lines[0].label, lines))
    rest = [key for key in sorted(run.metrics) if key not in shown and len(run.metrics[key])]
    steps = [s.steps for s in run.metrics.values() if len(s)]
    x_range = (int(min(s[0] for s in steps)), int(max(s[-1] for s in steps))) if steps else (0, 1)
    spans = [Span(n, f.pattern, f.severity, f.step_start, _span_end(run, f))
             for n, f in enumerate(findings, 1) if f.step_start is not None]
    x_title = x_axis_title(roles)
    # the SVG was built by charts.py with every text escaped: safe to mark
    main = [Markup(line_chart(title, lines, x_range, spans, frame=frame, x_title=x_title, link_spans=True,
                              legend=len(lines) > 1))
            for title, lines in panels for frame in (WIDE, NARROW)]
    small = [Markup(line_chart(key, [Line(key, run.metrics[key].steps, run.metrics[key].values)], x_range, spans,
                               frame=SMALL, x_title=x_title, link_spans=True, legend=False))
             for key in rest[:MAX_SMALL_CHARTS]]
    return main, small, rest[MAX_SMALL_CHARTS:]


def _squashed(lines: list[Line]) -> bool:
    """True when the second line (val) moves over less than MIN_AXIS_SHARE of the axis it would share."""
    shared = value_scale([line.values for line in lines])
    own = value_scale([lines[1].values])
    return share_of_axis(lines[1].values, shared) < MIN_AXIS_SHARE and share_of_axis(lines[1].values, own) > 0


def _span_end(run: Run, f: Finding) -> int:
    """A NaN/Inf stretch that recovered is shaded over the stretch only, not to the end of the run."""
    end = f.step_end if f.step_end is not None else f.step_start
    series = run.metrics.get(f.metric or "")
    if f.pattern != "nan_inf" or series is None:
        return end
    after = series.steps >= f.step_start
    recovered = np.flatnonzero(after & series.finite)
    return int(series.steps[recovered[0] - 1]) if len(recovered) else end


def _line(label: str, series: Series) -> Line:
    return Line(f"{label} ({series.key})" if series.key != label.replace(" ", "_") else label, series.steps, series.values)


def _time(ms: int | None) -> str:
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def build_run_context(diagnosis: Diagnosis, experiment_params: dict[str, str] | None = None,
                      index_href: str | None = None) -> dict:
    run = diagnosis.run
    status = diagnosis.status
    primary_index = next((i for i, f in enumerate(diagnosis.findings) if f.pattern == diagnosis.primary), None)
    experiment_params = experiment_params or {}
    findings = [finding_context(i + 1, f, i == primary_index, run.params, experiment_params)
                for i, f in enumerate(diagnosis.findings)]
    params = [
        {"key": key, "value": value, "usual": experiment_params.get(key, ""),
         "differs": key in experiment_params and experiment_params[key] != value}
        for key, value in sorted(run.params.items())
    ]
    tags = sorted(run.tags.items(), key=lambda kv: (kv[0].startswith("mlflow."), kv[0]))
    steps = [int(s.steps[-1]) for s in run.metrics.values() if len(s)]
    checklist = build_checklist(diagnosis)
    stages = list(dict.fromkeys(row["stage"] for row in checklist))
    charts, small_charts, uncharted = chart_panels(run, diagnosis.roles, diagnosis.findings)
    return {
        "title": f"{STATUS_WORD[status]} · {run.run_name or run.run_id}",
        "kind": "run",
        "index_href": safe_href(index_href),
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
        "charts": [c for c in (range_chart(diagnosis),) if c is not None] + charts,
        "small_charts": small_charts,
        "uncharted": uncharted,
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
