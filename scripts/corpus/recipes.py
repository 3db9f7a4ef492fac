"""The labeled corpus: randomized recipes that produce each failure pattern from real training loops, and
checks that the logged data really shows the label.

Labels come from the fault a recipe injects; `shows()` checks each one against the history (model-free,
numpy only), so a recipe whose seed happens not to produce its pattern is dropped instead of mislabeled.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from posthoc.demo.loops import NAMING, REGRESSION, TrainConfig

LABEL_TAG = "posthoc.label"
PATTERNS = ("nan_inf", "divergence", "exploding_gradients", "oscillation", "loss_spikes", "plateau",
            "vanishing_gradients", "overfitting", "underfitting", "noisy_small_batch")
NAMINGS = tuple(NAMING)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _steps(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(_log_uniform(rng, low, high), -1 if high > 200 else 0))


def _logging(rng: np.random.Generator, steps: int, fine: bool = False, grad: bool = False) -> dict:
    """Logger style and intervals: long runs log every k steps, validation on a coarser grid.

    `grad`: the label is only visible in the grad norm, so log it (Keras style never does)."""
    log_every = 1 if fine or steps <= 1000 else int(_pick(rng, (1, 5, 10, 20, 50) if steps > 5000 else (1, 2, 5, 10)))
    val_every = max(log_every, int(_pick(rng, (5, 10, 25, 50, 100))) * max(1, steps // 2000))
    naming = _pick(rng, tuple(n for n in NAMINGS if n != "keras") if grad else NAMINGS)
    return dict(naming=naming, log_every=log_every, val_every=min(val_every, max(steps // 8, 1)),
                log_grad_norm=grad or bool(rng.random() < 0.8), log_val=bool(rng.random() < 0.85),
                log_lr=bool(rng.random() < 0.8), loss_offset=float(_pick(rng, (0.0,) * 8 + (-2.0, -5.0))))


def _healthy(rng: np.random.Generator, seed: int) -> TrainConfig:
    steps = _steps(rng, 50, 20000)
    small = steps > 4000  # long runs use small models so the corpus builds in minutes
    dataset = _pick(rng, ("wine", "iris", "moons", "breast_cancer", "diabetes", "friedman") if small
                    else ("digits", "wine", "iris", "breast_cancer", "synthetic", "moons", "diabetes", "regression",
                          "friedman"))
    optimizer = _pick(rng, ("sgd", "momentum", "adam", "rmsprop"))
    regression = dataset in REGRESSION
    base = {"sgd": (0.01, 0.1), "momentum": (0.003, 0.03), "adam": (3e-4, 3e-3), "rmsprop": (3e-4, 2e-3)}[optimizer]
    lr = _log_uniform(rng, *base) * (0.05 if regression and optimizer in ("sgd", "momentum") else 1.0)
    if steps < 300:  # short runs need a brisk lr to show progress
        lr *= 3.0
    schedule = _pick(rng, ("constant", "warmup", "step", "cosine", "warmup_cosine", "linear"))
    # linear models only where they fit well: a linear model on moons is the underfitting recipe
    depth = int(_pick(rng, (0, 1, 1, 2) if not small else (0, 1)))
    if dataset in ("moons", "circles", "synthetic"):
        depth = max(depth, 1)
    return TrainConfig(
        dataset=dataset, depth=depth, hidden=int(_pick(rng, (16, 32, 64) if not small else (8, 16))),
        activation=_pick(rng, ("relu", "relu", "tanh")), optimizer=optimizer, lr=lr, schedule=schedule,
        warmup_steps=max(1, steps // int(_pick(rng, (10, 20, 50)))), batch_size=int(_pick(rng, (16, 32, 64, 128))),
        steps=steps, weight_decay=float(_pick(rng, (0.0, 0.0, 1e-4, 1e-3))),
        dropout=float(_pick(rng, (0.0, 0.0, 0.0, 0.1))) if depth else 0.0, grad_clip=float(_pick(rng, (0.0, 0.0, 5.0))),
        seed=seed, **_logging(rng, steps),
    )


def _nan_inf(rng, seed):
    c = _healthy(rng, seed)
    step = int(rng.uniform(0.2, 0.9) * c.steps)
    return dataclasses.replace(c, corrupt_steps=(step,), corrupt_scale=_pick(rng, (math.inf, math.nan)),
                               corrupt_mode="inputs", stop_on_nan=bool(rng.random() < 0.4))


def _divergence(rng, seed):
    """A too-high lr from mid-run (adam): units die or saturate and the loss settles far above its best."""
    steps = _steps(rng, 400, 4000)
    dataset = _pick(rng, ("synthetic", "synthetic", "digits"))
    return TrainConfig(dataset=dataset, depth=2, hidden=int(_pick(rng, (32, 64))),
                       activation=_pick(rng, ("relu", "tanh")) if dataset == "synthetic" else "relu",
                       optimizer="adam", lr=_log_uniform(rng, 1e-3, 3e-3), lr_jump_step=int(rng.uniform(0.3, 0.6) * steps),
                       lr_jump_factor=_log_uniform(rng, 30, 150) if dataset == "synthetic" else _log_uniform(rng, 30, 60),
                       steps=steps, seed=seed, batch_size=int(_pick(rng, (32, 64))), **_logging(rng, steps))


def _exploding(rng, seed):
    """An lr pushed past the stability limit (a warmup on regression, a jump on a deep ReLU net): the grad
    norm grows by orders of magnitude, often ending in NaN."""
    steps = _steps(rng, 300, 3000)
    logging = _logging(rng, steps, grad=True)
    if rng.random() < 0.6:
        return TrainConfig(dataset=_pick(rng, ("diabetes", "regression", "friedman")), depth=0,
                           lr=_log_uniform(rng, 1.5, 3.5), schedule="warmup", warmup_steps=steps, steps=steps,
                           batch_size=int(_pick(rng, (32, 64, 128))), seed=seed, **logging)
    return TrainConfig(dataset=_pick(rng, ("digits", "synthetic")), depth=3, lr=_log_uniform(rng, 0.03, 0.08),
                       lr_jump_step=int(rng.uniform(0.3, 0.7) * steps), lr_jump_factor=_log_uniform(rng, 20, 60),
                       steps=steps, seed=seed, **{**logging, "log_lr": True})


OSCILLATION_LR = {"moons": (15, 30), "digits": (10, 25), "breast_cancer": (3, 7), "wine": (6, 25), "iris": (10, 18)}


def _oscillation(rng, seed):
    """Full-batch logistic regression past its stable step size (from the start, or after a warmup):
    bounded, persistent swings around a level that makes no net progress."""
    steps = _steps(rng, 300, 3000)
    dataset = _pick(rng, tuple(OSCILLATION_LR))
    noise = float(_pick(rng, (0.0, 0.2))) if dataset == "moons" else rng.uniform(0.15, 0.25)
    warmup = rng.random() < 0.35
    return TrainConfig(dataset=dataset, depth=0, lr=_log_uniform(rng, *OSCILLATION_LR[dataset]), batch_size=0,
                       steps=steps, schedule="warmup" if warmup else "constant",
                       warmup_steps=int(rng.uniform(0.1, 0.3) * steps), label_noise=noise, seed=seed,
                       **_logging(rng, steps, fine=True))


def _loss_spikes(rng, seed):
    c = _healthy(rng, seed)
    steps = max(c.steps, 400)
    count = int(rng.integers(1, 5))
    burst = int(_pick(rng, (1, 1, 2, 3)))
    starts = sorted(int(s) for s in rng.choice(np.arange(int(0.15 * steps), int(0.9 * steps)), count, replace=False))
    return dataclasses.replace(
        c, steps=steps, corrupt_steps=tuple(s + k for s in starts for k in range(burst)),
        corrupt_mode=_pick(rng, ("labels", "both")) if c.dataset not in REGRESSION else "labels",
        corrupt_scale=_log_uniform(rng, 4, 12), log_every=min(c.log_every, 2), stop_on_nan=False,
        dropout=0.0, schedule=_pick(rng, ("constant", "warmup", "cosine")))


def _plateau(rng, seed):
    """A saddle (small init, deep tanh) the run escapes late; an lr that decays to ~0 early; or an lr that
    collapses for a long mid-run window (a scheduler bug) while the loss is still high."""
    steps = _steps(rng, 2500, 8000)
    kind = rng.random()
    if kind < 0.45:
        return TrainConfig(dataset=_pick(rng, ("digits", "synthetic")), depth=4, activation="tanh",
                           init_scale=rng.uniform(0.17, 0.2), lr=rng.uniform(0.04, 0.07), steps=steps, seed=seed,
                           **_logging(rng, steps))
    common = dict(dataset=_pick(rng, ("digits", "synthetic")), depth=int(_pick(rng, (1, 2))), steps=steps,
                  seed=seed, optimizer=_pick(rng, ("sgd", "momentum")), **{**_logging(rng, steps), "log_lr": True})
    lr = _log_uniform(rng, 0.003, 0.01) / (5.0 if common["optimizer"] == "momentum" else 1.0)
    if kind < 0.75:
        return TrainConfig(lr=lr, schedule="exp", decay_steps=int(rng.uniform(0.01, 0.03) * steps), **common)
    stall = int(rng.uniform(0.05, 0.15) * steps)
    return TrainConfig(lr=lr, lr_jump_step=stall, lr_jump_until=stall + int(rng.uniform(0.35, 0.5) * steps),
                       lr_jump_factor=1e-4, **common)


def _vanishing(rng, seed):
    """Dead ReLUs or a deep tanh stack with tiny init, full batch: the grad norm collapses, loss stalls."""
    steps = _steps(rng, 300, 3000)
    logging = _logging(rng, steps, grad=True)
    dataset = _pick(rng, ("wine", "iris", "breast_cancer"))
    if rng.random() < 0.5:
        return TrainConfig(dataset=dataset, depth=int(_pick(rng, (2, 3))), bias_init=-rng.uniform(4, 8),
                           lr=_log_uniform(rng, 0.05, 0.3), batch_size=0, steps=steps, seed=seed, **logging)
    return TrainConfig(dataset=dataset, depth=int(_pick(rng, (5, 6, 8))), activation="tanh",
                       init_scale=rng.uniform(0.03, 0.08), lr=_log_uniform(rng, 0.05, 0.3), batch_size=0, steps=steps,
                       seed=seed, **logging)


def _overfitting(rng, seed):
    """A small (often noisy) train subset and a big model trained long: val turns up while train falls."""
    steps = _steps(rng, 1500, 8000)
    dataset = _pick(rng, ("digits", "synthetic", "breast_cancer"))
    config = TrainConfig(dataset=dataset, depth=int(_pick(rng, (1, 2))), hidden=int(_pick(rng, (128, 256))),
                         train_subset=int(rng.integers(60, 200)), label_noise=float(_pick(rng, (0.0, 0.2, 0.3))),
                         optimizer=_pick(rng, ("sgd", "adam")), steps=steps, batch_size=32, seed=seed,
                         **{**_logging(rng, steps), "log_val": True})
    lr = _log_uniform(rng, 0.03, 0.15) if config.optimizer == "sgd" else _log_uniform(rng, 1e-3, 4e-3)
    return dataclasses.replace(config, lr=lr)


def _underfitting(rng, seed):
    """Too small a model, heavy label noise or weight decay: train and val settle high, together."""
    steps = _steps(rng, 500, 5000)
    kind = _pick(rng, ("linear", "tiny", "noise", "decay"))
    # no loss offset: "converged at a high level" needs the loss's natural zero
    common = dict(steps=steps, seed=seed, lr=_log_uniform(rng, 0.02, 0.1), batch_size=int(_pick(rng, (32, 64, 128))),
                  **{**_logging(rng, steps), "log_val": True, "loss_offset": 0.0})
    if kind == "linear":
        return TrainConfig(dataset=_pick(rng, ("moons", "synthetic")), depth=0, **common)
    if kind == "tiny":
        return TrainConfig(dataset=_pick(rng, ("synthetic", "digits")), depth=1, hidden=2, **common)
    if kind == "noise":
        return TrainConfig(dataset=_pick(rng, ("synthetic", "digits", "wine")), depth=1, hidden=16,
                           label_noise=rng.uniform(0.5, 0.7), **common)
    return TrainConfig(dataset=_pick(rng, ("synthetic", "digits")), depth=1, hidden=32,
                       weight_decay=rng.uniform(0.1, 0.3), init_scale=0.1, **common)


def _noisy(rng, seed):
    steps = _steps(rng, 300, 3000)
    optimizer = _pick(rng, ("sgd", "momentum", "adam"))
    lr = {"sgd": _log_uniform(rng, 0.015, 0.06), "momentum": _log_uniform(rng, 0.0015, 0.006),
          "adam": _log_uniform(rng, 3e-4, 1.2e-3)}[optimizer]
    # harder data and a little label noise keep the loss level well above zero: noise around a real trend,
    # not the per-sample jitter of a memorized set
    return TrainConfig(dataset=_pick(rng, ("digits", "synthetic", "synthetic", "breast_cancer", "moons")),
                       depth=int(_pick(rng, (0, 1, 2))), optimizer=optimizer, lr=lr,
                       label_noise=float(_pick(rng, (0.0, 0.05, 0.1))),
                       batch_size=int(_pick(rng, (1, 1, 1, 2, 4))), steps=steps,
                       schedule=_pick(rng, ("constant", "cosine", "warmup")), warmup_steps=steps // 20, seed=seed,
                       **{**_logging(rng, steps, fine=True), "log_every": 1})


RECIPES = {"healthy": _healthy, "nan_inf": _nan_inf, "divergence": _divergence, "exploding_gradients": _exploding,
           "oscillation": _oscillation, "loss_spikes": _loss_spikes, "plateau": _plateau,
           "vanishing_gradients": _vanishing, "overfitting": _overfitting, "underfitting": _underfitting,
           "noisy_small_batch": _noisy}


def recipe(label: str, seed: int) -> TrainConfig:
    """A randomized TrainConfig meant to show `label`, reproducible from the seed."""
    rng = np.random.default_rng([seed, PATTERNS.index(label) + 1 if label in PATTERNS else 0])
    return RECIPES[label](rng, seed)
