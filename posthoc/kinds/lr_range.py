"""What an LR range test says: the loss against a geometrically rising lr (Smith 2017, fastai's lr_find).

The loss is smoothed by an exponential moving average with bias correction (beta 0.98, fastai's Recorder
and Smith's practice), then read four ways, all per log10(lr): steepest descent (the suggestion), fastai's
valley, the minimum / 10, and divergence, the first point where the smoothed loss exceeds 4x its best so
far (fastai's stop_div). The recommended range spans what the three rules suggest (the minimum / 10 left out
when the test never diverged); all three lie below the divergence by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.model import Series, json_number

SMOOTHING = 0.98  # fastai Recorder's beta; Smith uses the same order of smoothing
DIVERGE_FACTOR = 4.0  # fastai LRFinder stop_div: smoothed loss > 4 x best
SKIP_START = 0.10  # fastai drops the first 10% of points: the smoothed loss has not settled yet
DESCENT_START = 0.10  # the descent starts once the loss has made 10% of its fall (Smith's "starts to fall")
MIN_POINTS = 10


@dataclass(frozen=True)
class RangeTest:
    """The range test's readings; lrs, raw and smoothed losses are kept for the loss-vs-lr chart."""

    metric: str
    lr_metric: str
    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    lr_start: float
    lr_end: float
    suggested_lr: float | None  # steepest descent of the smoothed loss per log10(lr)
    valley_lr: float | None
    min_loss_lr: float | None
    min_over_10_lr: float | None
    descent_start_lr: float | None
    diverged_lr: float | None  # None: the loss never exceeded 4x its best within the test
    diverged_step: int | None
    recommended: tuple[float, float] | None
    note: str = ""

    def to_dict(self) -> dict:
        return json_number({
            "metric": self.metric, "lr_metric": self.lr_metric, "points": len(self.lrs),
            "lr_start": self.lr_start, "lr_end": self.lr_end, "suggested_lr": self.suggested_lr, "valley_lr": self.valley_lr, "min_loss_lr": self.min_loss_lr,
            "min_over_10_lr": self.min_over_10_lr, "descent_start_lr": self.descent_start_lr,
            "diverged_lr": self.diverged_lr, "diverged_step": self.diverged_step,
            "recommended_range": list(self.recommended) if self.recommended else None, "note": self.note,
        })


def ema(values: np.ndarray, beta: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average with bias correction: avg_t / (1 - beta^(t+1)), as fastai's Recorder.

    Closed form per block of 256 points (beta^-256 stays small), carrying the average across blocks;
    scipy.signal.lfilter would do it in one call but costs seconds to import."""
    values = np.asarray(values, dtype=np.float64)
    raw, carry = np.empty(len(values)), 0.0
    for start in range(0, len(values), 256):
        block = values[start : start + 256]
        k = np.arange(len(block))
        raw[start : start + len(block)] = (beta ** (k + 1) * carry
                                           + (1.0 - beta) * beta**k * np.cumsum(block * beta ** -k.astype(np.float64)))
        carry = raw[start + len(block) - 1]
    return raw / (1.0 - beta ** np.arange(1, len(values) + 1))


def valley_index(smoothed: np.ndarray) -> int:
    """fastai's valley: 1/2 of the way past the first third of the longest decreasing stretch."""
    n = len(smoothed)
    longest = np.ones(n, dtype=np.int64)
    for i in range(1, n):  # longest decreasing subsequence ending at i; n is a few hundred points
        before = longest[:i][smoothed[:i] > smoothed[i]]
        longest[i] = 1 + (int(before.max()) if len(before) else 0)
    end = int(np.argmax(longest))
    start = end - int(longest[end]) + 1
    third = (end - start) / 3
    return min(start + int(third) + int(third / 2), n - 1)


def analyze_range_test(loss: Series, lr: Series) -> RangeTest:
    """Read a logged range test; lr and loss are paired on the steps both logged."""
    steps, at_loss, at_lr = np.intersect1d(loss.steps, lr.steps, return_indices=True)
    losses, lrs = loss.values[at_loss], lr.values[at_lr]
    ok = np.flatnonzero(~(np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0)))
    end = int(ok[0]) if len(ok) else len(losses)  # a NaN loss is where the test blew up
    steps, losses, lrs = steps[:end], losses[:end], lrs[:end]
    smoothed = ema(losses)
    empty = RangeTest(loss.key, lr.key, lrs, losses, smoothed, *(float(lrs[i]) if len(lrs) else float("nan") for i in (0, -1)),
                      None, None, None, None, None, None, None, None)
    if len(losses) < MIN_POINTS:
        return _replace(empty, note=f"only {len(losses)} finite points: too few to read")
    above = np.flatnonzero(smoothed > DIVERGE_FACTOR * np.minimum.accumulate(smoothed))
    diverged = int(above[0]) if len(above) else None
    if diverged is None and end < len(loss.values) and end < len(lr.values):
        diverged = len(losses) - 1  # the loss went non-finite right after the last finite point
    window = slice(int(SKIP_START * len(losses)), diverged if diverged is not None else len(losses))
    log_lr, curve = np.log10(lrs[window]), smoothed[window]
    if len(curve) < 3:
        return _replace(empty, note="the loss diverged before the smoothed curve settled")
    lowest = int(np.argmin(curve))
    level = float(np.median(curve[: max(3, len(curve) // 10)]))
    fall = level - float(curve[lowest])
    if fall <= 0 or lowest == 0:
        return _replace(empty, diverged_lr=_at(lrs, diverged), diverged_step=_at(steps, diverged),
                        note="the smoothed loss never fell below its starting level")
    still_high = np.flatnonzero(curve[: lowest + 1] >= level - DESCENT_START * fall)
    start = int(still_high[-1]) if len(still_high) else 0
    steepest = start + int(np.argmin(np.gradient(curve, log_lr)[start : lowest + 1]))
    lrs_window = lrs[window]
    suggested, min_over_10 = float(lrs_window[steepest]), float(lrs_window[lowest]) / 10
    valley = float(lrs_window[valley_index(curve)])
    # a test that never diverged may not have reached the loss's true minimum: minimum/10 is then no rule
    rules = (suggested, valley) if diverged is None else (suggested, valley, min_over_10)
    note = "" if diverged is not None else "the loss never diverged: the test ended before the lr got too large"
    return RangeTest(loss.key, lr.key, lrs, losses, smoothed, float(lrs[0]), float(lrs[-1]), suggested, valley,
                     float(lrs_window[lowest]), min_over_10, float(lrs_window[start]), _at(lrs, diverged),
                     _at(steps, diverged), (min(rules), max(rules)), note)


def _at(values: np.ndarray, index: int | None):
    return None if index is None else values[index].item()


def _replace(test: RangeTest, **changes) -> RangeTest:
    from dataclasses import replace

    return replace(test, **changes)
