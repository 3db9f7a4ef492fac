"""Does a trained history really show its corpus label? Model-free checks on the logged numbers.

These are deliberately independent of posthoc's detectors (plain quantiles and rolling medians, generous
margins): they keep mislabeled runs out of the corpus, they do not define the patterns.
"""

from __future__ import annotations

import numpy as np

from posthoc.demo.loops import NAMING, History


def role_series(h: History, role: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values) logged for a role; losses without the cosmetic loss_offset."""
    key = NAMING[h.config.naming].get(role)
    if key not in h.metrics:
        return None
    steps, values = h.metrics[key]
    if role in ("train_loss", "val_loss"):
        values = values - h.config.loss_offset
    return steps, values


def _median(values: np.ndarray, start: float, end: float) -> float:
    n = len(values)
    lo = min(int(start * n), n - 1)
    return float(np.median(values[lo:max(int(end * n), lo + 1)]))


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    pad = np.concatenate([np.full(window // 2, values[0]), values, np.full(window - 1 - window // 2, values[-1])])
    return np.median(np.lib.stride_tricks.sliding_window_view(pad, window), axis=1)


def _all_finite(h: History) -> bool:
    return all(np.isfinite(v).all() for _, v in h.metrics.values())


def noise_ratio(values: np.ndarray) -> float:
    """Detrended step-to-step spread relative to the level, over the second half of the run."""
    half = values[len(values) // 2:]
    if len(half) < 20:
        return 0.0
    trend = rolling_median(half, 25)
    return float(np.median(np.abs(half - trend)) * 1.4826 / max(float(np.median(np.abs(trend))), 1e-12))


def check(label: str, h: History) -> str | None:
    """None if the history shows `label`, else the reason it does not."""
    train = role_series(h, "train_loss")
    if train is None or len(train[1]) < 5:
        return "too few train loss points"
    return CHECKS[label](h, train[1])


def _nan_inf(h, loss):
    if _all_finite(h):
        return "no non-finite value logged"
    steps = role_series(h, "train_loss")[0]
    bad = steps[~np.isfinite(loss)]
    injected = min(h.config.corrupt_steps, default=None)
    if injected is not None and (not len(bad) or bad[0] < injected):
        return f"non-finite before the injected step {injected}: the run blew up on its own"
    return _grad_growth(h, loss[: int(np.searchsorted(steps, injected or 0))], limit=100.0, want=False)


def _divergence(h, loss):
    if not np.isfinite(loss).all():
        return "non-finite loss (nan_inf, not divergence)"
    smooth = rolling_median(loss, max(5, len(loss) // 50))
    best, final, start = float(smooth.min()), _median(loss, 0.9, 1.0), _median(loss, 0.0, 0.02)
    if final < 2.0 * best or final - best < 0.3 * abs(start - best):
        return f"final {final:.3g} not well above best {best:.3g}"
    if _median(loss, 0.8, 0.9) < 2.0 * best:
        return "loss came back near its best"
    return _grad_growth(h, loss, limit=100.0, want=False)


def _grad_growth(h, loss, limit: float, want: bool):
    grad = role_series(h, "grad_norm")
    if grad is None:
        return "no grad norm logged" if want else None
    values = grad[1][: len(loss)] if not want else grad[1]
    early = float(np.median(values[: max(3, len(values) // 5)]))
    finite = values[np.isfinite(values)]
    growth = float(finite.max()) / max(early, 1e-12) if len(finite) else 0.0
    sustained = int((finite > 10.0 * early).sum())
    if want and (growth < limit or sustained < 3):
        return f"grad norm grew only {growth:.3g}x ({sustained} points above 10x)"
    if not want and growth >= limit:
        return f"grad norm grew {growth:.3g}x: exploding_gradients, not divergence"
    return None


def _exploding(h, loss):
    return _grad_growth(h, loss, limit=1000.0, want=True)


def _oscillation(h, loss):
    if not np.isfinite(loss).all():
        return "non-finite loss"
    second = loss[len(loss) // 2:]
    level = float(np.median(second))
    swing = (np.percentile(second, 90) - np.percentile(second, 10)) / max(level, 1e-12)
    progress = _median(loss, 0.1, 0.3) - _median(loss, 0.8, 1.0)
    if swing < 0.5:
        return f"swings only {swing:.2f} of the level"
    if progress > 0.3 * _median(loss, 0.1, 0.3):
        return "the loss still makes clear progress"
    smooth = rolling_median(loss, max(5, len(loss) // 20))
    if np.median(smooth[len(smooth) // 2:]) > 1.5 * min(float(smooth.min()), float(loss[0])):
        return "the level rose well above its best or its start (divergence)"
    return None


def _loss_spikes(h, loss):
    if not _all_finite(h):
        return "non-finite value"
    steps = role_series(h, "train_loss")[0]
    bursts = [s for s in h.config.corrupt_steps if s - 1 not in h.config.corrupt_steps]
    first_before = None
    for step in bursts:
        i = int(np.searchsorted(steps, step))
        if i < 10 or i >= len(loss) - 10:
            return "a corrupted batch too close to either end"
        before = float(np.median(loss[max(0, i - 30): i - 1]))
        first_before = before if first_before is None else first_before
        peak = float(loss[i: i + 3].max())
        after = float(np.median(loss[i + 5: i + 35]))
        if peak < 2.0 * before:
            return f"a corrupted batch at step {step} only reached {peak / before:.2f}x the running level"
        if after > before + 0.2 * (peak - before):  # 80% of the jump recovered within ~30 points
            return f"the spike at step {step} did not recover"
    if _median(loss, 0.9, 1.0) > 1.5 * first_before:
        return "the loss ended above its level before the first spike"
    # apart from the spikes the run must be healthy, or it carries a second label
    if _median(loss, 0.9, 1.0) > 0.5 * float(loss[0]):
        return "little progress apart from the spikes"
    if (rise := _val_rise(h)) is not None and rise[0] > 0.1:
        return "val rises from its minimum (overfitting)"
    return None


def _plateau(h, loss):
    if not np.isfinite(loss).all():
        return "non-finite loss"
    smooth = rolling_median(loss, max(5, len(loss) // 25))
    n = len(smooth)
    window = max(n // 4, 5)
    if (rise := _val_rise(h)) is not None and rise[0] > 0.1:
        return "val rises from its minimum (overfitting)"
    # a quarter of the run in which the loss barely moves, then either an escape well below it, or the lr
    # collapsed (logged) while the loss was still high
    spans = np.lib.stride_tricks.sliding_window_view(smooth, window)
    spread = np.percentile(spans, 95, axis=1) - np.percentile(spans, 5, axis=1)
    flat = spread <= 0.05 * np.abs(np.median(spans, axis=1))
    if not flat.any():
        return "no flat stretch of a quarter of the run"
    first = int(np.argmax(flat))
    level = float(np.median(spans[first]))
    if smooth[first + window:].size and smooth[first + window:].min() <= 0.8 * level:
        return None
    lr = role_series(h, "lr")
    if lr is not None and lr[1][-1] <= 1e-3 * lr[1].max():
        if level >= 0.5 * smooth[0]:
            return None
        return "stalled near convergence"
    return "flat stretch without escape or lr collapse"


def _vanishing(h, loss):
    grad = role_series(h, "grad_norm")
    if grad is None:
        return "no grad norm logged"
    values = grad[1]
    late = _median(values, 0.7, 1.0)
    if late > 1e-5 or late > 1e-3 * float(values[: max(3, len(values) // 10)].max()):
        return f"late grad norm {late:.3g} not collapsed"
    if abs(_median(loss, 0.5, 0.6) - _median(loss, 0.9, 1.0)) > 0.02 * abs(_median(loss, 0.9, 1.0)):
        return "loss still moving"
    return None


def _val_rise(h) -> tuple[float, int] | None:
    val = role_series(h, "val_loss")
    if val is None or len(val[1]) < 5:
        return None
    values = val[1]
    best = int(np.argmin(values))
    final = float(np.median(values[-3:]))
    return (final - float(values[best])) / max(abs(float(values[best])), 1e-12), int(val[0][best])


def _overfitting(h, loss):
    rise = _val_rise(h)
    if rise is None:
        return "no val loss"
    if rise[0] < 0.15:
        return f"val rose only {rise[0]:.2f} from its minimum"
    steps = role_series(h, "train_loss")[0]
    at_best = _median(loss[: max(int(np.searchsorted(steps, rise[1])), 1) + 1], 0.8, 1.0)
    if _median(loss, 0.9, 1.0) > 0.8 * at_best:
        return "train loss did not keep falling after the best val step"
    return None


def _underfitting(h, loss):
    val = role_series(h, "val_loss")
    if val is None or not _all_finite(h):
        return "no finite val loss"
    # the first logged value is the untrained model's loss: a fast early drop must not hide how high it ends
    start, final = float(loss[0]), _median(loss, 0.85, 1.0)
    val_final = float(np.median(val[1][-max(3, len(val[1]) // 10):]))
    if final < 0.5 * start:
        return f"train loss fell to {final / start:.2f} of its start: not a high level"
    if final > 0.97 * start:
        return "no learning at all"
    if abs(_median(loss, 0.6, 0.75) - final) > 0.03 * final:
        return "not converged"
    if abs(val_final - final) > 0.15 * final:
        return f"train {final:.3g} and val {val_final:.3g} not close"
    rise = _val_rise(h)
    if rise is not None and rise[0] > 0.1:
        return "val rises (overfitting)"
    return None


def _noisy(h, loss):
    if not np.isfinite(loss).all():
        return "non-finite loss"
    ratio = noise_ratio(loss)
    if ratio < 0.9:  # batch 1-4 measures 0.9-3 on these loops, batch >= 16 below 0.65
        return f"noise ratio {ratio:.2f} below 0.9"
    if rolling_median(loss, 51)[-25] > 0.7 * float(np.median(loss[:25])):
        return "trend not downward"
    trend = rolling_median(loss, max(25, len(loss) // 10))
    if trend[int(0.9 * len(trend))] > 0.85 * trend[int(0.3 * len(trend))]:
        return "trend flat after early convergence: noise around a level, not around a falling trend"
    return None


def _healthy(h, loss):
    if not _all_finite(h):
        return "non-finite value"
    smooth = rolling_median(loss, max(5, len(loss) // 50))
    if smooth[-1] > smooth.min() + 0.5 * abs(smooth[0] - smooth.min()):
        return "final loss far above its best"
    if smooth[-1] > 0.35 * smooth[0]:  # underfitting runs end at >= 0.5 of their start: keep a margin
        return "little progress"
    if noise_ratio(loss) > 0.65:
        return "noisy"
    rise = _val_rise(h)
    if rise is not None and rise[0] > 0.1:
        return f"val rises {rise[0]:.2f} from its minimum"
    grad = role_series(h, "grad_norm")
    if grad is not None and grad[1].max() > 100 * float(np.median(grad[1])):
        return "grad norm far above its level"
    return None


CHECKS = {"healthy": _healthy, "nan_inf": _nan_inf, "divergence": _divergence, "exploding_gradients": _exploding,
          "oscillation": _oscillation, "loss_spikes": _loss_spikes, "plateau": _plateau,
          "vanishing_gradients": _vanishing, "overfitting": _overfitting, "underfitting": _underfitting,
          "noisy_small_batch": _noisy}
