"""Template context for a comparison report, from compare's JSON contract (DESIGN.md) and the runs."""

from __future__ import annotations

import math

import numpy as np
from markupsafe import Markup

from posthoc.compare.summary import names_text, outcome_words
from posthoc.model import Run, Series
from posthoc.report.charts import Line, bar_chart, noise_chart, overlay_chart
from posthoc.report.format import number
from posthoc.roles import resolve_roles

MAX_LINES = 12  # runs per value on the overlay; more would be a tangle


def _float(value) -> float:
    """Contract numbers may be null or 'inf' strings (JSON has no NaN); NaN stands for 'no number'."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def target_series(run: Run, target: str | None) -> Series | None:
    """The target as a metric key, else as a role name, else the training loss."""
    if target and target in run.metrics:
        return run.metrics[target]
    roles = resolve_roles(run)
    return (roles.get(target) if target else None) or roles.get("val_loss" if target and "val" in target else "train_loss")


def _overlay(param: str, values: list[dict], runs: dict[str, Run], target: str | None) -> dict | None:
    """One chart per param: every value's runs on one axis, coloured by value; failed runs dashed, clipped."""
    groups, shown, total, metric = [], 0, 0, ""
    for v in values:
        failed = set(v.get("failed_run_ids") or [])
        found = [(runs[rid], target_series(runs[rid], target), rid in failed) for rid in v.get("run_ids", []) if rid in runs]
        found = [(run, s, bad) for run, s, bad in found if s is not None and len(s)]
        total += len(found)
        lines = [(Line(run.run_name or run.run_id, s.steps, s.values), bad or not np.isfinite(s.values).all())
                 for run, s, bad in found[:MAX_LINES]]
        shown += len(lines)
        metric = metric or (found[0][1].key if found else "")
        groups.append((f"{param}={display_value(v)}", lines))
    series = [line for _, lines in groups for line, _ in lines]
    if not series:
        return None
    x_range = (int(min(s.steps[0] for s in series)), int(max(s.steps[-1] for s in series)))
    # wide for screens >= 720 px and print, narrow for phones (style.css shows one of them)
    svg = (overlay_chart(f"{metric} by {param}", groups, x_range, frame="wide")
           + overlay_chart(f"{metric} by {param}", groups, x_range, width=400, frame="narrow"))
    note = "" if shown == total else f" (the first {MAX_LINES} runs of each value: {shown} of {total})"
    return {"svg": Markup(svg), "metric": metric, "note": note}  # built by charts.py with every text escaped


def display_value(v: dict) -> str:
    """The value as compare wrote it for people ("display"), else its JSON form."""
    return str(v["display"]) if "display" in v else str(v.get("value"))


def _comparison(c: dict, runs: dict[str, Run], target: str | None) -> dict:
    values = c.get("values", [])
    effect, noise = _float(c.get("effect")), _float(c.get("noise"))
    rows = []
    for v in values:
        outcome = v.get("outcome") or {}
        mean, std = _float(outcome.get("mean")), _float(outcome.get("std"))
        rows.append({
            "value": display_value(v),
            "n": number(outcome.get("n")),
            "outcome": outcome_words(int(outcome.get("n") or 0), mean, std, int(v.get("failures") or 0),
                                     int(v.get("missing") or 0), v.get("patterns") or {}),
            "patterns": [{"pattern": str(p), "count": number(n)} for p, n in sorted((v.get("patterns") or {}).items())],
            "runs": [runs[rid].run_name or rid if rid in runs else rid for rid in v.get("run_ids", [])],
        })
    base = _float((values[0].get("outcome") or {}).get("mean")) if values else math.nan
    band = (base - noise, base + noise) if math.isfinite(base) and math.isfinite(noise) else None
    chart_rows = [(display_value(v), _float((v.get("outcome") or {}).get("mean")),
                   _float((v.get("outcome") or {}).get("std"))) for v in values]
    significant, confounded = bool(c.get("significant")), bool(c.get("confounded"))
    if confounded and c.get("moves_with"):
        verdict, mark, css = (f"confounded: moves with {names_text([str(x) for x in c['moves_with']])} "
                              "(an exact function across these runs), judged together"), "◆", "warning"
    elif confounded:
        verdict, mark, css = "confounded: changes together with other params, not credited separately", "◆", "warning"
    elif significant:
        verdict, mark, css = "significant: the effect is larger than the seed noise", "▲", "failed"
    else:
        verdict, mark, css = "within noise: not significant", "○", "nodata"
    return {
        "param": str(c.get("param")),
        "effect": number(effect), "noise": number(noise),
        "verdict": verdict, "mark": mark, "css": css,
        "confounders": [str(x) for x in c.get("confounders") or []],
        "rows": rows,
        "chart": Markup(noise_chart(chart_rows, band)) if chart_rows else None,  # escaped by charts.py
        "band_base": rows[0]["value"] if rows else "",
        "note": str(c.get("note") or ""),
        "overlay": _overlay(str(c.get("param")), values, runs, target),
    }


def build_comparison_context(comparison: dict, runs: dict[str, Run]) -> dict:
    target = comparison.get("target")
    importance = sorted(comparison.get("importance") or [], key=lambda r: -_float(r.get("importance"))
                        if math.isfinite(_float(r.get("importance"))) else math.inf)
    imp_rows = [{"param": str(r.get("param")), "importance": number(_float(r.get("importance"))),
                 "correlation": number(_float(r.get("correlation"))) if math.isfinite(_float(r.get("correlation"))) else "—",
                 "moves_with": names_text([str(x) for x in r["moves_with"]]) if r.get("moves_with") else ""}
                for r in importance]
    bars = [(r["param"] + (" +" if r["moves_with"] else ""), _float(i.get("importance")),
             r["importance"] + (f" (corr {r['correlation']})" if r["correlation"] != "—" else ""))
            for r, i in zip(imp_rows, importance)]
    summary = comparison.get("summary")
    warnings = comparison.get("warnings") or []
    return {
        "title": f"Comparison · experiment {comparison.get('experiment_id')} · {target}",
        "kind": "comparison",
        "experiment_id": str(comparison.get("experiment_id")),
        "target": str(target),
        "summary": [summary] if isinstance(summary, str) else [str(line) for line in summary or []],
        "warnings": [str(w) for w in (warnings if isinstance(warnings, list) else [warnings])],
        "comparisons": [{**_comparison(c, runs, target), "anchor": f"cmp-{i}"}
                        for i, c in enumerate(comparison.get("comparisons") or [], 1)],
        "importance": imp_rows,
        "importance_chart": Markup(bar_chart(bars)) if bars else None,  # escaped by charts.py
        "run_count": len(runs),
        "ignored": [f"{i.get('param')} ({i.get('reason')})" for i in comparison.get("ignored") or []],
    }
