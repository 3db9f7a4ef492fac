"""The coarse whole-experiment view: which params the outcome depends on, by random-forest permutation
importance (the forest of trees.py) and Spearman rank correlation. It shows association, not controlled
differences, so it comes second to the one-variable comparisons, with a warning when there are too few runs.
Params that move together are one column (named by the first, the others in `moves_with`): a forest
would split their importance at random between copies of the same column."""

from __future__ import annotations

import numpy as np

from posthoc.compare.params import numeric
from posthoc.compare.result import Importance
from posthoc.compare.trees import fit_forest

MIN_RUNS = 8  # below this a forest memorizes the runs: no ranking at all
RUNS_PER_PARAM = 5  # a common rule of thumb for tree-ensemble importance on small tables


def rank_importance(y: np.ndarray, missing: np.ndarray, table, mode: str) -> tuple[list[Importance], list[str]]:
    """(list of Importance, warnings) over the factors of a ParamTable. Failed runs take the worst finite
    outcome, so failing counts."""
    factors = table.factors
    keep = ~missing
    finite = np.isfinite(y) & keep
    if not factors:
        return [], []
    if finite.sum() < MIN_RUNS:
        return [], [f"importance skipped: {int(finite.sum())} runs with a finite outcome, need ≥ {MIN_RUNS}"]
    worst = np.max(y[finite]) if mode == "min" else np.min(y[finite])
    y = np.where(np.isfinite(y), y, worst)[keep]
    # ordinal codes: values in sort order, so numbers keep their order
    x = np.column_stack([table.codes[members[0]] for members in factors])[keep].astype(float)
    warnings = []
    if len(y) < RUNS_PER_PARAM * len(factors):
        warnings.append(f"importance is rough: {len(y)} runs for {len(factors)} varying params "
                        f"(want ≥ {RUNS_PER_PARAM * len(factors)})")
    if np.ptp(y) == 0:
        return ([Importance(m[0], 0.0, 0.0, None, m[1:]) for m in factors],
                warnings + ["the outcome is the same in every run"])
    drops = permutation_drops(fit_forest(x, y).predict, x, y)
    out = []
    for i, members in enumerate(factors):
        ordered = all(numeric(v) is not None for v in table.levels[members[0]])
        out.append(Importance(members[0], float(drops[i].mean()), float(drops[i].std()),
                              spearman(x[:, i], y) if ordered else None, members[1:]))
    out.sort(key=lambda imp: -imp.importance)
    return out, warnings


def permutation_drops(predict, x: np.ndarray, y: np.ndarray, repeats: int = 3, cells: int = 2_000_000) -> np.ndarray:
    """Permutation importance (Breiman 2001; sklearn.inspection's method): the drop in R² when one column is
    shuffled, `repeats` times per column. Shuffled copies are stacked and predicted in few calls, since
    one predict call per column and repeat costs more than the prediction itself."""
    rng = np.random.default_rng(0)
    n, columns = x.shape
    baseline = _r2(y, predict(x))
    jobs = [(column, rng.permutation(n)) for column in range(columns) for _ in range(repeats)]
    scores = np.empty(len(jobs))
    per_call = max(1, cells // max(n * columns, 1))
    for start in range(0, len(jobs), per_call):
        chunk = jobs[start:start + per_call]
        stacked = np.repeat(x[None], len(chunk), axis=0)
        for k, (column, order) in enumerate(chunk):
            stacked[k, :, column] = x[order, column]
        predicted = predict(stacked.reshape(-1, columns)).reshape(len(chunk), n)
        scores[start:start + len(chunk)] = [baseline - _r2(y, p) for p in predicted]
    return scores.reshape(columns, repeats)


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    return 1.0 - float(((y - predicted) ** 2).sum()) / float(((y - y.mean()) ** 2).sum())


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho: Pearson's correlation of average ranks (ties share their mean rank), as scipy computes it."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    rho = float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])
    return rho if np.isfinite(rho) else None


def _ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse.ravel()]
