"""Turn diagnoses into text for a person or JSON / JSONL for a pipe. Returns strings; never prints."""

from __future__ import annotations

import json

from posthoc.model import Diagnosis

MARK = {"critical": "✖", "warning": "▲", "info": "·"}
STATUS_WORD = {"failed": "FAILED", "warning": "WARNING", "healthy": "HEALTHY"}


def to_json(diagnoses: list[Diagnosis], fmt: str, single: bool) -> str:
    """json: one object for a single run asked by id, else an array; jsonl: one object per line."""
    dicts = [d.to_dict() for d in diagnoses]
    if fmt == "jsonl":
        return "".join(json.dumps(d, allow_nan=False) + "\n" for d in dicts)
    return json.dumps(dicts[0] if single and len(dicts) == 1 else dicts, indent=2, allow_nan=False) + "\n"


def _evidence_text(evidence: dict) -> str:
    parts = []
    for key, value in evidence.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list):
            value = "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def to_text(diagnoses: list[Diagnosis], style=lambda text, **kw: text) -> str:
    """A readable block per run; `style` is click.style on a colour terminal, identity otherwise."""
    colour = {"failed": "red", "warning": "yellow", "healthy": "green"}
    blocks = []
    for d in diagnoses:
        run = d.run
        label = STATUS_WORD[d.status] if run.metrics else "NO DATA"
        head = f"{run.run_id[:12]} {run.run_name!r} [{run.status}] {style(label, fg=colour[d.status], bold=True)}"
        if d.primary != "healthy":
            head += f": {d.primary}"
        lines = [head]
        if run.status == "RUNNING":
            lines.append("  note: run is still RUNNING; analyzed on what it has logged so far")
        for f in d.findings:
            span = f"steps {f.step_start}–{f.step_end}" if f.step_start is not None else "whole run"
            lines.append(f"  {MARK[f.severity]} {f.pattern} ({f.severity}, confidence {f.confidence:.2f}, {span}): {f.message}")
            if f.evidence:
                lines.append(f"      evidence: {_evidence_text(f.to_dict()['evidence'])}")
            lines.extend(f"      → {s}" for s in f.suggestions)
        roles = ", ".join(f"{role}={key}" for role, key in d.roles.items()) or "none resolved"
        lines.append(f"  roles: {roles}")
        for s in d.skipped:
            lines.append(f"  not checked: {s.detector} ({s.reason})")
        for error in d.errors:
            lines.append(f"  detector error: {error}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def summary_line(d: Diagnosis) -> str:
    """One line per run, for the demo and batch jobs."""
    word = STATUS_WORD[d.status] if d.run.metrics else "NO DATA"
    first = d.findings[0].message if d.findings else "no problem found"
    return f"{word:8s} {d.primary:20s} {d.run.run_name[:32]:32s} {first}"
