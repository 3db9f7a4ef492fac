"""Compare runs one variable at a time: for each param, the runs that differ only in it (seeds set aside),
the outcome per value, the effect, the seed-noise band it must clear, and the params that always changed
together (confounded, never credited alone). A random-forest importance ranking is the coarse second view.

Statistics (documented so a reader can check them):
- effect: the spread (best − worst, in target units) of the per-value means after removing each matched
  group's own level (value means centred within each group of runs that share every other param).
- noise: the 95% half-width for a difference of two means, t(0.975, df) · σ · √(1/n_best + 1/n_worst),
  where σ is the pooled standard deviation of seed-replicate groups (runs equal in every non-replicate
  param) among the compared runs, else across the experiment. `significant` iff effect > noise.
- A value whose every run failed (≥2 runs) while another value never failed is significant by failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posthoc.compare.outcome import any_val_loss, default_mode, run_outcome
from posthoc.compare.params import MISSING, is_replicate, parse_param, sort_key
from posthoc.compare.result import Comparison, ParamComparison, ValueOutcome
from posthoc.config import Config
from posthoc.model import Diagnosis, Run


def compare(runs: list[Run], diagnoses: list[Diagnosis] | dict[str, Diagnosis] | None = None,
            target: str | None = None, mode: str | None = None, config: Config | None = None) -> Comparison:
    """The one-variable-at-a-time comparison of `runs` on `target` (default: best val loss)."""
    import pandas as pd

    config = config or Config()
    mode = mode or default_mode(target)
    use_val = target is None and any_val_loss(runs, config.roles)
    outcomes = [run_outcome(r, target, mode, config.roles, use_val) for r in runs]
    y = np.array([np.nan if o.value is None else o.value for o in outcomes], dtype=float)
    failed = np.array([o.failed for o in outcomes], dtype=bool)
    missing = np.array([o.value is None for o in outcomes], dtype=bool)
    target_label, statistic = _target_label(outcomes, target)
    names = sorted({k for r in runs for k in r.params})
    replicates = [n for n in names if is_replicate(n, config.replicate_params)]
    levels: dict[str, list] = {}
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name in replicates:
            continue
        parsed = [parse_param(r.params.get(name)) if name in r.params else MISSING for r in runs]
        keys = [sort_key(v) for v in parsed]
        unique = sorted(set(keys))
        index = {k: i for i, k in enumerate(unique)}
        first = {}
        for k, v in zip(keys, parsed):
            first.setdefault(k, v)
        levels[name] = [first[k] for k in unique]
        columns[name] = np.array([index[k] for k in keys], dtype=np.int64)
    varying = [n for n in levels if len(levels[n]) > 1]
    table = pd.DataFrame({n: columns[n] for n in varying}, index=range(len(runs)))
    table["_y"] = y
    table["_failed"] = failed
    table["_missing"] = missing
    table["_config"] = _group_ids(table, varying)
    pattern_table = _pattern_table(runs, diagnoses, pd)
    warnings = _table_warnings(runs, varying, table, outcomes)
    global_noise = _pooled_std(table)
    result = [
        _compare_param(p, varying, table, levels[p], runs, pattern_table, global_noise, mode)
        for p in varying
    ]
    result.sort(key=lambda c: (not c.significant, c.confounded, -(c.effect if c.effect is not None else -1), c.param))
    from posthoc.compare.importance import rank_importance

    importance, importance_warnings = rank_importance(table, varying, levels, mode)
    comparison = Comparison(
        experiment_id=_experiment_of(runs), target=target_label, mode=mode, statistic=statistic,
        comparisons=result, importance=importance, warnings=warnings + importance_warnings,
        run_count=len(runs), failures=int(failed.sum()), replicate_params=replicates,
        constant_params=[n for n in levels if len(levels[n]) == 1],
    )
    from posthoc.compare.summary import summarize

    comparison.summary = summarize(comparison)
    return comparison


def _target_label(outcomes, target: str | None) -> tuple[str, str]:
    if target is not None:
        return target, "best"
    keys = sorted({o.key for o in outcomes if o.key is not None})
    statistic = next((o.statistic for o in outcomes), "best")
    if len(keys) == 1:
        return keys[0], statistic
    return ("val_loss" if statistic == "best" else "train_loss"), statistic  # keys differ by logger


def _experiment_of(runs: list[Run]) -> str | None:
    ids = {r.experiment_id for r in runs}
    return next(iter(ids)) if len(ids) == 1 else (",".join(sorted(ids)) or None)


def _group_ids(table, params: list[str]) -> np.ndarray:
    """One integer per distinct combination of `params` (all zeros when there are none)."""
    key = np.zeros(len(table), dtype=np.int64)
    for name in params:  # mixed radix, re-factorized each step so it never overflows
        codes = table[name].to_numpy()
        key = np.unique(key * (int(codes.max()) + 1) + codes, return_inverse=True)[1].astype(np.int64)
    return key


def _pooled_std(table, mask: np.ndarray | None = None) -> tuple[float | None, int]:
    """Pooled σ of the seed-replicate groups (same `_config`) with ≥2 finite outcomes, and its df."""
    sub = table if mask is None else table[mask]
    finite = sub[np.isfinite(sub["_y"].to_numpy())]
    if finite.empty:
        return None, 0
    stats = finite.groupby("_config")["_y"].agg(["count", "var"])
    stats = stats[stats["count"] >= 2]
    df = int((stats["count"] - 1).sum())
    if df == 0:
        return None, 0
    return float(math.sqrt(((stats["count"] - 1) * stats["var"]).sum() / df)), df


def _pattern_table(runs, diagnoses, pd):
    """run index × pattern → 1 when the run's diagnosis holds that pattern (or is healthy)."""
    if not diagnoses:
        return None
    by_id = diagnoses if isinstance(diagnoses, dict) else {d.run.run_id: d for d in diagnoses}
    rows = []
    for r in runs:
        d = by_id.get(r.run_id)
        if d is None:
            rows.append({})
            continue
        hit = {f.pattern: 1 for f in d.findings if f.severity in ("critical", "warning")}
        rows.append(hit or ({"healthy": 1} if d.status == "healthy" and r.metrics else {}))
    return pd.DataFrame(rows, index=range(len(runs))).fillna(0).astype(int)


def _table_warnings(runs, varying, table, outcomes) -> list[str]:
    warnings = []
    if len(runs) < 2:
        warnings.append(f"only {len(runs)} run{'' if len(runs) == 1 else 's'}: nothing to compare")
    elif not varying:
        warnings.append("no param varies across these runs (seeds aside): nothing to compare")
    for name in varying:
        if len(runs) > 3 and table[name].nunique() == len(runs):
            warnings.append(f"param {name!r} has a different value in every run, so no two runs differ in one "
                            "param only; if it is not a setting (a path, a timestamp), add it to replicate_params")
    skipped = sum(o.value is None for o in outcomes)
    if skipped:
        warnings.append(f"{skipped} run(s) did not log the target metric: left out of the outcomes")
    return warnings


def _compare_param(param, varying, table, levels, runs, patterns, global_noise, mode) -> ParamComparison:
    others = [q for q in varying if q != param]
    context = _group_ids(table, others)
    matched = _varies_within(table[param].to_numpy(), context)
    confounders: list[str] = []
    note = ""
    if not matched.any():
        confounders = [q for q in others
                       if _varies_within(table[param].to_numpy(), _group_ids(table, [o for o in others if o != q])).any()]
        if confounders:
            context = _group_ids(table, [q for q in others if q not in confounders])
            matched = _varies_within(table[param].to_numpy(), context)
            note = f"always changed together with {', '.join(confounders)}"
        else:  # no fair comparison at all: describe each value over every run, claim nothing
            confounders = _co_varying(table, param, others)
            context, matched = np.zeros(len(table), dtype=np.int64), np.ones(len(table), dtype=bool)
            note = "never changed alone (always with two or more other params): no fair comparison"
    sub = table[matched].assign(_context=context[matched])
    values = _value_outcomes(sub, param, levels, runs, patterns)
    adjusted = {v.value_code: v.adjusted_mean for v in values if np.isfinite(v.adjusted_mean)}
    effect = best = worst = None
    if len(adjusted) >= 2 and not note.startswith("never"):
        pick = min if mode == "min" else max
        best = pick(adjusted, key=adjusted.get)
        worst = (max if mode == "min" else min)(adjusted, key=adjusted.get)
        effect = abs(adjusted[best] - adjusted[worst])
    noise_std, noise_df = _pooled_std(sub)
    source = "compared runs"
    if noise_std is None:
        (noise_std, noise_df), source = global_noise, "experiment"
    if noise_std is None:
        source = "none"
    noise = None
    by_code = {v.value_code: v for v in values}
    if noise_std is not None and best is not None and by_code[best].n and by_code[worst].n:
        from scipy.stats import t

        noise = float(t.ppf(0.975, noise_df) * noise_std * math.sqrt(1 / by_code[best].n + 1 / by_code[worst].n))
    failure_decided = _decided_by_failures(values)
    if best is None and failure_decided:  # only one value trained at all: it is best, a failing one worst
        best = next(v.value_code for v in values if v.n >= 2 and v.failures == 0)
        worst = next(v.value_code for v in values if v.failures >= 2 and v.n == 0)
    clears = effect is not None and noise is not None and effect > noise
    confounded = bool(confounders)
    out = ParamComparison(
        param=param, values=[v.public for v in values], effect=effect, noise=noise, noise_std=noise_std,
        noise_df=noise_df, noise_source=source, significant=(clears or failure_decided) and not confounded,
        confounded=confounded, confounders=confounders, matched_groups=int(sub["_context"].nunique()),
        best_value=levels[best] if best is not None else None,
        worst_value=levels[worst] if worst is not None else None,
        failure_decided=failure_decided, joint_significant=(clears or failure_decided) and confounded, note=note,
    )
    if not out.note and source == "none":
        out.note = "no replicates: noise unknown"
    return out


def _co_varying(table, param: str, others: list[str]) -> list[str]:
    """Params whose set of values differs between values of `param` (they moved when it moved)."""
    out = []
    for q in others:
        present = table.groupby([param, q]).size().unstack(fill_value=0) > 0
        if (present != present.iloc[0]).to_numpy().any():
            out.append(q)
    return out


def _varies_within(codes: np.ndarray, context: np.ndarray) -> np.ndarray:
    """True for runs whose context group holds ≥2 distinct values of the param (vectorized)."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    lo = np.full(context.max() + 1, np.iinfo(np.int64).max)
    hi = np.full(context.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(lo, context, codes)
    np.maximum.at(hi, context, codes)
    return (hi > lo)[context]


@dataclass
class _Value:
    value_code: int
    adjusted_mean: float
    n: int
    failures: int
    public: ValueOutcome


def _value_outcomes(sub, param, levels, runs, patterns) -> list[_Value]:
    if sub.empty:
        return []
    y = sub["_y"]
    finite = sub[np.isfinite(y.to_numpy())]
    cells = finite.groupby(["_context", param])["_y"].mean().rename("cell").reset_index()
    cells["centred"] = cells["cell"] - cells.groupby("_context")["cell"].transform("mean")
    grand = cells["cell"].mean() if len(cells) else float("nan")
    adjusted = cells.groupby(param)["centred"].mean() + grand
    grouped = sub.groupby(param)
    stats = finite.groupby(param)["_y"].agg(["mean", "std", "count"])
    fails = grouped["_failed"].sum()
    missing = grouped["_missing"].sum()
    out = []
    for code, index in grouped.indices.items():
        rows = sub.index[index]
        counts = {}
        if patterns is not None:
            sums = patterns.loc[rows].sum()
            counts = {k: int(v) for k, v in sums[sums > 0].sort_values(ascending=False).items()}
        n = int(stats["count"].get(code, 0))
        mean = float(stats["mean"].get(code, np.nan)) if n else float("nan")
        std = float(stats["std"].get(code, np.nan)) if n > 1 else float("nan")
        adj = float(adjusted.get(code, np.nan))
        public = ValueOutcome(levels[code], [runs[i].run_id for i in rows], mean, std, n, int(fails[code]),
                              int(missing[code]), adj, counts)
        out.append(_Value(int(code), adj, n, int(fails[code]), public))
    out.sort(key=lambda v: v.value_code)
    return out


def _decided_by_failures(values: list[_Value]) -> bool:
    """A value that failed in all of its ≥2 runs while another value never failed (in ≥2 runs)."""
    all_failed = any(v.failures >= 2 and v.n == 0 for v in values)
    never_failed = any(v.n >= 2 and v.failures == 0 for v in values)
    return all_failed and never_failed
