"""Words for a Comparison: the plain-language summary (what changed what, beyond noise or not) and the
words for one value's outcome. Returns strings; never prints, never writes "NaN ± NaN"."""

from __future__ import annotations

from posthoc.compare.params import display
from posthoc.numbers import short

MOST_NAMES = 6  # a sentence names this many params of a group, then "and N more"


def _label(c) -> str:
    return f"{c.statistic} {c.target}"


def _runs_text(a, b) -> str:
    return f"{a.n} run{'' if a.n == 1 else 's'} each" if a.n == b.n else f"{a.n} and {b.n} runs"


def failure_cause(patterns: dict[str, int]) -> str | None:
    """The most common unhealthy pattern (ties keep the diagnosis order, root cause first)."""
    return max((p for p in patterns if p != "healthy"), key=patterns.get, default=None)


def outcome_words(n: int, mean: float, std: float, failures: int, missing: int, patterns: dict[str, int]) -> str:
    """'0.123 ± 0.004 (n=3)', '0.5 (n=1)', '3/3 failed (nan_inf)', or both; never a NaN for a mean."""
    parts = []
    if n:
        parts.append(f"{short(mean, 3)} ± {short(std, 3)} (n={n})" if n > 1 else f"{short(mean, 3)} (n=1)")
    if failures:
        cause = failure_cause(patterns)
        parts.append(f"{failures}/{n + failures} failed" + (f" ({cause})" if cause else ""))
    if missing:
        parts.append(f"{missing} did not log the target")
    return "; ".join(parts) or "no outcome"


def _failure_text(pc) -> list[str]:
    lines = []
    for v in pc.values:
        if v.failures:
            cause = failure_cause(v.patterns)
            lines.append(f"{pc.param}={display(v.value)} failed in {v.failures}/{v.n + v.failures} runs"
                         + (f" ({cause})" if cause else ""))
    return lines


def _effect(c, pc) -> tuple[str, bool] | None:
    """'worst → best changed <target> a → b (n runs, noise ±x)' and whether it clears the noise."""
    if pc.best_value is None or pc.effect is None:
        return None
    by_value = {display(v.value): v for v in pc.values}
    best, worst = by_value[display(pc.best_value)], by_value[display(pc.worst_value)]
    clears = pc.noise is not None and pc.effect > pc.noise
    verb = ("lowered" if c.mode == "min" else "raised") if clears else "changed"
    noise = f"noise ±{short(pc.noise, 3)}" if pc.noise is not None else "no replicates: noise unknown"
    return (f"{display(pc.worst_value)} → {display(pc.best_value)} {verb} {_label(c)} "
            f"{short(worst.mean, 3)} → {short(best.mean, 3)} ({_runs_text(worst, best)}, {noise})"), clears


def _sentences(c, pc) -> list[str]:
    """The effect in words (beyond noise or not), then which values failed outright."""
    failures = _failure_text(pc)
    effect = _effect(c, pc)
    if effect is None:
        return failures or [f"{pc.param}: no two values with a finite outcome to compare"]
    text, clears = effect
    if clears:
        return [f"{pc.param} {text}", *failures]
    if pc.noise is None:
        return [f"{pc.param} {text}: cannot tell whether that is more than seed noise", *failures]
    quiet = f"{pc.param} made no clear difference: {text}, effect {short(pc.effect, 3)} within noise"
    return [*failures, quiet] if pc.failure_decided else [quiet, *failures]


def names_text(names: list[str], most: int = MOST_NAMES) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, …, f and 12 more'."""
    if len(names) > most:
        return ", ".join(names[:most]) + f" and {len(names) - most} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _together(c, pc, group: list[str]) -> str:
    """One sentence for params that always changed together, with their joint effect (in `pc`'s values):
    'epochs moves with batch_size …' when they are exact functions of each other, else 'a and b always …'."""
    if pc.moves_with and set(group) == {pc.param, *pc.moves_with}:
        rest = [name for name in group if name != pc.param]
        head = f"{names_text(rest)} move{'s' if len(rest) == 1 else ''} with {pc.param} (an exact function across these runs)"
    else:
        head = f"{names_text(group)} always changed together"
    effect = _effect(c, pc)
    if effect is None:
        tail = "; together they changed the outcome beyond noise" if pc.joint_significant else ""
    else:
        tail = f"; together: {pc.param} {effect[0]}" + ("" if effect[1] or pc.noise is None else ", within noise")
    return f"{head}: confounded{tail}"


def summarize(c) -> list[str]:
    """One sentence per finding, most important first: significant effects, confounded groups, the rest,
    then the params set aside as identifiers."""
    if c.run_count < 2 or not c.comparisons:
        return [c.warnings[0] if c.warnings else "nothing to compare"] + _ignored_text(c)
    lines = []
    for pc in c.comparisons:
        if pc.significant and not pc.confounded:
            lines.extend(_sentences(c, pc))
    seen = set()
    by_param = {pc.param: pc for pc in c.comparisons}
    alone = [pc.param for pc in c.comparisons if pc.confounded and pc.note.startswith("never")]
    if alone:
        lines.append(f"{names_text(sorted(alone))} never changed alone (always with two or more other params): "
                     "no fair comparison")
    for pc in c.comparisons:
        if not pc.confounded or pc.param in alone:
            continue
        group = tuple(sorted([pc.param, *pc.confounders]))
        if group not in seen:
            seen.add(group)
            lines.append(_together(c, by_param.get(group[0], pc), list(group)))
    for pc in c.comparisons:
        if not pc.significant and not pc.confounded:
            lines.extend(_sentences(c, pc))
    return lines + _ignored_text(c)


def _ignored_text(c) -> list[str]:
    """'ignored: logging_dir, output_dir (differ in every run)', one line per reason."""
    by_reason: dict[str, list[str]] = {}
    for param, reason in c.ignored.items():
        by_reason.setdefault(reason, []).append(param)
    return [f"ignored: {names_text(sorted(params))} ({reason.replace('differs', 'differ') if len(params) > 1 else reason})"
            for reason, params in by_reason.items()]
