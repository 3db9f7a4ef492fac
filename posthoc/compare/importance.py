"""The coarse whole-experiment view: which params the outcome depends on, by random-forest permutation
importance and Spearman rank correlation. It shows association, not controlled differences, so it comes
second to the one-variable comparisons, and with a warning when there are too few runs to trust it."""

from __future__ import annotations

import numpy as np

from posthoc.compare.params import numeric
from posthoc.compare.result import Importance

MIN_RUNS = 8  # below this a forest memorizes the runs: no ranking at all
RUNS_PER_PARAM = 5  # a common rule of thumb for tree-ensemble importance on small tables


def rank_importance(table, params: list[str], levels: dict[str, list], mode: str):
    """(list of Importance, warnings). Failed runs take the worst finite outcome, so failing counts."""
    y = table["_y"].to_numpy(dtype=float)
    keep = ~table["_missing"].to_numpy()
    finite = np.isfinite(y) & keep
    if not params:
        return [], []
    if finite.sum() < MIN_RUNS:
        return [], [f"importance skipped: {int(finite.sum())} runs with a finite outcome, need ≥ {MIN_RUNS}"]
    worst = np.nanmax(y[finite]) if mode == "min" else np.nanmin(y[finite])
    y = np.where(np.isfinite(y), y, worst)[keep]
    x = table.loc[keep, params].to_numpy(dtype=float)  # ordinal codes: sorted values, so numbers keep their order
    warnings = []
    if len(y) < RUNS_PER_PARAM * len(params):
        warnings.append(f"importance is rough: {len(y)} runs for {len(params)} varying params "
                        f"(want ≥ {RUNS_PER_PARAM * len(params)})")
    if np.ptp(y) == 0:
        return [Importance(p, 0.0, 0.0, None) for p in params], warnings + ["the outcome is the same in every run"]
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    forest = RandomForestRegressor(n_estimators=40, min_samples_leaf=2, random_state=0, n_jobs=1).fit(x, y)
    scores = permutation_importance(forest, x, y, n_repeats=3, random_state=0, n_jobs=1)
    out = []
    for i, p in enumerate(params):
        ordered = all(numeric(v) is not None for v in levels[p])
        out.append(Importance(p, float(scores.importances_mean[i]), float(scores.importances_std[i]),
                              _spearman(x[:, i], y) if ordered else None))
    out.sort(key=lambda imp: -imp.importance)
    return out, warnings


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0:
        return None
    rho = spearmanr(a, b).statistic
    return None if rho is None or not np.isfinite(rho) else float(rho)
