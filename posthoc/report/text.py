"""Text for a person: diagnoses, one summary line per run, and comparisons. Returns strings; never prints."""

from __future__ import annotations

from posthoc.compare.params import display
from posthoc.model import Diagnosis
from posthoc.numbers import short
from posthoc.report.format import SEVERITY_MARK, STATUS_WORD, span_text


def _evidence_text(evidence: dict) -> str:
    parts = []
    for key, value in evidence.items():
        if isinstance(value, float):
            value = short(value)
        elif isinstance(value, list):
            value = "[" + ", ".join(short(v) if isinstance(v, float) else str(v) for v in value) + "]"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def to_text(diagnoses: list[Diagnosis], style=lambda text, **kw: text) -> str:
    """A readable block per run; `style` is click.style on a colour terminal, identity otherwise."""
    colour = {"failed": "red", "warning": "yellow", "healthy": "green"}
    blocks = []
    for d in diagnoses:
        run = d.run
        label = STATUS_WORD[d.status] if run.metrics else STATUS_WORD["nodata"]
        head = f"{run.run_id[:12]} {run.run_name!r} [{run.status}] {style(label, fg=colour[d.status], bold=True)}"
        if d.primary != "healthy":
            head += f": {d.primary}"
        lines = [head]
        if run.status == "RUNNING":
            lines.append("  note: run is still RUNNING; analyzed on what it has logged so far")
        for f in d.findings:
            span = span_text(f.step_start, f.step_end)
            lines.append(f"  {SEVERITY_MARK[f.severity]} {f.pattern} ({f.severity}, confidence {f.confidence:.2f}, {span}): "
                         f"{f.message}")
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
    word = STATUS_WORD[d.status] if d.run.metrics else STATUS_WORD["nodata"]
    first = d.findings[0].message if d.findings else "no problem found"
    return f"{word:8s} {d.primary:20s} {d.run.run_name[:32]:32s} {first}"


def comparison_text(c) -> str:
    """The summary first, then one table per param, then the importance ranking and warnings."""
    out = [f"compare: {c.run_count} runs, outcome = {c.statistic} {c.target} ({c.mode}), failures {c.failures}", ""]
    out += [f"• {line}" for line in c.summary]
    for pc in c.comparisons:
        flags = ["SIGNIFICANT" if pc.significant else "not significant"]
        if pc.confounded:
            flags.append(f"confounded with {', '.join(pc.confounders)}")
        out += ["", f"{pc.param}: effect {short(pc.effect, 3)}, noise ±{short(pc.noise, 3)} "
                    f"[{'; '.join(flags)}] ({pc.matched_groups} matched group(s))"]
        if pc.note:
            out.append(f"  note: {pc.note}")
        for v in pc.values:
            patterns = ", ".join(f"{k} {n}/{len(v.run_ids)}" for k, n in v.patterns.items())
            failures = f" failures {v.failures}" if v.failures else ""
            out.append(f"  {display(v.value):>12s}  mean {short(v.mean, 3):>8s}  std {short(v.std, 3):>8s}  n {v.n:<3d}"
                       f"{failures}{'  ' + patterns if patterns else ''}")
    if c.importance:
        out += ["", "importance (random-forest permutation; Spearman rank correlation):"]
        out += [f"  {i.param:24s} {short(i.importance, 3):>8s}  rho {short(i.correlation, 3)}" for i in c.importance]
    if c.warnings:
        out += [""] + [f"warning: {w}" for w in c.warnings]
    return "\n".join(out) + "\n"
