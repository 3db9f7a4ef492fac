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

Params that split the runs identically (an exact function of each other across these runs, such as epochs
and batch_size at a fixed step count) form one factor, judged once and reported as moving together.
Every grouping is a vector of integer ids; leaving one factor out uses prefix and suffix combinations,
so the work grows linearly with the number of factors, not with its cube.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from posthoc.compare.outcome import any_val_loss, default_mode, run_outcome
from posthoc.compare.params import identifier_reason, is_replicate, parse_param, sort_key
from posthoc.compare.result import Comparison, ParamComparison, ValueOutcome
from posthoc.compare.summary import names_text, summarize
from posthoc.config import Config
from posthoc.kinds import KIND_LABELS, TRAINING
from posthoc.model import Diagnosis, Run


def compare(runs: list[Run], diagnoses: list[Diagnosis] | dict[str, Diagnosis] | None = None,
            target: str | None = None, mode: str | None = None, config: Config | None = None,
            ignore: tuple[str, ...] = (), keep: tuple[str, ...] = (), importance: bool = True) -> Comparison:
    """The one-variable-at-a-time comparison of `runs` on `target` (default: best val loss).

    `ignore` sets params aside (as `ignore_params` in config does); `keep` overrides a wrong identifier guess;
    `importance` False skips the random-forest ranking."""
    config = config or Config()
    by_id = diagnoses if isinstance(diagnoses, dict) else {d.run.run_id: d for d in diagnoses or ()}
    runs, tests = _set_aside_tests(runs, by_id)
    mode = mode or default_mode(target)
    use_val = target is None and any_val_loss(runs, config.roles)
    outcomes = [run_outcome(r, target, mode, config.roles, use_val) for r in runs]
    y = np.array([np.nan if o.value is None else o.value for o in outcomes], dtype=float)
    failed = np.array([o.failed for o in outcomes], dtype=bool)
    missing = np.array([o.value is None for o in outcomes], dtype=bool)
    target_label, statistic = _target_label(outcomes, target)
    table = encode_params(runs, config.replicate_params, (*config.ignore_params, *ignore), keep)
    grouping = Grouping([table.codes[members[0]] for members in table.factors], len(runs))
    data = _Data(y, failed, missing, grouping.full, _pattern_matrix(runs, by_id), [r.run_id for r in runs])
    global_noise = _pooled_std(y, grouping.full)
    result = []
    for index, members in enumerate(table.factors):
        context, matched, confounding, note = _fair_context(index, grouping)
        joined = [name for j in confounding for name in table.factors[j]]
        for name in members:
            moves_with = [m for m in members if m != name]
            result.append(_compare_param(name, table.codes[name], table.levels[name], context, matched,
                                         moves_with, joined, note, data, global_noise, mode))
    result.sort(key=lambda c: (not c.significant, c.confounded, -(c.effect if c.effect is not None else -1), c.param))
    ranking, ranking_warnings = [], ["importance not computed (--no-importance)"]
    if importance:
        from posthoc.compare.importance import rank_importance

        ranking, ranking_warnings = rank_importance(y, missing, table, mode)
    comparison = Comparison(
        experiment_id=_experiment_of(runs), target=target_label, mode=mode, statistic=statistic,
        comparisons=result, importance=ranking,
        warnings=tests + _table_warnings(runs, table, outcomes) + ranking_warnings,
        run_count=len(runs), failures=int(failed.sum()), replicate_params=table.replicates,
        constant_params=table.constant, ignored=table.ignored,
    )
    comparison.summary = summarize(comparison)
    return comparison


@dataclass
class ParamTable:
    """The runs' params, encoded: per varying param an integer code per run (code i is levels[name][i])."""

    levels: dict[str, list]
    codes: dict[str, np.ndarray]
    factors: list[list[str]]  # params that split the runs identically, judged together; sorted by name
    replicates: list[str]
    constant: list[str]
    ignored: dict[str, str]  # param → why it was set aside


def encode_params(runs: list[Run], replicate_params: tuple[str, ...], ignore: tuple[str, ...] = (),
                  keep: tuple[str, ...] = ()) -> ParamTable:
    """Parse each distinct logged string once, set aside seeds, constants and identifiers, group the rest."""
    names = sorted({k for r in runs for k in r.params})
    replicates = [n for n in names if is_replicate(n, replicate_params)]
    table = ParamTable({}, {}, [], replicates, [], {})
    partitions: dict[bytes, list[str]] = {}
    for name in names:
        raw = [r.params.get(name) for r in runs]
        parsed = {text: parse_param(text) for text in dict.fromkeys(raw)}
        keys = {text: sort_key(value) for text, value in parsed.items()}
        unique = sorted(set(keys.values()))
        if len(unique) == 1:
            if name not in replicates:
                table.constant.append(name)
            continue
        if name in replicates:
            continue
        reason = "--ignore or ignore_params" if name in ignore else None
        if reason is None and name not in keep:
            reason = identifier_reason(name, list(parsed), len(unique), len(runs))
        if reason is not None:
            table.ignored[name] = reason
            continue
        index = {k: i for i, k in enumerate(unique)}
        first = {}
        for text, value in parsed.items():
            first.setdefault(keys[text], value)
        table.levels[name] = [first[k] for k in unique]
        codes = np.array([index[keys[text]] for text in raw], dtype=np.int64)
        table.codes[name] = codes
        partitions.setdefault(_partition_key(codes), []).append(name)
    table.factors = list(partitions.values())
    return table


def _partition_key(codes: np.ndarray) -> bytes:
    """The same bytes for every coding of the same split of the runs (values renumbered by first run)."""
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.ravel()].tobytes()


def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One id per distinct (a, b) pair, renumbered from 0 so that combining again never overflows."""
    if not len(a):
        return a
    return np.unique(a * (int(b.max()) + 1) + b, return_inverse=True)[1].ravel().astype(np.int64)


class Grouping:
    """Group ids over every factor but one (or two), from prefix and suffix combinations: O(factors · runs)."""

    def __init__(self, factors: list[np.ndarray], n_runs: int):
        self.factors = factors
        self.prefix = [np.zeros(n_runs, dtype=np.int64)]
        for codes in factors:
            self.prefix.append(combine(self.prefix[-1], codes))
        self.suffix = [np.zeros(n_runs, dtype=np.int64)]
        for codes in reversed(factors):
            self.suffix.append(combine(codes, self.suffix[-1]))
        self.suffix.reverse()  # suffix[i] combines factors i…end
        self.n_runs = n_runs
        self.full = self.prefix[-1]
        self._levels = self._offsets = None

    def without(self, i: int) -> np.ndarray:
        return combine(self.prefix[i], self.suffix[i + 1])

    def _singletons(self, ids: np.ndarray) -> bool:
        return len(ids) == 0 or int(ids.max()) + 1 == self.n_runs

    def partners(self, i: int) -> list[int]:
        """Factors j such that factor i varies among runs equal in everything but i and j."""
        out = []
        codes = self.factors[i]
        acc = self.prefix[i]  # factors before i; then i+1 … j-1 are folded in
        for j in range(i + 1, len(self.factors)):
            if self._singletons(acc):
                break  # every run is alone already: no later j can leave two runs together
            if not self._singletons(self.suffix[j + 1]) and varies_within(codes, combine(acc, self.suffix[j + 1])).any():
                out.append(j)
            acc = combine(acc, self.factors[j])
        acc = self.suffix[i + 1]
        for j in range(i - 1, -1, -1):
            if self._singletons(acc):
                break
            if not self._singletons(self.prefix[j]) and varies_within(codes, combine(self.prefix[j], acc)).any():
                out.append(j)
            acc = combine(self.factors[j], acc)
        return sorted(out)

    def co_varying(self, i: int) -> list[int]:
        """Factors whose set of values differs between values of factor i (they moved when it moved), all at
        once: a level of another factor that only some values of i ever saw means that factor moved with i."""
        if self._levels is None:  # every (factor, level) as one column id, built on first use
            self._offsets = np.concatenate([[0], np.cumsum([int(f.max()) + 1 for f in self.factors])])
            self._levels = (np.column_stack(self.factors) + self._offsets[:-1]).ravel()
        codes, width = self.factors[i], int(self._offsets[-1])
        pairs = np.unique(np.repeat(codes, len(self.factors)) * width + self._levels)  # (value of i, column) seen
        seen_by = np.bincount(pairs % width, minlength=width)  # how many values of i saw each column
        moved = np.logical_or.reduceat(seen_by < len(np.unique(codes)), self._offsets[:-1])
        moved[i] = False
        return np.flatnonzero(moved).tolist()

    def context(self, excluded: set[int]) -> np.ndarray:
        ids = np.zeros(self.n_runs, dtype=np.int64)
        for j, codes in enumerate(self.factors):
            if j not in excluded:
                ids = combine(ids, codes)
        return ids


def varies_within(codes: np.ndarray, context: np.ndarray) -> np.ndarray:
    """True for runs whose context group holds ≥2 distinct values of the param."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    lo = np.full(context.max() + 1, np.iinfo(np.int64).max)
    hi = np.full(context.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(lo, context, codes)
    np.maximum.at(hi, context, codes)
    return (hi > lo)[context]


def _fair_context(i: int, grouping: Grouping) -> tuple[np.ndarray, np.ndarray, list[int], str]:
    """(context ids, runs compared, confounding factors, note) for factor i: the runs equal in every other
    factor; else equal in all but the factors that changed together with it; else every run, claiming nothing."""
    codes = grouping.factors[i]
    context = grouping.without(i)
    matched = varies_within(codes, context)
    if matched.any():
        return context, matched, [], ""
    confounding = grouping.partners(i)
    if confounding:
        context = grouping.context({i, *confounding})
        return context, varies_within(codes, context), confounding, ""
    never = "never changed alone (always with two or more other params): no fair comparison"
    return np.zeros(len(codes), dtype=np.int64), np.ones(len(codes), dtype=bool), grouping.co_varying(i), never


@dataclass
class _Data:
    y: np.ndarray
    failed: np.ndarray
    missing: np.ndarray
    config: np.ndarray  # one id per distinct setting of every factor: seed replicates share it
    patterns: tuple[list[str], np.ndarray] | None  # (pattern names, run × pattern 0/1 matrix)
    run_ids: list[str]


def _pattern_matrix(runs, by_id: dict[str, Diagnosis]) -> tuple[list[str], np.ndarray] | None:
    """run × pattern → 1 when the run's diagnosis holds that pattern (or is healthy); names in first-seen order."""
    if not by_id:
        return None
    rows = []
    for r in runs:
        d = by_id.get(r.run_id)
        hit = [] if d is None else list(dict.fromkeys(f.pattern for f in d.findings if f.severity in ("critical", "warning")))
        rows.append(hit or (["healthy"] if d is not None and d.status == "healthy" and r.metrics else []))
    names = list(dict.fromkeys(p for row in rows for p in row))
    column = {p: j for j, p in enumerate(names)}
    matrix = np.zeros((len(runs), len(names)), dtype=np.int64)
    for i, row in enumerate(rows):
        matrix[i, [column[p] for p in row]] = 1
    return names, matrix


def _pooled_std(y: np.ndarray, config: np.ndarray) -> tuple[float | None, int]:
    """Pooled σ of the seed-replicate groups (same config id) with ≥2 finite outcomes, and its df."""
    finite = np.isfinite(y)
    if not finite.any():
        return None, 0
    groups = config[finite]
    values = y[finite]
    count = np.bincount(groups)
    mean = np.bincount(groups, values) / np.maximum(count, 1)
    squares = np.bincount(groups, (values - mean[groups]) ** 2)
    df = int((count[count >= 2] - 1).sum())
    if df == 0:
        return None, 0
    return float(math.sqrt(squares[count >= 2].sum() / df)), df


@dataclass
class _Value:
    code: int
    adjusted_mean: float
    n: int
    failures: int
    public: ValueOutcome


def _value_outcomes(codes: np.ndarray, context: np.ndarray, matched: np.ndarray, levels: list,
                    data: _Data) -> list[_Value]:
    """Per value among the compared runs: outcome mean/std/n, failures, patterns and the mean adjusted for
    each matched group's own level (cell means centred within their group, plus the grand mean of cells)."""
    rows = np.flatnonzero(matched)
    if not len(rows):
        return []
    value, group, y = codes[rows], context[rows], data.y[rows]
    finite = np.isfinite(y)
    adjusted = {}
    if finite.any():
        cell = combine(group[finite], value[finite])
        cell_count = np.bincount(cell)
        cell_mean = np.bincount(cell, y[finite]) / cell_count
        cell_value = np.zeros(len(cell_count), dtype=np.int64)
        cell_value[cell] = value[finite]
        cell_group = np.zeros(len(cell_count), dtype=np.int64)
        cell_group[cell] = combine(group[finite], np.zeros(int(finite.sum()), dtype=np.int64))
        group_mean = np.bincount(cell_group, cell_mean) / np.bincount(cell_group)
        centred = cell_mean - group_mean[cell_group]
        grand = float(cell_mean.mean())
        for code in np.unique(cell_value):
            adjusted[int(code)] = float(centred[cell_value == code].mean()) + grand
    out = []
    for code in np.unique(value):
        at = rows[value == code]
        outcomes = data.y[at]
        kept = outcomes[np.isfinite(outcomes)]
        n = len(kept)
        counts = {}
        if data.patterns is not None:
            names, matrix = data.patterns
            sums = matrix[at].sum(axis=0)
            order = sorted((j for j in range(len(names)) if sums[j]), key=lambda j: -sums[j])  # stable: ties keep diagnosis order
            counts = {names[j]: int(sums[j]) for j in order}
        mean = float(kept.mean()) if n else float("nan")
        std = float(kept.std(ddof=1)) if n > 1 else float("nan")
        adj = adjusted.get(int(code), float("nan"))
        failures = int(data.failed[at].sum())
        public = ValueOutcome(levels[code], [data.run_ids[i] for i in at], mean, std, n, failures,
                              int(data.missing[at].sum()), adj, counts, [data.run_ids[i] for i in at[data.failed[at]]])
        out.append(_Value(int(code), adj, n, failures, public))
    return out


def _compare_param(param, codes, levels, context, matched, moves_with, confounding, note, data: _Data,
                   global_noise, mode) -> ParamComparison:
    values = _value_outcomes(codes, context, matched, levels, data)
    adjusted = {v.code: v.adjusted_mean for v in values if np.isfinite(v.adjusted_mean)}
    effect = best = worst = None
    if len(adjusted) >= 2 and not note:
        pick, drop = (min, max) if mode == "min" else (max, min)
        best, worst = pick(adjusted, key=adjusted.get), drop(adjusted, key=adjusted.get)
        effect = abs(adjusted[best] - adjusted[worst])
    noise_std, noise_df = _pooled_std(data.y[matched], data.config[matched])
    source = "compared runs"
    if noise_std is None:
        (noise_std, noise_df), source = global_noise, "experiment"
    if noise_std is None:
        source = "none"
    by_code = {v.code: v for v in values}
    noise = None
    if noise_std is not None and best is not None and by_code[best].n and by_code[worst].n:
        noise = t_quantile(0.975, noise_df) * noise_std * math.sqrt(1 / by_code[best].n + 1 / by_code[worst].n)
    failure_decided = _decided_by_failures(values)
    if best is None and failure_decided:  # only one value trained at all: it is best, a failing one worst
        best = next(v.code for v in values if v.n >= 2 and v.failures == 0)
        worst = next(v.code for v in values if v.failures >= 2 and v.n == 0)
    clears = effect is not None and noise is not None and effect > noise
    confounders = sorted(dict.fromkeys([*moves_with, *confounding]))
    if not note:
        parts = [f"moves with {names_text(moves_with)} (an exact function across these runs): judged together"] if moves_with else []
        parts += [f"always changed together with {names_text(confounding)}"] if confounding else []
        note = "; ".join(parts)
    out = ParamComparison(
        param=param, values=[v.public for v in values], effect=effect, noise=noise, noise_std=noise_std,
        noise_df=noise_df, noise_source=source, significant=(clears or failure_decided) and not confounders,
        confounded=bool(confounders), confounders=confounders, matched_groups=len(np.unique(context[matched])),
        best_value=levels[best] if best is not None else None,
        worst_value=levels[worst] if worst is not None else None,
        failure_decided=failure_decided, joint_significant=(clears or failure_decided) and bool(confounders),
        note=note, moves_with=moves_with,
    )
    if not out.note and source == "none":
        out.note = "no replicates: noise unknown"
    return out


@functools.lru_cache(maxsize=256)
def t_quantile(probability: float, df: int) -> float:
    """Student's t quantile for integer df, without scipy (whose import costs more than a comparison):
    bisection on the exact finite series for P(|T| ≤ t) (Abramowitz & Stegun 26.7.3-4)."""
    target, low, high = 2 * probability - 1, 0.0, math.pi / 2
    for _ in range(60):  # θ = atan(t/√df) to ~1e-18 rad
        theta = (low + high) / 2
        low, high = (theta, high) if _t_within(theta, df) < target else (low, theta)
    return math.sqrt(df) * math.tan((low + high) / 2)


def _t_within(theta: float, df: int) -> float:
    """P(|T| ≤ √df·tan θ) for T ~ Student's t with df degrees of freedom."""
    cos2, term, total = math.cos(theta) ** 2, 1.0, 1.0
    if df % 2:
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        series = math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0
        return 2 / math.pi * (theta + series)
    for k in range(1, df // 2):
        term *= cos2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def _decided_by_failures(values: list[_Value]) -> bool:
    """A value that failed in all of its ≥2 runs while another value never failed (in ≥2 runs)."""
    all_failed = any(v.failures >= 2 and v.n == 0 for v in values)
    never_failed = any(v.n >= 2 and v.failures == 0 for v in values)
    return all_failed and never_failed


def _target_label(outcomes, target: str | None) -> tuple[str, str]:
    if target is not None:
        return target, "best"
    keys = sorted({o.key for o in outcomes if o.key is not None})
    statistic = next((o.statistic for o in outcomes), "best")
    if len(keys) == 1:
        return keys[0], statistic
    return ("val_loss" if statistic == "best" else "train_loss"), statistic  # keys differ by logger


def _set_aside_tests(runs: list[Run], by_id: dict[str, Diagnosis]) -> tuple[list[Run], list[str]]:
    """Runs that are LR range tests or one-batch tests, not trainings: their lr or data size is a probe, not a
    setting (an lr of 1e-7 is where a range test starts), so they are left out and named in a warning."""
    tests = {r.run_id: by_id[r.run_id].kind for r in runs if r.run_id in by_id and by_id[r.run_id].kind != TRAINING}
    if not tests:
        return runs, []
    named = ", ".join(f"{r.run_name or r.run_id} ({KIND_LABELS[tests[r.run_id]]})" for r in runs if r.run_id in tests)
    return [r for r in runs if r.run_id not in tests], [f"set aside {len(tests)} test run(s), not trainings: {named}"]


def _experiment_of(runs: list[Run]) -> str | None:
    ids = {r.experiment_id for r in runs}
    return next(iter(ids)) if len(ids) == 1 else (",".join(sorted(ids)) or None)


def _table_warnings(runs, table: ParamTable, outcomes) -> list[str]:
    warnings = []
    if len(runs) < 2:
        warnings.append(f"only {len(runs)} run{'' if len(runs) == 1 else 's'}: nothing to compare")
    elif not table.factors:
        warnings.append("no param varies across these runs (seeds aside): nothing to compare")
    for name, levels in table.levels.items():
        if len(runs) > 3 and len(levels) == len(runs):
            warnings.append(f"param {name!r} has a different value in every run, so no two runs differ in one "
                            "param only; if it is not a setting, pass --ignore " + name)
    skipped = sum(o.value is None for o in outcomes)
    if skipped:
        warnings.append(f"{skipped} run(s) did not log the target metric: left out of the outcomes")
    return warnings
