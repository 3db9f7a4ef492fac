"""Does a trained history really show the faults its recipe injected? Model-free checks on what was logged.

A recipe's fault does not always take (a seed that never spikes, a jump the net absorbs); such runs are
dropped, not mislabeled. The checks must not grade posthoc with its own ruler, so none reuses a detector's
statistic or threshold. They lean on what only the generator knows (the loss's true zero before any
logging offset, the chance-level loss of the training labels, the injected steps, the lr the loop actually
used) and on plain level ratios and percentiles; detectors work from the logged series alone, in units of
the progress a run made and of its robust noise. Each check's docstring gives its basis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.recipes import Recipe
from posthoc.demo.loops import NAMING, History, lr_at


@dataclass(frozen=True)
class Case:
    """One trained run under check: its history, recipe and train loss in true units."""

    h: History
    recipe: Recipe
    steps: np.ndarray
    loss: np.ndarray

    @property
    def chance(self) -> float:
        return self.h.chance_loss


def role_series(h: History, role: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values) logged for a role; losses without the cosmetic loss_offset (their true zero)."""
    key = NAMING[h.config.naming].get(role)
    if key not in h.metrics:
        return None
    steps, values = h.metrics[key]
    if role in ("train_loss", "val_loss"):
        values = values - h.config.loss_offset
    return steps, values


def level(values: np.ndarray, start: float, end: float) -> float:
    """Median of the values between two fractions of the series."""
    n = len(values)
    lo = min(int(start * n), n - 1)
    return float(np.median(values[lo:max(int(end * n), lo + 1)]))


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    pad = np.concatenate([np.full(window // 2, values[0]), values, np.full(window - 1 - window // 2, values[-1])])
    return np.median(np.lib.stride_tricks.sliding_window_view(pad, window), axis=1)


def all_finite(h: History) -> bool:
    return all(np.isfinite(v).all() for _, v in h.metrics.values())


def noise_ratio(values: np.ndarray) -> float:
    """Scatter of the second half around its 25-point rolling median (robust sigma), over its level."""
    half = values[len(values) // 2:]
    if len(half) < 20:
        return 0.0
    trend = rolling_median(half, 25)
    return float(np.median(np.abs(half - trend)) * 1.4826 / max(float(np.median(np.abs(trend))), 1e-12))


def grad_growth(h: History, until_step: float = np.inf) -> float | None:
    """Largest raw grad norm over the median of its first fifth (before `until_step`); None if not logged."""
    grad = role_series(h, "grad_norm")
    if grad is None:
        return None
    values = grad[1][grad[0] < until_step]
    finite = values[np.isfinite(values)]
    if len(finite) < 3:
        return None
    early = float(np.median(finite[: max(3, len(finite) // 5)]))
    return float(finite.max()) / max(early, 1e-12)


def val_rise(h: History) -> tuple[float, int] | None:
    """How far the final val level (last 3 points) stands above val's minimum, as a fraction of that
    minimum (at least 2% of the loss's chance level), and the step of the minimum."""
    val = role_series(h, "val_loss")
    if val is None or len(val[1]) < 5 or not np.isfinite(val[1]).all():
        return None
    values = val[1]
    best = int(np.argmin(values))
    final = float(np.median(values[-3:]))
    return (final - float(values[best])) / max(float(values[best]), 0.02 * h.chance_loss, 1e-12), int(val[0][best])


def check(recipe: Recipe, h: History) -> str | None:
    """None if the history shows every label of `recipe`, else why it does not."""
    train = role_series(h, "train_loss")
    if train is None or len(train[1]) < 5:
        return "too few train loss points"
    for label in recipe.labels:
        case = Case(h, recipe, train[0], train[1])
        reason = (SECONDARY.get(label) or CHECKS[label])(case) if label != recipe.label else CHECKS[label](case)
        if reason is not None:
            return reason if label == recipe.label else f"secondary {label}: {reason}"
    return None


def _healthy(c: Case) -> str | None:
    """Learned most of what is learnable and kept it: ends at <= 35% of the chance loss, within 10% of the
    chance loss of its best level, scatter <= 0.65 of its level, val within 12% of its minimum, grad norm never
    80x its median. Underfitting runs end at >= 40% of chance: the two never meet."""
    if not all_finite(c.h):
        return "non-finite value"
    smooth = rolling_median(c.loss, max(5, len(c.loss) // 50))
    final = level(c.loss, 0.9, 1.0)
    if final > 0.35 * c.chance:
        return f"ends at {final / c.chance:.2f} of the chance loss: little progress"
    if smooth[-1] > float(smooth.min()) + 0.1 * c.chance:
        return "final loss above its best"
    if noise_ratio(c.loss) > 0.65:
        return "noisy"
    if (rise := val_rise(c.h)) is not None and rise[0] > 0.12:
        return f"val rises {rise[0]:.2f} from its minimum"
    grad = role_series(c.h, "grad_norm")
    if grad is not None and grad[1].max() > 80 * float(np.median(grad[1])):
        return "grad norm far above its level"
    return None


def _nan_inf(c: Case) -> str | None:
    """Basis: the injected batch. A non-finite value was logged, the first one at or after the corrupted
    step (not before: then the run blew up on its own), and the grad norm had not grown 30x before it."""
    if all_finite(c.h):
        return "no non-finite value logged"
    bad = c.steps[~np.isfinite(c.loss)]
    injected = min(c.h.config.corrupt_steps, default=None)
    if injected is not None and (not len(bad) or bad[0] < injected):
        return f"non-finite before the injected step {injected}: the run blew up on its own"
    growth = grad_growth(c.h, injected if injected is not None else np.inf)
    if growth is not None and growth >= 30:
        return f"grad norm grew {growth:.3g}x before the bad batch"
    return None


def _divergence(c: Case) -> str | None:
    """Basis: the lr jump. The final tenth of the loss sits >= 2x the best level reached before the jump
    (on the loss's true zero) and 5% of the chance loss above it (a loss near 0 can double, 1e-6 to 2e-6,
    without being any worse), so does the 80-90% stretch (it did not come back), and the grad norm
    grew < 300x (else the gradients exploded too)."""
    if c.recipe.family.endswith("finite_blowup"):
        return _blowup(c)
    if not np.isfinite(c.loss).all():
        return "non-finite loss (nan_inf, not divergence)"
    smooth = rolling_median(c.loss, max(5, len(c.loss) // 50))
    before = smooth[c.steps < c.h.config.lr_jump_step]
    best = float(before.min()) if len(before) else float(smooth.min())
    floor = max(2.0 * best, best + 0.05 * c.chance)
    if level(c.loss, 0.9, 1.0) < floor:
        return f"final {level(c.loss, 0.9, 1.0):.3g} not 2x and 5% of chance above the best {best:.3g} before the jump"
    if level(c.loss, 0.8, 0.9) < floor:
        return "loss came back near its best"
    if (growth := grad_growth(c.h)) is not None and growth >= 300:
        return f"grad norm grew {growth:.3g}x: exploding_gradients, not divergence"
    return None


def _blowup(c: Case) -> str | None:
    """Basis: geometric growth under an unstable lr. Every value finite, the last ones >= 1e10x the
    lowest: orders of magnitude, not a drift."""
    if not all_finite(c.h):
        return "non-finite value: the guard came too late"
    if level(c.loss, 0.95, 1.0) < 1e10 * max(float(c.loss.min()), 1e-300):
        return "grew less than 1e10x"
    return None


def _exploding(c: Case) -> str | None:
    """Basis: the raw grad norm. Its largest value >= 1000x the median of its first fifth (three decades),
    and at least 3 logged points above 10x."""
    if c.recipe.family.endswith("finite_blowup") and _blowup(c) is not None:
        return _blowup(c)
    grad = role_series(c.h, "grad_norm")
    growth = grad_growth(c.h)
    if grad is None or growth is None:
        return "no grad norm logged"
    early = float(np.median(grad[1][: max(3, len(grad[1]) // 5)]))
    sustained = int((grad[1][np.isfinite(grad[1])] > 10.0 * early).sum())
    if growth < 1000.0 or sustained < 3:
        return f"grad norm grew only {growth:.3g}x ({sustained} points above 10x)"
    return None


def _oscillation(c: Case) -> str | None:
    """Basis: an lr past the stability limit makes no progress. In the second half the 10-90% spread is
    >= 40% of the median level; for minibatch runs (whose sampling noise also scatters) the spread of a
    9-point running mean must keep half of that (slow waves survive averaging, independent batch noise
    loses two thirds); the last fifth is still >= 75% of the 10-30% level and <= 1.5x it (rising is
    divergence)."""
    if not np.isfinite(c.loss).all():
        return "non-finite loss"
    second = c.loss[len(c.loss) // 2:]
    middle = float(np.median(second))
    swing = (np.percentile(second, 90) - np.percentile(second, 10)) / max(middle, 1e-12)
    if swing < 0.4:
        return f"swings only {swing:.2f} of the level"
    if c.h.config.batch_size:
        averaged = np.convolve(second, np.ones(9) / 9, mode="valid")
        if (np.percentile(averaged, 90) - np.percentile(averaged, 10)) / max(middle, 1e-12) < 0.5 * swing:
            return "the swings average out: batch noise, not oscillation"
    early, late = level(c.loss, 0.1, 0.3), level(c.loss, 0.8, 1.0)
    if late < 0.75 * early:
        return "the loss still makes clear progress"
    if late > 1.5 * early:
        return "the level keeps rising (divergence)"
    return None


def _spike_shape(c: Case) -> str | None:
    """Basis: the corrupted steps. At each one the loss reaches >= 2x its median over the 30 points before,
    and within 5-35 points falls back by >= 80% of the jump."""
    if not np.isfinite(c.loss).all():
        return "non-finite loss"
    corrupt = c.h.config.corrupt_steps
    for step in (s for s in corrupt if s - 1 not in corrupt):
        i = int(np.searchsorted(c.steps, step))
        if i < 10 or i >= len(c.loss) - 10:
            return "a corrupted batch too close to either end"
        before = float(np.median(c.loss[max(0, i - 30): i - 1]))
        peak = float(c.loss[i: i + 3].max())
        if peak < 2.0 * before:
            return f"a corrupted batch at step {step} only reached {peak / before:.2f}x the running level"
        if float(np.median(c.loss[i + 5: i + 35])) > before + 0.2 * (peak - before):
            return f"the spike at step {step} did not recover"
    return None


def _loss_spikes(c: Case) -> str | None:
    """The spikes (see _spike_shape), in a run healthy apart from them (else it carries a second label):
    all finite, ends <= 50% of the chance loss, val within 8% of its minimum."""
    if not all_finite(c.h):
        return "non-finite value"
    if (reason := _spike_shape(c)) is not None:
        return reason
    if level(c.loss, 0.9, 1.0) > 0.5 * c.chance:
        return "little progress apart from the spikes"
    if (rise := val_rise(c.h)) is not None and rise[0] > 0.08:
        return "val rises from its minimum (overfitting)"
    return None


def _plateau(c: Case) -> str | None:
    """Per mechanism; see _stall_escaped, _lr_starved and _never_learned."""
    if not np.isfinite(c.loss).all():
        return "non-finite loss"
    if (rise := val_rise(c.h)) is not None and rise[0] > 0.08:
        return "val rises from its minimum (overfitting)"
    family = c.recipe.family.split("/")[1]
    if family == "saddle":
        return _stall_escaped(c)
    if family in ("lr_schedule", "lr_collapse"):
        return _lr_starved(c)
    return _never_learned(c)


def _stall_escaped(c: Case) -> str | None:
    """A saddle: for >= 30% of the run the rolling median stays within 10% (5-95% spread) of its level,
    at >= 60% of the chance loss, and later falls below 70% of that level."""
    smooth = rolling_median(c.loss, max(5, len(c.loss) // 25))
    window = max(int(0.3 * len(smooth)), 5)
    spans = np.lib.stride_tricks.sliding_window_view(smooth, window)
    middle = np.median(spans, axis=1)
    flat = (np.percentile(spans, 95, axis=1) - np.percentile(spans, 5, axis=1) <= 0.1 * middle) & (
        middle >= 0.6 * c.chance)
    if not flat.any():
        return "no flat stretch of 30% of the run at a high level"
    first = int(np.argmax(flat))
    if not smooth[first + window:].size or smooth[first + window:].min() > 0.7 * middle[first]:
        return "the stall never ended"
    return None


def _lr_starved(c: Case) -> str | None:
    """Basis: the lr the loop used. It sat below 0.2% of its peak for >= 30% of the steps. If that lasts to
    the end, it began while the loss was >= 20% of the chance loss (not converged); a mid-run window must be
    followed by a >= 15% drop once the lr returns."""
    config = c.h.config
    lrs = np.array([lr_at(config, s) for s in range(config.steps)])
    starved = lrs <= 2e-3 * lrs.max()
    if starved.mean() < 0.3:
        return f"lr starved for only {starved.mean():.0%} of the run"
    start = int(np.argmax(starved))
    if starved[-1]:
        at_start = float(np.interp(start, c.steps, rolling_median(c.loss, max(5, len(c.loss) // 50))))
        return "the lr collapsed after the loss had converged" if at_start < 0.2 * c.chance else None
    end = config.lr_jump_until
    during, after = c.loss[(c.steps >= start) & (c.steps < end)], c.loss[c.steps >= end]
    if not len(during) or not len(after) or level(after, 0.8, 1.0) > 0.85 * float(np.median(during)):
        return "no drop after the lr came back"
    return None


def _never_learned(c: Case) -> str | None:
    """Stuck from the start or an lr far too small: the last tenth is still >= 90% of the chance loss and
    >= 80% of the first 2% of the run, and the grad norm (if logged) did not fall 1e4x (vanishing)."""
    final = level(c.loss, 0.9, 1.0)
    if final < 0.9 * c.chance:
        return f"ends at {final / c.chance:.2f} of the chance loss: it learned"
    if final < 0.8 * level(c.loss, 0.0, 0.02):
        return "lost a fifth of its initial loss"
    grad = role_series(c.h, "grad_norm")
    if grad is not None and level(grad[1], 0.7, 1.0) <= 1e-4 * level(grad[1], 0.0, 0.1):
        return "grad norm collapsed: vanishing_gradients"
    return None


def _vanishing(c: Case) -> str | None:
    """Basis: the grad norm. Its median over the last 30% is <= 1e-4 of its median over the first 10%
    (four decades) or below 3e-6, and the loss ends >= 85% of the chance loss (it learned nothing beyond
    the priors)."""
    grad = role_series(c.h, "grad_norm")
    if grad is None:
        return "no grad norm logged"
    late, early = level(grad[1], 0.7, 1.0), level(grad[1], 0.0, 0.1)
    if late > 1e-4 * early and late > 3e-6:
        return f"late grad norm {late:.3g} only {early / max(late, 1e-300):.3g}x below its start"
    if level(c.loss, 0.9, 1.0) < 0.85 * c.chance:
        return "the loss went well below the chance level"
    return None


def _overfitting(c: Case) -> str | None:
    """Val's last 3 points >= 15% above its minimum (of its level), while train fell >= 20% after the best
    val step."""
    rise = val_rise(c.h)
    if rise is None:
        return "no finite val loss"
    if rise[0] < 0.15:
        return f"val rose only {rise[0]:.2f} from its minimum"
    at_best = level(c.loss[: max(int(np.searchsorted(c.steps, rise[1])), 1) + 1], 0.8, 1.0)
    if level(c.loss, 0.9, 1.0) > 0.8 * at_best:
        return "train loss did not keep falling after the best val step"
    return None


def _underfitting(c: Case) -> str | None:
    """Basis: the chance loss. Train ends between 40% and 85% of it (high, but it learned something; runs
    that never learned end >= 90%), moved < 3% of its level between 60-75% and the end (converged), val
    within 15% of train, no val rise."""
    val = role_series(c.h, "val_loss")
    if val is None or not all_finite(c.h):
        return "no finite val loss"
    final = level(c.loss, 0.85, 1.0)
    val_final = float(np.median(val[1][-max(3, len(val[1]) // 10):]))
    if final < 0.4 * c.chance:
        return f"train loss fell to {final / c.chance:.2f} of the chance loss: not a high level"
    if final > 0.85 * c.chance:
        return f"ends at {final / c.chance:.2f} of the chance loss: learned almost nothing"
    if abs(level(c.loss, 0.6, 0.75) - final) > 0.03 * final:
        return "not converged"
    if abs(val_final - final) > 0.15 * final:
        return f"train {final:.3g} and val {val_final:.3g} not close"
    if (rise := val_rise(c.h)) is not None and rise[0] > 0.08:
        return "val rises (overfitting)"
    return None


def _noisy(c: Case) -> str | None:
    """Scatter around the 25-point rolling median >= 0.8 of the level (batch 1-8 on these loops; batch >= 16
    stays below 0.65), around a trend that falls: the end of a 51-point rolling median <= 70% of the first
    25 points, and the trend at 90% of the run <= 80% of the trend at 30% (still falling late); val's last tenth
    under 1.5x its best 5-point rolling median (a memorizing run is overfitting, whatever its batch size; single val
    points scatter with the weights of a small batch, so 15-30% above their lowest is still noise)."""
    loss = c.loss[: int(np.argmax(~np.isfinite(c.loss)))] if not np.isfinite(c.loss).all() else c.loss
    if len(loss) < 60:
        return "too few finite points"
    ratio = noise_ratio(loss)
    if ratio < 0.8:
        return f"noise ratio {ratio:.2f} below 0.8"
    if rolling_median(loss, 51)[-25] > 0.7 * float(np.median(loss[:25])):
        return "trend not downward"
    trend = rolling_median(loss, max(25, len(loss) // 10))
    if trend[int(0.9 * len(trend))] > 0.8 * trend[int(0.3 * len(trend))]:
        return "trend flat after early convergence: noise around a level, not around a falling trend"
    val = role_series(c.h, "val_loss")
    if val is not None and len(val[1]) >= 5 and np.isfinite(val[1]).all():
        best, final = max(float(rolling_median(val[1], 5).min()), 0.02 * c.chance), level(val[1], 0.9, 1.0)
        if final > 1.5 * best:
            return f"val ends {final / best:.2f}x its best level (overfitting)"
    return None


CHECKS = {"healthy": _healthy, "nan_inf": _nan_inf, "divergence": _divergence, "exploding_gradients": _exploding,
          "oscillation": _oscillation, "loss_spikes": _loss_spikes, "plateau": _plateau,
          "vanishing_gradients": _vanishing, "overfitting": _overfitting, "underfitting": _underfitting,
          "noisy_small_batch": _noisy}
# a second fault is checked on its own shape only: the "healthy apart from it" parts belong to one-label runs
SECONDARY = {"loss_spikes": _spike_shape, "divergence": _blowup}
