"""Breiman's random forest (Machine Learning 45:5-32, 2001) in numpy, for the importance ranking: scikit-learn's
costs more to import than compare takes. Bootstrap trees whose nodes take the cut that reduces variance most over all
columns (as scikit-learn's regressor does), grown a level at a time from histograms (LightGBM's split search)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TREES = 100  # scikit-learn's default; most of the gain comes in the first 100 (Probst & Boulesteix, JMLR 2018)
MIN_LEAF = 5  # rows per leaf: randomForest's regression default nodesize (Liaw & Wiener, R News 2002)
MAX_BINS = 32  # a column with more distinct values is cut at its quantiles only
CELLS = 4_000_000  # histogram cells per batch of trees, which bounds the split search's memory


@dataclass(frozen=True)
class Forest:
    feature: np.ndarray  # per node: the column it splits on (0 at leaves)
    threshold: np.ndarray  # per node: rows with x <= threshold go left (+inf at leaves)
    left: np.ndarray  # per node: its left child; the right one follows it (a leaf is its own left child)
    value: np.ndarray  # per node: the mean outcome of its bootstrap rows
    trees: int
    depth: int

    def predict(self, x: np.ndarray, pairs: int = 1 << 18) -> np.ndarray:
        distinct, inverse = np.unique(x, axis=0, return_inverse=True)  # runs repeated over seeds walk once
        out = np.empty(len(distinct))
        for start in range(0, len(distinct), max(1, pairs // self.trees)):  # (row, tree) pairs kept in cache
            rows = distinct[start:start + max(1, pairs // self.trees)]
            node = np.broadcast_to(np.arange(self.trees, dtype=np.int32), (len(rows), self.trees))
            cells = np.arange(len(rows), dtype=np.int32)[:, None] * x.shape[1]
            for _ in range(self.depth):
                node = self.left[node] + (rows.ravel()[cells + self.feature[node]] > self.threshold[node])
            out[start:start + len(rows)] = self.value[node].mean(axis=1)
        return out[inverse.ravel()]


def fit_forest(x: np.ndarray, y: np.ndarray, trees: int = TREES, seed: int = 0) -> Forest:
    """`trees` trees on the rows of x (ordinal codes) and outcomes y; the same trees for the same seed."""
    rng = np.random.default_rng(seed)
    n, columns = x.shape
    levels = [np.unique(c) if len(np.unique(c)) <= MAX_BINS
              else np.unique(np.quantile(c, np.linspace(0, 1, MAX_BINS), method="lower")) for c in x.T]
    bins = max(len(v) for v in levels)
    cut_value = np.array([np.pad(v, (0, bins - len(v)), constant_values=np.inf) for v in levels])
    binned = np.column_stack([np.searchsorted(v, c) for v, c in zip(levels, x.T)])  # x <= v[b] iff bin <= b
    size = trees * max(2 * n - 1, 1)  # a binary tree on n rows has at most 2n - 1 nodes
    feature, threshold = np.zeros(size, dtype=np.int32), np.full(size, np.inf)
    left, value = np.arange(size, dtype=np.int32), np.zeros(size)
    created, depth = trees, 0
    batch = max(1, CELLS * MIN_LEAF // (n * columns * bins))  # a level has at most rows / MIN_LEAF nodes
    for first in range(0, trees, batch):
        roots = np.arange(first, min(first + batch, trees))
        sample = rng.integers(0, n, size=len(roots) * n)  # the bootstrap: n rows drawn with replacement per tree
        node, rows, rows_y = np.repeat(roots, n), binned[sample], y[sample]
        value[roots], level = rows_y.reshape(len(roots), n).mean(axis=1), 0
        while node.size:
            ids, local = np.unique(node, return_inverse=True)
            shape = (len(ids), columns, bins)
            index = ((local[:, None] * columns + np.arange(columns)) * bins + rows).ravel()
            n_left = np.bincount(index, minlength=np.prod(shape)).reshape(shape).cumsum(axis=2)
            s_left = np.bincount(index, np.repeat(rows_y, columns), np.prod(shape)).reshape(shape).cumsum(axis=2)
            n_right, s_right = n_left[:, :1, -1:] - n_left, s_left[:, :1, -1:] - s_left
            # the variance reduction of a cut, up to a per-node constant: sum over both sides of count * mean²
            gain = np.where((n_left >= MIN_LEAF) & (n_right >= MIN_LEAF),
                            s_left ** 2 / np.maximum(n_left, 1) + s_right ** 2 / np.maximum(n_right, 1), -np.inf)
            best, every = gain.reshape(len(ids), -1).argmax(axis=1), np.arange(len(ids))
            n_cut, s_cut = n_left.reshape(len(ids), -1)[every, best], s_left.reshape(len(ids), -1)[every, best]
            n_node, s_node = n_left[:, 0, -1], s_left[:, 0, -1]
            high, low = np.full(len(ids), -np.inf), np.full(len(ids), np.inf)
            np.maximum.at(high, local, rows_y), np.minimum.at(low, local, rows_y)
            split = np.isfinite(gain.reshape(len(ids), -1)[every, best]) & (high > low)
            parents, (column, cut), k = ids[split], np.divmod(best[split], bins), int(split.sum())
            children = created + 2 * np.arange(k)
            feature[parents], threshold[parents], left[parents] = column, cut_value[column, cut], children
            value[children] = s_cut[split] / n_cut[split]
            value[children + 1] = (s_node - s_cut)[split] / (n_node - n_cut)[split]
            created, level = created + 2 * k, level + (k > 0)
            row_column, row_cut = np.divmod(best[local], bins)
            went_right = rows[np.arange(len(node)), row_column] > row_cut
            child_rows = np.where(went_right, (n_node - n_cut)[local], n_cut[local])
            keep = split[local] & (child_rows >= 2 * MIN_LEAF)  # a smaller child cannot split: it is a leaf
            node, rows, rows_y = (left[node] + went_right)[keep], rows[keep], rows_y[keep]
        depth = max(depth, level)
    return Forest(feature[:created], threshold[:created], left[:created], value[:created], trees, depth)
