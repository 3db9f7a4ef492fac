"""The labeled corpus: randomized recipes that produce each failure pattern from real training loops.

A run's labels are the faults its recipe injects (a primary label, plus secondary ones when a recipe
injects two problems), never what posthoc says about it; `corpus.checks` then drops runs whose data does not
show the fault. Recipes come in families (one mechanism each: full-batch GD past its stability limit,
momentum 0.99, Adam with a large lr…). The dev/test split is declared here, before any score is seen:
HELD_OUT_FAMILIES, one dataset and one optimizer never appear in a dev run, so scores on test runs measure
mechanisms and data the detectors were not tuned on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from posthoc.demo.loops import NAMING, REGRESSION, TrainConfig

LABEL_TAG = "posthoc.label"  # the primary (root) fault
LABELS_TAG = "posthoc.labels"  # every injected fault, comma-separated, primary first
FAMILY_TAG = "posthoc.family"
SPLIT_TAG = "posthoc.split"
PATTERNS = ("nan_inf", "divergence", "exploding_gradients", "oscillation", "loss_spikes", "plateau",
            "vanishing_gradients", "overfitting", "underfitting", "noisy_small_batch")
NAMINGS = tuple(NAMING)

# Declared before scoring; tests check no dev run ever uses any of them.
FIRST_HELD_OUT_FAMILIES = frozenset({
    "healthy/cyclic_lr", "oscillation/adam_large_lr", "plateau/lr_too_small", "divergence/finite_blowup",
    "exploding_gradients/finite_blowup", "exploding_gradients/deep_relu_lr_jump", "vanishing_gradients/deep_tanh_tiny_init", "underfitting/weight_decay",
    "noisy_small_batch/batch_8", "overfitting/with_spikes",
})
# Added once the set above had been scored on six seeds; scored since, so held out but no longer unseen.
SECOND_HELD_OUT_FAMILIES = frozenset({
    "oscillation/momentum_mlp_large_lr", "oscillation/mlp_edge_of_stability", "plateau/random_labels",
    "underfitting/few_features", "healthy/deep_step_decay",
})
# The families never scored before the latest round (every set above has been): labels from the recipe and
# corpus.checks only, no analyzer run on them before the lead's one scoring. evaluate.py --by holdout reports
# them apart as test-new-families.
NEW_HELD_OUT_FAMILIES = frozenset({
    "healthy/adam_dropout_warmup_cosine", "healthy/long_sgd_linear_decay", "oscillation/minibatch_rmsprop_large_lr",
    "plateau/lr_collapse", "divergence/warmup_past_stable",
    "noisy_small_batch/batch_2_adam_regression",
})
HELD_OUT_FAMILIES = FIRST_HELD_OUT_FAMILIES | SECOND_HELD_OUT_FAMILIES | NEW_HELD_OUT_FAMILIES
HELD_OUT_DATASETS = frozenset({"breast_cancer"})
HELD_OUT_OPTIMIZERS = frozenset({"rmsprop"})
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Recipe:
    label: str  # the primary fault (healthy: none)
    family: str  # "label/mechanism"
    config: TrainConfig
    secondary: tuple[str, ...] = ()  # other faults the recipe injects

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label,) + self.secondary

    @property
    def split(self) -> str:
        return split_of(self.family, self.config)


def split_of(family: str, config: TrainConfig) -> str:
    """test if the run uses a held-out family, dataset or optimizer, else dev."""
    held_out = (family in HELD_OUT_FAMILIES or config.dataset in HELD_OUT_DATASETS
                or config.optimizer in HELD_OUT_OPTIMIZERS)
    return "test" if held_out else "dev"


class Draw:
    """Random choices for one recipe; dev draws never pick a held-out dataset or optimizer, test draws of a
    dev family force one of them (`force`), so every test run has something the dev runs never had."""

    def __init__(self, rng: np.random.Generator, seed: int, force: str | None):
        self.rng, self.seed, self.force = rng, seed, force

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def log_uniform(self, low: float, high: float) -> float:
        return float(math.exp(self.rng.uniform(math.log(low), math.log(high))))

    def steps(self, low: int, high: int) -> int:
        return int(round(self.log_uniform(low, high), -1 if high > 200 else 0))

    def _held(self, options, held_out: frozenset, axis: str):
        allowed = [o for o in options if o not in held_out] if self.force is None else list(options)
        if self.force == axis and any(o in held_out for o in options):
            allowed = [o for o in options if o in held_out]
        return self.pick(tuple(allowed))

    def dataset(self, options):
        return self._held(options, HELD_OUT_DATASETS, "dataset")

    def optimizer(self, options):
        return self._held(options, HELD_OUT_OPTIMIZERS, "optimizer")

    def logging(self, steps: int, fine: bool = False, grad: bool = False) -> dict:
        """Logger style and intervals: long runs log every k steps, validation on a coarser grid.

        `grad`: the label is only visible in the grad norm, so log it (Keras style never does)."""
        log_every = 1 if fine or steps <= 1000 else int(self.pick((1, 5, 10, 20, 50) if steps > 5000 else (1, 2, 5, 10)))
        val_every = max(log_every, int(self.pick((5, 10, 25, 50, 100))) * max(1, steps // 2000))
        naming = self.pick(tuple(n for n in NAMINGS if n != "keras") if grad else NAMINGS)
        return dict(naming=naming, log_every=log_every, val_every=min(val_every, max(steps // 8, 1)),
                    log_grad_norm=grad or bool(self.rng.random() < 0.8), log_val=bool(self.rng.random() < 0.85),
                    log_lr=bool(self.rng.random() < 0.8), loss_offset=float(self.pick((0.0,) * 8 + (-2.0, -5.0))))


def _healthy(d: Draw) -> TrainConfig:
    steps = d.steps(50, 20000)
    small = steps > 4000  # long runs use small models so the corpus builds in minutes
    dataset = d.dataset(("wine", "iris", "moons", "breast_cancer", "diabetes", "friedman") if small
                        else ("digits", "wine", "iris", "breast_cancer", "synthetic", "moons", "diabetes", "regression",
                              "friedman"))
    optimizer = d.optimizer(("sgd", "momentum", "adam", "rmsprop"))
    regression = dataset in REGRESSION
    base = {"sgd": (0.01, 0.1), "momentum": (0.003, 0.03), "adam": (3e-4, 3e-3), "rmsprop": (3e-4, 2e-3)}[optimizer]
    lr = d.log_uniform(*base) * (0.05 if regression and optimizer in ("sgd", "momentum") else 1.0)
    if steps < 300:  # short runs need a brisk lr to show progress
        lr *= 3.0
    schedule = d.pick(("constant", "warmup", "step", "cosine", "warmup_cosine", "linear"))
    # linear models only where they fit well: a linear model on moons is the underfitting recipe
    depth = int(d.pick((0, 1, 1, 2) if not small else (0, 1)))
    if dataset in ("moons", "circles", "synthetic"):
        depth = max(depth, 1)
    return TrainConfig(
        dataset=dataset, depth=depth, hidden=int(d.pick((16, 32, 64) if not small else (8, 16))),
        activation=d.pick(("relu", "relu", "tanh")), optimizer=optimizer, lr=lr, schedule=schedule,
        warmup_steps=max(1, steps // int(d.pick((10, 20, 50)))), batch_size=int(d.pick((16, 32, 64, 128))),
        steps=steps, weight_decay=float(d.pick((0.0, 0.0, 1e-4, 1e-3))),
        dropout=float(d.pick((0.0, 0.0, 0.0, 0.1))) if depth else 0.0, grad_clip=float(d.pick((0.0, 0.0, 5.0))),
        seed=d.seed, **d.logging(steps),
    )


def _healthy_cyclic(d: Draw) -> TrainConfig:
    """A triangular cyclic lr (between lr/10 and lr) that still makes steady progress: healthy by design."""
    c = _healthy(d)
    steps = max(c.steps, 600)
    return dataclasses.replace(c, steps=steps, schedule="cyclic", decay_steps=int(steps / d.pick((4, 6, 10))),
                               **d.logging(steps))


def _healthy_no_step(d: Draw) -> TrainConfig:
    """A healthy run whose script called mlflow.log_metric(k, v) without a step: every point at step 0."""
    return dataclasses.replace(_healthy(d), log_steps=False)


def _nan_inf(d: Draw) -> TrainConfig:
    """One batch of non-finite inputs in an otherwise healthy run."""
    c = _healthy(d)
    step = int(d.uniform(0.2, 0.9) * c.steps)
    return dataclasses.replace(c, corrupt_steps=(step,), corrupt_scale=d.pick((math.inf, math.nan)),
                               corrupt_mode="inputs", stop_on_nan=bool(d.rng.random() < 0.4))


def _nan_in_noisy(d: Draw) -> TrainConfig:
    """A non-finite batch late in a small-batch run: nan_inf, with noisy_small_batch before it."""
    c = _noisy(d)
    return dataclasses.replace(c, corrupt_steps=(int(d.uniform(0.7, 0.9) * c.steps),), corrupt_mode="inputs",
                               corrupt_scale=d.pick((math.inf, math.nan)), stop_on_nan=bool(d.rng.random() < 0.5))


def _divergence(d: Draw) -> TrainConfig:
    """A too-high lr from mid-run (adam): units die or saturate and the loss settles far above its best."""
    steps = d.steps(400, 4000)
    dataset = d.dataset(("synthetic", "synthetic", "digits", "breast_cancer"))
    return TrainConfig(dataset=dataset, depth=2, hidden=int(d.pick((32, 64))),
                       activation=d.pick(("relu", "tanh")) if dataset == "synthetic" else "relu",
                       optimizer=d.optimizer(("adam", "adam", "rmsprop")), lr=d.log_uniform(1e-3, 3e-3),
                       lr_jump_step=int(d.uniform(0.3, 0.6) * steps),
                       lr_jump_factor=d.log_uniform(30, 150) if dataset == "synthetic" else d.log_uniform(30, 60),
                       steps=steps, seed=d.seed, batch_size=int(d.pick((32, 64))), **d.logging(steps))


def _divergence_no_step(d: Draw) -> TrainConfig:
    """The lr-jump divergence logged without steps (mlflow.log_metric(k, v)): order only by timestamp."""
    return dataclasses.replace(_divergence(d), log_steps=False)


def _blowup(d: Draw, grad: bool) -> TrainConfig:
    """Full-batch least squares with an lr past 2/curvature: the loss grows geometrically; a divergence
    guard stops the run before float overflow, so it climbs to 1e280-1e307 without ever being Inf."""
    steps = d.steps(300, 2000)
    logging = d.logging(steps, fine=True, grad=grad)
    return TrainConfig(dataset=d.dataset(("diabetes", "regression", "friedman")), depth=0, batch_size=0,
                       lr=d.uniform(0.9, 1.3), schedule="warmup", warmup_steps=int(d.uniform(0.2, 0.6) * steps),
                       steps=steps, stop_above=d.log_uniform(1e280, 1e307), seed=d.seed,
                       **{**logging, "log_grad_norm": grad})


def _exploding(d: Draw) -> TrainConfig:
    """An lr warmup on regression past the stability limit: the grad norm grows by orders of magnitude."""
    steps = d.steps(300, 3000)
    return TrainConfig(dataset=d.dataset(("diabetes", "regression", "friedman")), depth=0,
                       lr=d.log_uniform(1.5, 3.5), schedule="warmup", warmup_steps=steps, steps=steps,
                       batch_size=int(d.pick((32, 64, 128))), seed=d.seed, **d.logging(steps, grad=True))


def _exploding_deep(d: Draw) -> TrainConfig:
    """An lr jump on a deep ReLU net: the grad norm explodes, often ending in NaN."""
    steps = d.steps(300, 3000)
    return TrainConfig(dataset=d.dataset(("digits", "synthetic", "breast_cancer")), depth=3,
                       lr=d.log_uniform(0.03, 0.08), lr_jump_step=int(d.uniform(0.3, 0.7) * steps),
                       lr_jump_factor=d.log_uniform(20, 60), steps=steps, seed=d.seed,
                       **{**d.logging(steps, grad=True), "log_lr": True})


OSCILLATION_LR = {"moons": (15, 30), "digits": (10, 25), "breast_cancer": (3, 7), "wine": (6, 25), "iris": (10, 18)}


def _oscillation_gd(d: Draw) -> TrainConfig:
    """Full-batch logistic regression past its stable step size (edge of stability): period-2 swings
    around a level that makes no net progress."""
    steps = d.steps(300, 3000)
    dataset = d.dataset(tuple(OSCILLATION_LR))
    noise = float(d.pick((0.0, 0.2))) if dataset == "moons" else d.uniform(0.15, 0.25)
    warmup = d.rng.random() < 0.35
    return TrainConfig(dataset=dataset, depth=0, lr=d.log_uniform(*OSCILLATION_LR[dataset]), batch_size=0,
                       steps=steps, schedule="warmup" if warmup else "constant",
                       warmup_steps=int(d.uniform(0.1, 0.3) * steps), label_noise=noise, seed=d.seed,
                       **d.logging(steps, fine=True))


def _oscillation_momentum(d: Draw) -> TrainConfig:
    """Full-batch heavy-ball momentum 0.99 with an lr past its stability limit (lr x curvature > 2(1+0.99)):
    the iterate rings across the valley instead of settling."""
    steps = d.steps(400, 3000)
    return TrainConfig(dataset=d.dataset(("wine", "iris", "digits", "breast_cancer")), depth=0, optimizer="momentum",
                       momentum=0.99, lr=d.log_uniform(3, 30), batch_size=0, label_noise=d.uniform(0.1, 0.3),
                       steps=steps, seed=d.seed, **d.logging(steps, fine=True))


def _oscillation_adam(d: Draw) -> TrainConfig:
    """Full-batch Adam (or RMSprop) with an lr 100-1000x too large: near the optimum every step has about
    the lr's size whatever the gradient, so the loss bursts up and down around a level it never leaves."""
    steps = d.steps(400, 3000)
    return TrainConfig(dataset=d.dataset(("wine", "iris", "digits", "breast_cancer")), depth=0,
                       optimizer=d.optimizer(("adam", "adam", "rmsprop")), lr=d.log_uniform(1, 4), batch_size=0,
                       label_noise=d.uniform(0.1, 0.3), steps=steps, seed=d.seed, **d.logging(steps, fine=True))


def _oscillation_cyclic(d: Draw) -> TrainConfig:
    """A cyclic lr whose peak is past the stability limit: every cycle undoes the last one's progress."""
    c = _oscillation_gd(d)
    return dataclasses.replace(c, schedule="cyclic", lr=c.lr * d.uniform(1.5, 2.5),
                               decay_steps=int(c.steps / d.pick((6, 10, 16))))


def _loss_spikes(d: Draw) -> TrainConfig:
    """A few batches with shuffled labels (or scaled inputs) in an otherwise healthy run."""
    c = _healthy(d)
    steps = max(c.steps, 400)
    return dataclasses.replace(c, steps=steps, corrupt_steps=_spike_steps(d, steps),
                               corrupt_mode=d.pick(("labels", "both")) if c.dataset not in REGRESSION else "labels",
                               corrupt_scale=d.log_uniform(4, 12), log_every=min(c.log_every, 2), stop_on_nan=False,
                               dropout=0.0, schedule=d.pick(("constant", "warmup", "cosine")))


def _spike_steps(d: Draw, steps: int) -> tuple[int, ...]:
    count, burst = int(d.rng.integers(1, 5)), int(d.pick((1, 1, 2, 3)))
    starts = sorted(int(s) for s in d.rng.choice(np.arange(int(0.15 * steps), int(0.9 * steps)), count, replace=False))
    return tuple(s + k for s in starts for k in range(burst))


def _plateau_saddle(d: Draw) -> TrainConfig:
    """A saddle (small init, deep tanh) the run escapes late."""
    steps = d.steps(2500, 8000)
    return TrainConfig(dataset=d.dataset(("digits", "synthetic")), depth=4, activation="tanh",
                       init_scale=d.uniform(0.17, 0.2), lr=d.uniform(0.04, 0.07), steps=steps, seed=d.seed,
                       **d.logging(steps))


def _plateau_schedule(d: Draw) -> TrainConfig:
    """An lr that decays to ~0 early, or collapses for a long mid-run window (a scheduler bug), while the
    loss is still high."""
    steps = d.steps(2500, 8000)
    common = dict(dataset=d.dataset(("digits", "synthetic", "breast_cancer")), depth=int(d.pick((1, 2))), steps=steps,
                  seed=d.seed, optimizer=d.optimizer(("sgd", "momentum")), **{**d.logging(steps), "log_lr": True})
    lr = d.log_uniform(0.002, 0.006) / (5.0 if common["optimizer"] == "momentum" else 1.0)
    if d.rng.random() < 0.55:
        return TrainConfig(lr=lr, schedule="exp", decay_steps=max(1, int(d.uniform(0.005, 0.015) * steps)), **common)
    stall = int(d.uniform(0.05, 0.15) * steps)
    return TrainConfig(lr=lr, lr_jump_step=stall, lr_jump_until=stall + int(d.uniform(0.35, 0.5) * steps),
                       lr_jump_factor=1e-4, **common)


def _plateau_stuck(d: Draw) -> TrainConfig:
    """Stuck from the start: a deep tanh or sigmoid stack with tiny init never leaves the chance level, while
    its output layer still gets gradients (so the grad norm does not vanish)."""
    steps = d.steps(500, 3000)
    return TrainConfig(dataset=d.dataset(("digits", "synthetic", "wine", "breast_cancer")), depth=int(d.pick((5, 6))),
                       activation=d.pick(("tanh", "sigmoid")), init_scale=d.uniform(0.03, 0.08),
                       lr=d.log_uniform(0.01, 0.05), batch_size=int(d.pick((32, 64))), steps=steps, seed=d.seed,
                       **d.logging(steps))


def _plateau_small_lr(d: Draw) -> TrainConfig:
    """An lr 1000x too small: the loss creeps down a few percent and never gets anywhere."""
    steps = d.steps(500, 3000)
    optimizer = d.optimizer(("sgd", "momentum", "adam", "rmsprop"))
    lr = {"sgd": (3e-6, 3e-5), "momentum": (3e-7, 3e-6), "adam": (3e-7, 3e-6), "rmsprop": (3e-7, 3e-6)}[optimizer]
    return TrainConfig(dataset=d.dataset(("digits", "synthetic", "wine", "breast_cancer")), depth=int(d.pick((1, 2))),
                       optimizer=optimizer, lr=d.log_uniform(*lr), steps=steps, seed=d.seed, **d.logging(steps))


def _vanishing_dead_relu(d: Draw) -> TrainConfig:
    """Very negative hidden biases kill every ReLU (full batch): the grad norm collapses, the loss stalls."""
    steps = d.steps(300, 3000)
    return TrainConfig(dataset=d.dataset(("wine", "iris", "breast_cancer")), depth=int(d.pick((2, 3))),
                       bias_init=-d.uniform(4, 8), lr=d.log_uniform(0.05, 0.3), batch_size=0, steps=steps, seed=d.seed,
                       **d.logging(steps, grad=True))


def _vanishing_tanh(d: Draw) -> TrainConfig:
    """A very deep tanh stack with tiny init, full batch: the gradient dies before reaching the inputs."""
    steps = d.steps(300, 3000)
    return TrainConfig(dataset=d.dataset(("wine", "iris", "breast_cancer")), depth=int(d.pick((6, 8, 10))),
                       activation="tanh", init_scale=d.uniform(0.02, 0.06), lr=d.log_uniform(0.05, 0.3), batch_size=0,
                       steps=steps, seed=d.seed, **d.logging(steps, grad=True))


def _overfitting(d: Draw) -> TrainConfig:
    """A small (often noisy) train subset and a big model trained long: val turns up while train falls."""
    steps = d.steps(1500, 8000)
    optimizer = d.optimizer(("sgd", "adam"))
    lr = d.log_uniform(0.03, 0.15) if optimizer == "sgd" else d.log_uniform(1e-3, 4e-3)
    return TrainConfig(dataset=d.dataset(("digits", "synthetic", "breast_cancer")), depth=int(d.pick((1, 2))),
                       hidden=int(d.pick((128, 256))), train_subset=int(d.rng.integers(60, 200)),
                       label_noise=float(d.pick((0.0, 0.2, 0.3))), optimizer=optimizer, lr=lr, steps=steps,
                       batch_size=32, seed=d.seed, **{**d.logging(steps), "log_val": True})


def _overfitting_spikes(d: Draw) -> TrainConfig:
    """Overfitting plus a few label-shuffled batches: two problems, overfitting the one that costs the model."""
    c = _overfitting(d)
    return dataclasses.replace(c, corrupt_steps=_spike_steps(d, c.steps), corrupt_mode="labels",
                               log_every=min(c.log_every, 2))


def _underfitting(d: Draw) -> TrainConfig:
    """Too small a model or heavy label noise: train and val settle high, together."""
    steps = d.steps(500, 5000)
    kind = d.pick(("linear", "tiny", "noise"))
    # no loss offset: "converged at a high level" needs the loss's natural zero
    common = dict(steps=steps, seed=d.seed, lr=d.log_uniform(0.02, 0.1), batch_size=int(d.pick((32, 64, 128))),
                  **{**d.logging(steps), "log_val": True, "loss_offset": 0.0})
    if kind == "linear":
        return TrainConfig(dataset=d.dataset(("moons", "synthetic")), depth=0, **common)
    if kind == "tiny":
        return TrainConfig(dataset=d.dataset(("synthetic", "digits")), depth=1, hidden=2, **common)
    return TrainConfig(dataset=d.dataset(("synthetic", "digits", "wine", "breast_cancer")), depth=1, hidden=16,
                       label_noise=d.uniform(0.5, 0.7), **common)


def _underfitting_decay(d: Draw) -> TrainConfig:
    """Weight decay so heavy the weights cannot grow: train and val settle high, together."""
    steps = d.steps(500, 5000)
    return TrainConfig(dataset=d.dataset(("synthetic", "digits")), depth=1, hidden=32, weight_decay=d.uniform(0.1, 0.3),
                       init_scale=0.1, steps=steps, seed=d.seed, lr=d.log_uniform(0.02, 0.1),
                       batch_size=int(d.pick((32, 64, 128))), **{**d.logging(steps), "log_val": True, "loss_offset": 0.0})


def _noisy(d: Draw, batches=(1, 1, 1, 2, 4), lr_scale: float = 1.0) -> TrainConfig:
    """A batch of 1-4 examples: each step follows one batch's gradient; the trend still falls. Batch 8
    runs scale the lr up with the batch (the linear scaling rule), which keeps the noise per step."""
    steps = d.steps(300, 3000)
    optimizer = d.optimizer(("sgd", "momentum", "adam", "rmsprop"))
    lr = lr_scale * {"sgd": d.log_uniform(0.015, 0.06), "momentum": d.log_uniform(0.0015, 0.006),
          "adam": d.log_uniform(3e-4, 1.2e-3), "rmsprop": d.log_uniform(3e-4, 1e-3)}[optimizer]
    # harder data and a little label noise keep the loss level well above zero: noise around a real trend,
    # not the per-sample jitter of a memorized set
    return TrainConfig(dataset=d.dataset(("digits", "synthetic", "synthetic", "breast_cancer", "moons")),
                       depth=int(d.pick((0, 1, 2))), optimizer=optimizer, lr=lr,
                       label_noise=float(d.pick((0.0, 0.05, 0.1))), batch_size=int(d.pick(batches)), steps=steps,
                       schedule=d.pick(("constant", "cosine", "warmup")), warmup_steps=steps // 20, seed=d.seed,
                       **{**d.logging(steps, fine=True), "log_every": 1})


# Families added after the first held-out set had been scored on six seeds: mechanisms no detector was tuned on


def _oscillation_momentum_mlp(d: Draw) -> TrainConfig:
    """Minibatch SGD with momentum 0.9 on a tanh MLP at an lr of 5-10, ~100x the usual 0.05: each step
    overshoots the valley it is in, so the loss bounces around a level it never leaves."""
    steps = d.steps(400, 2000)
    return TrainConfig(dataset=d.dataset(("synthetic", "iris", "moons", "circles")), depth=int(d.pick((1, 2))),
                       hidden=32, activation="tanh", optimizer="momentum", lr=d.log_uniform(5, 10),
                       batch_size=int(d.pick((64, 128, 256))), label_noise=0.1, steps=steps, seed=d.seed,
                       **d.logging(steps, fine=True))


def _oscillation_mlp_edge(d: Draw) -> TrainConfig:
    """Full-batch gradient descent on a tanh MLP with an lr of 20-60, far past 2/sharpness: the net never
    settles (edge of stability with hidden layers, unlike the linear full_batch_gd family)."""
    steps = d.steps(400, 2000)
    return TrainConfig(dataset=d.dataset(("iris", "breast_cancer", "moons", "circles")), depth=int(d.pick((1, 2))),
                       hidden=32, activation="tanh", lr=d.log_uniform(20, 60), batch_size=0, label_noise=0.1,
                       steps=steps, seed=d.seed, **d.logging(steps, fine=True))


def _plateau_random_labels(d: Draw) -> TrainConfig:
    """Every training label redrawn at random (a join that scrambled labels against inputs): nothing is
    learnable, so a small net's loss sits at the chance level from the first step."""
    steps = d.steps(300, 1500)
    optimizer = d.optimizer(("sgd", "adam"))
    return TrainConfig(dataset=d.dataset(("synthetic", "digits", "moons", "circles")), depth=1,
                       hidden=int(d.pick((8, 16))), init_scale=0.2, label_noise=1.0, optimizer=optimizer,
                       lr=0.02 if optimizer == "sgd" else 3e-4, batch_size=int(d.pick((32, 64, 128))), steps=steps,
                       seed=d.seed, **d.logging(steps))


def _underfitting_few_features(d: Draw) -> TrainConfig:
    """The model sees only a few of the input features (2-4 of digits' 64 pixels, 4-6 of 20): the rest of
    the signal is missing, so train and val settle high, together."""
    steps = d.steps(500, 3000)
    dataset = d.dataset(("synthetic", "digits"))
    return TrainConfig(dataset=dataset, features=int(d.pick((4, 5, 6) if dataset == "synthetic" else (2, 3, 4))),
                       depth=int(d.pick((1, 2))), hidden=32, lr=0.05, batch_size=int(d.pick((32, 64, 128))),
                       steps=steps, seed=d.seed, **{**d.logging(steps), "log_val": True, "loss_offset": 0.0})


def _healthy_deep_step_decay(d: Draw) -> TrainConfig:
    """A 3-hidden-layer MLP trained with SGD momentum, step decay (lr x0.1 at 50% and 75%) and light weight
    decay: the classic recipe, learning steadily."""
    steps = d.steps(600, 3000)
    return TrainConfig(dataset=d.dataset(("digits", "moons")), depth=3, hidden=int(d.pick((16, 32))),
                       optimizer="momentum", schedule="step", lr=d.log_uniform(0.01, 0.03),
                       weight_decay=float(d.pick((5e-4, 1e-3))), batch_size=int(d.pick((32, 64, 128))), steps=steps,
                       seed=d.seed, **d.logging(steps))


# Families never scored before the latest round: mechanisms none of the families above has


def _healthy_adam_dropout(d: Draw) -> TrainConfig:
    """Adam with a warmup-cosine schedule on an MLP regularized by dropout 0.2-0.3: train loss (with dropout)
    sits above val (without), and both fall steadily."""
    steps = d.steps(600, 3000)
    return TrainConfig(dataset=d.dataset(("digits", "wine", "iris")), depth=1,
                       hidden=int(d.pick((64, 128))), optimizer="adam", lr=d.log_uniform(1e-3, 3e-3),
                       schedule="warmup_cosine", warmup_steps=steps // int(d.pick((10, 20))),
                       dropout=d.uniform(0.2, 0.3), batch_size=int(d.pick((64, 128))), steps=steps, seed=d.seed,
                       **d.logging(steps))


def _healthy_long_sgd_linear(d: Draw) -> TrainConfig:
    """A long plain-SGD linear (or softmax) model with a linear decay to zero: a convex problem the model
    class fits, so the loss falls and settles without incident."""
    steps = d.steps(4000, 12000)
    dataset = d.dataset(("regression", "wine", "digits"))
    lr = d.log_uniform(1e-3, 4e-3) if dataset in REGRESSION else d.log_uniform(0.02, 0.08)
    return TrainConfig(dataset=dataset, depth=0, optimizer="sgd", lr=lr, schedule="linear",
                       batch_size=int(d.pick((32, 64, 128))), steps=steps, seed=d.seed, **d.logging(steps))


def _oscillation_minibatch_rmsprop(d: Draw) -> TrainConfig:
    """Minibatch RMSprop on a tanh MLP with an lr 60-150x the usual 1e-3: the normalized step keeps its size
    whatever the gradient, so the loss bounces around a level it never leaves (unlike full-batch adam_large_lr)."""
    steps = d.steps(400, 2000)
    return TrainConfig(dataset=d.dataset(("moons",)), depth=int(d.pick((1, 2))), hidden=32, activation="tanh",
                       optimizer="rmsprop", lr=d.log_uniform(0.06, 0.15), batch_size=256, steps=steps, seed=d.seed,
                       **d.logging(steps, fine=True))


def _plateau_lr_collapse(d: Draw) -> TrainConfig:
    """An exp decay whose half-life is 0.2-0.5% of the run (a decay meant per epoch applied per step): the lr
    is gone before the loss got anywhere, on datasets the lr_schedule family never uses."""
    steps = d.steps(1000, 4000)
    return TrainConfig(dataset=d.dataset(("wine", "iris", "moons", "circles")), depth=int(d.pick((1, 2))),
                       hidden=32, lr=d.log_uniform(0.003, 0.01), schedule="exp",
                       decay_steps=max(1, int(d.uniform(0.002, 0.005) * steps)), batch_size=int(d.pick((32, 64))),
                       steps=steps, seed=d.seed, **{**d.logging(steps), "log_lr": True})


def _divergence_warmup(d: Draw) -> TrainConfig:
    """A linear warmup to a peak lr of 0.3-1, 300-1000x Adam's usual 1e-3 (on a ReLU MLP): the run learns while
    the lr is small, then units die or saturate and the loss settles far above its best."""
    steps = d.steps(600, 3000)
    return TrainConfig(dataset=d.dataset(("moons", "circles")), depth=2, hidden=32,
                       optimizer="adam", lr=d.log_uniform(0.3, 1.0), schedule="warmup",
                       warmup_steps=int(d.uniform(0.3, 0.6) * steps), batch_size=int(d.pick((32, 64))), steps=steps,
                       seed=d.seed, **d.logging(steps))


def _noisy_batch_2_regression(d: Draw) -> TrainConfig:
    """Batch 2 with Adam on a regression target: the MSE of two examples swings by orders of magnitude from
    step to step, around a trend that still falls."""
    steps = d.steps(600, 3000)
    return TrainConfig(dataset=d.dataset(("regression", "friedman")), depth=1, hidden=int(d.pick((16, 32))),
                       optimizer="adam", lr=d.log_uniform(0.003, 0.008), batch_size=2, steps=steps,
                       seed=d.seed, **{**d.logging(steps, fine=True), "log_every": 1})


@dataclass(frozen=True)
class Family:
    build: Callable[[Draw], TrainConfig]
    secondary: tuple[str, ...] = ()
    weight: float = 1.0  # how often the family is drawn relative to its label's others


FAMILIES: dict[str, dict[str, Family]] = {
    "healthy": {"tabular": Family(_healthy), "cyclic_lr": Family(_healthy_cyclic),
                "no_step_logging": Family(_healthy_no_step, weight=0.2), "deep_step_decay": Family(_healthy_deep_step_decay),
                "adam_dropout_warmup_cosine": Family(_healthy_adam_dropout),
                "long_sgd_linear_decay": Family(_healthy_long_sgd_linear)},
    "nan_inf": {"bad_batch": Family(_nan_inf), "bad_batch_in_noisy": Family(_nan_in_noisy, ("noisy_small_batch",))},
    "divergence": {"lr_jump": Family(_divergence), "no_step_logging": Family(_divergence_no_step, weight=0.4),
                   "finite_blowup": Family(lambda d: _blowup(d, grad=False)),
                   "warmup_past_stable": Family(_divergence_warmup)},
    "exploding_gradients": {"regression_warmup": Family(_exploding),
                            "deep_relu_lr_jump": Family(_exploding_deep),
                            "finite_blowup": Family(lambda d: _blowup(d, grad=True), ("divergence",))},
    "oscillation": {"full_batch_gd": Family(_oscillation_gd), "momentum_ringing": Family(_oscillation_momentum),
                    "cyclic_lr": Family(_oscillation_cyclic), "adam_large_lr": Family(_oscillation_adam),
                    "momentum_mlp_large_lr": Family(_oscillation_momentum_mlp), "mlp_edge_of_stability": Family(_oscillation_mlp_edge),
                    "minibatch_rmsprop_large_lr": Family(_oscillation_minibatch_rmsprop)},
    "loss_spikes": {"bad_batches": Family(_loss_spikes)},
    "plateau": {"saddle": Family(_plateau_saddle), "lr_schedule": Family(_plateau_schedule),
                "stuck_from_start": Family(_plateau_stuck), "lr_too_small": Family(_plateau_small_lr),
                "random_labels": Family(_plateau_random_labels), "lr_collapse": Family(_plateau_lr_collapse)},
    "vanishing_gradients": {"dead_relu": Family(_vanishing_dead_relu), "deep_tanh_tiny_init": Family(_vanishing_tanh)},
    "overfitting": {"small_subset": Family(_overfitting), "with_spikes": Family(_overfitting_spikes, ("loss_spikes",))},
    "underfitting": {"capacity_or_noise": Family(_underfitting), "weight_decay": Family(_underfitting_decay),
                     "few_features": Family(_underfitting_few_features)},
    "noisy_small_batch": {"batch_1_to_4": Family(_noisy), "batch_8": Family(lambda d: _noisy(d, (8,), d.uniform(4, 8))),
                          "batch_2_adam_regression": Family(_noisy_batch_2_regression)},
}
LABELS = tuple(FAMILIES)  # healthy first, then the patterns


def recipe(label: str, seed: int, split: str = "dev") -> Recipe:
    """A randomized recipe for `label` in `split`, reproducible from (label, seed, split).

    Test runs come from a held-out family (when the label has one) 60% of the time, else from a dev family
    forced onto the held-out dataset or optimizer."""
    rng = np.random.default_rng([seed, LABELS.index(label), SPLITS.index(split)])
    families = FAMILIES[label]
    held = [name for name in families if f"{label}/{name}" in HELD_OUT_FAMILIES]
    dev = [name for name in families if name not in held]

    def draw(names: list[str]) -> str:
        weights = np.array([families[name].weight for name in names])
        return names[int(rng.choice(len(names), p=weights / weights.sum()))]

    for _ in range(50):
        if split == "dev":
            name, force = draw(dev), None
        elif held and rng.random() < 0.6:
            name, force = draw(held), "any"
        else:
            name, force = draw(dev), ("dataset", "optimizer")[int(rng.integers(2))]
        family = families[name]
        made = Recipe(label, f"{label}/{name}", family.build(Draw(rng, seed, force)), family.secondary)
        if made.split == split:
            return made
    raise ValueError(f"no {split} recipe for {label}")
