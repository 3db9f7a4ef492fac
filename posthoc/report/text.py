"""Text for a person: diagnoses, one summary line per run, and comparisons. Returns strings; never prints."""

from __future__ import annotations

from posthoc.compare.params import display
from posthoc.compare.summary import names_text, outcome_words
from posthoc.kinds import ONE_BATCH_TEST
from posthoc.model import Diagnosis
from posthoc.numbers import short
from posthoc.report.format import SEVERITY_MARK, STATUS_WORD, span_text
from posthoc.report.kinds import cited_tests, no_test_text, range_citation


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
    colour = {"failed": "red", "warning": "yellow", "healthy": "green", "inconclusive": "blue"}
    blocks = []
    for d in diagnoses:
        run = d.run
        head = f"{run.run_id[:12]} {run.run_name!r} [{run.status}] {style(STATUS_WORD[d.status], fg=colour[d.status], bold=True)}"
        if d.primary not in ("healthy", "inconclusive"):
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
        lines.extend(f"  role note: {note}" for note in d.role_notes)
        by_reason: dict[str, list[str]] = {}
        for s in d.skipped:  # a test run skips every detector for one reason: one line, not ten
            by_reason.setdefault(s.reason, []).append(s.detector)
        lines.extend(f"  not checked: {', '.join(detectors)} ({reason})" for reason, detectors in by_reason.items())
        for error in d.errors:
            lines.append(f"  detector error: {error}")
        lines.extend(debug_report(d))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def debug_report(d: Diagnosis) -> list[str]:
    """The debugging guides' compact Training Debug Report, from logged data only; "not logged" where it cannot tell."""
    lines = ["  Training Debug Report"]
    one_batch = cited_tests(d, ONE_BATCH_TEST)
    if one_batch:
        where, t = one_batch[-1]
        lines.append(f"    Single Batch Test: {t.verdict} in {where} (loss {short(t.final_loss)} at step {t.final_step}; "
                     f"{t.grade.replace('_', ' ')})")
    else:
        lines.append(f"    Single Batch Test: {no_test_text(d)}")
    cited = range_citation(d)
    lines.append(f"    LR Range Test: {cited[1] if cited else no_test_text(d)}")
    train = d.run.metrics.get(d.roles.get("train_loss", ""))
    finite = train.finite_part() if train is not None else None
    if finite is not None and len(finite):
        broke = f", then non-finite from step {_first_bad(train)}" if train.finite_count < len(train) else ""
        lines.append(f"    Training (first {int(train.steps[-1]) + 1} steps): loss {short(float(finite.values[0]))} → "
                     f"{short(float(finite.values[-1]))}{broke}")
    else:
        lines.append("    Training: train loss not logged")
    lines.append(f"    Grad norm: {_grad_text(d)}")
    val = d.run.metrics.get(d.roles.get("val_loss", ""))
    val_finite = val.finite_part() if val is not None else None
    if val_finite is not None and len(val_finite):
        best = int(val_finite.values.argmin())
        lines.append(f"    Val loss: {short(float(val_finite.values[-1]))} at step {int(val_finite.steps[-1])} "
                     f"(best {short(float(val_finite.values[best]))} at step {int(val_finite.steps[best])})")
    else:
        lines.append("    Val loss: not logged")
    lines.append(f"    Status: {STATUS_WORD[d.status]}")
    return lines


def _first_bad(series) -> int:
    return int(series.steps[~series.finite][0])


def _grad_text(d: Diagnosis) -> str:
    """Range of the logged grad norm, and whether the gradient checks found it unstable."""
    grad = d.run.metrics.get(d.roles.get("grad_norm", ""))
    finite = grad.finite_part().values if grad is not None else ()
    if not len(finite):
        return "not logged"
    hits = [f for f in d.findings if f.pattern in ("exploding_gradients", "vanishing_gradients")]
    ran = not any(s.detector in ("exploding_gradients", "vanishing_gradients") for s in d.skipped)
    verdict = ("unstable: " + "; ".join(f"{f.pattern} at {span_text(f.step_start, f.step_end)}" for f in hits) if hits
               else "stable" if ran else "not checked")
    return f"range [{short(float(finite.min()))}, {short(float(finite.max()))}] ({verdict})"


def summary_line(d: Diagnosis) -> str:
    """One line per run, for the demo and batch jobs."""
    first = d.findings[0].message if d.findings else "no problem found"
    return f"{STATUS_WORD[d.status]:8s} {d.primary:20s} {d.run.run_name[:32]:32s} {first}"


def comparison_text(c) -> str:
    """The summary first, then one table per param, then the importance ranking and warnings."""
    out = [f"compare: {c.run_count} runs, outcome = {c.statistic} {c.target} ({c.mode}), failures {c.failures}", ""]
    out += [f"• {line}" for line in c.summary]
    for pc in c.comparisons:
        flags = ["SIGNIFICANT" if pc.significant else "not significant"]
        if pc.confounded:
            flags.append(f"confounded with {names_text(pc.confounders)}")
        out += ["", f"{pc.param}: effect {short(pc.effect, 3)}, noise ±{short(pc.noise, 3)} "
                    f"[{'; '.join(flags)}] ({pc.matched_groups} matched group(s))"]
        if pc.note:
            out.append(f"  note: {pc.note}")
        for v in pc.values:
            patterns = ", ".join(f"{k} {n}/{len(v.run_ids)}" for k, n in v.patterns.items())
            outcome = outcome_words(v.n, v.mean, v.std, v.failures, v.missing, v.patterns)
            out.append(f"  {display(v.value):>12s}  {outcome}{'  ' + patterns if patterns else ''}")
    if c.importance:
        out += ["", "importance (random-forest permutation; Spearman rank correlation):"]
        out += [f"  {i.param:24s} {short(i.importance, 3):>8s}  rho {short(i.correlation, 3)}"
                + (f"  (with {names_text(i.moves_with)})" if i.moves_with else "") for i in c.importance]
    if c.warnings:
        out += [""] + [f"warning: {w}" for w in c.warnings]
    return "\n".join(out) + "\n"
