"""Words for a Comparison: the plain-language summary (what changed what, beyond noise or not).
Returns strings; never prints."""

from __future__ import annotations

from posthoc.compare.params import display
from posthoc.numbers import short


def _label(c) -> str:
    return f"{c.statistic} {c.target}"


def _runs_text(a, b) -> str:
    return f"{a.n} run{'' if a.n == 1 else 's'} each" if a.n == b.n else f"{a.n} and {b.n} runs"


def _failure_text(pc) -> list[str]:
    lines = []
    for v in pc.values:
        total = v.n + v.failures
        if v.failures:
            cause = max((p for p in v.patterns if p != "healthy"), key=v.patterns.get, default=None)
            lines.append(f"{pc.param}={display(v.value)} failed in {v.failures}/{total} runs"
                         + (f" ({cause})" if cause else ""))
    return lines


def _sentences(c, pc) -> list[str]:
    """The effect in words (beyond noise or not), then which values failed outright."""
    failures = _failure_text(pc)
    if pc.best_value is None or pc.effect is None:
        return failures or [f"{pc.param}: no two values with a finite outcome to compare"]
    by_value = {display(v.value): v for v in pc.values}
    best, worst = by_value[display(pc.best_value)], by_value[display(pc.worst_value)]
    clears = pc.noise is not None and pc.effect > pc.noise
    verb = ("lowered" if c.mode == "min" else "raised") if clears else "changed"
    noise = f"noise ±{short(pc.noise, 3)}" if pc.noise is not None else "no replicates: noise unknown"
    head = (f"{pc.param} {display(pc.worst_value)} → {display(pc.best_value)} {verb} {_label(c)} "
            f"{short(worst.mean, 3)} → {short(best.mean, 3)} ({_runs_text(worst, best)}, {noise})")
    if clears:
        return [head, *failures]
    if pc.noise is None:
        return [head + ": cannot tell whether that is more than seed noise", *failures]
    quiet = f"{pc.param} made no clear difference: {head.split(' ', 1)[1]}, effect {short(pc.effect, 3)} within noise"
    return [*failures, quiet] if pc.failure_decided else [quiet, *failures]


def _names(names) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def summarize(c) -> list[str]:
    """One sentence per finding, most important first: significant effects, confounded groups, the rest."""
    if c.run_count < 2 or not c.comparisons:
        return [c.warnings[0] if c.warnings else "nothing to compare"]
    lines = []
    for pc in c.comparisons:
        if pc.significant and not pc.confounded:
            lines.extend(_sentences(c, pc))
    seen = set()
    alone = [pc.param for pc in c.comparisons if pc.confounded and pc.note.startswith("never")]
    if alone:
        lines.append(f"{_names(sorted(alone))} never changed alone (always with two or more other params): "
                     "no fair comparison")
    for pc in c.comparisons:
        if not pc.confounded or pc.param in alone:
            continue
        group = tuple(sorted([pc.param, *pc.confounders]))
        if group in seen:
            continue
        seen.add(group)
        names = _names(group)
        joint = [other for other in c.comparisons if other.param in group and other.joint_significant]
        tail = "; together they changed the outcome beyond noise" if joint else ""
        lines.append(f"{names} always changed together: confounded{tail}")
    for pc in c.comparisons:
        if not pc.significant and not pc.confounded:
            lines.extend(_sentences(c, pc))
    return lines
