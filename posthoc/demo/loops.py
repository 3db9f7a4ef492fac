"""Real small training loops in numpy, with knobs that produce each failure pattern for real.

Softmax regression and MLPs with manual backprop on scikit-learn's bundled datasets; faults come from the
configuration (learning rate, batch size, init scale, depth, activation, corrupted batches…), never from
drawing curves. Tests, the demo store and the labeled corpus are all built from these loops.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

NAMING = {  # role → metric key, per logger style
    "plain": {"train_loss": "train_loss", "val_loss": "val_loss", "grad_norm": "grad_norm", "lr": "lr", "val_acc": "val_acc"},
    "slash": {"train_loss": "train/loss", "val_loss": "val/loss", "grad_norm": "train/grad_norm", "lr": "train/lr", "val_acc": "val/acc"},
    "hf": {"train_loss": "loss", "val_loss": "eval_loss", "grad_norm": "grad_norm", "lr": "learning_rate", "val_acc": "eval_accuracy"},
    "keras": {"train_loss": "loss", "val_loss": "val_loss", "grad_norm": "grad_norm", "lr": "lr", "val_acc": "val_accuracy"},
    "lightning": {"train_loss": "train_loss_step", "val_loss": "val_loss", "grad_norm": "grad_2.0_norm_total", "lr": "lr-SGD", "val_acc": "val_acc"},
}


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"  # see DATASETS; diabetes, regression and friedman are regression tasks (MSE)
    depth: int = 1  # hidden layers; 0 is softmax (or linear) regression
    hidden: int = 64
    activation: str = "relu"  # relu | tanh | sigmoid
    init_scale: float = 1.0  # multiplies He (relu) or Glorot (tanh, sigmoid) init
    optimizer: str = "sgd"  # sgd | momentum | adam | rmsprop
    lr: float = 0.05
    schedule: str = "constant"  # constant | warmup | step | cosine | warmup_cosine | linear | exp | cyclic | range_test
    warmup_steps: int = 0
    batch_size: int = 32  # 0: full batch
    steps: int = 500
    weight_decay: float = 0.0
    train_subset: int = 0  # train on only this many examples (0: all); small subsets overfit
    label_noise: float = 0.0  # fraction of training labels replaced at random
    corrupt_steps: tuple[int, ...] = ()  # batches whose inputs are multiplied by corrupt_scale
    corrupt_scale: float = 30.0  # inf injects non-finite data
    grad_clip: float = 0.0  # clip the global grad norm (0: off)
    seed: int = 0
    log_every: int = 1  # train loss / grad norm / lr logged every k steps (mean loss over the window)
    val_every: int = 10
    log_grad_norm: bool = True
    log_val: bool = True
    naming: str = "plain"
    momentum: float = 0.9  # momentum optimizer's coefficient (0.99 rings for long)
    decay_steps: int = 100  # exp: lr halves every decay_steps; cyclic: half a triangle period
    lr_jump_step: int = -1  # from this step on, lr is multiplied by lr_jump_factor (-1: never)
    lr_jump_factor: float = 1.0
    lr_jump_until: int = -1  # the jump ends at this step (-1: lasts to the end); a window of tiny lr stalls a run
    corrupt_mode: str = "inputs"  # corrupted batches: inputs (× corrupt_scale) | labels (shuffled) | both
    bias_init: float = 0.0  # hidden-layer bias init; very negative kills every ReLU
    dropout: float = 0.0  # inverted dropout on hidden activations during training
    loss_offset: float = 0.0  # added to logged losses: negative log-likelihood-like values below zero
    stop_on_nan: bool = False  # a real trainer that stops at the first non-finite loss
    stop_above: float = math.inf  # ...or once |loss| passes this bound (a divergence guard): finite blow-ups
    log_steps: bool = True  # False: metrics logged without a step (mlflow.log_metric(k, v) records step 0)
    log_lr: bool = True
    range_end_lr: float = 10.0  # schedule range_test: lr grows geometrically from lr to this (fastai: 1e-7 to 10)
    features: int = 0  # keep only this many input features, a seeded random subset (0: all); too few underfit


@dataclass
class History:
    """What a loop logged: role → (steps, values)."""

    config: TrainConfig
    metrics: dict[str, tuple[np.ndarray, np.ndarray]]
    # loss of the best constant prediction on the (noisy) training labels: class-prior entropy, or the
    # target variance for regression. The level a model that learned nothing sits at; corpus checks use it
    chance_loss: float = math.nan


DATASETS = ("digits", "wine", "iris", "breast_cancer", "synthetic", "moons", "circles", "diabetes", "regression",
            "friedman")
REGRESSION = ("diabetes", "regression", "friedman")  # raw targets: MSE in the hundreds to thousands


def load_dataset(name: str, seed: int):
    """Standardized features, a fixed 70/30 split; y is class ids, or a float target for regression."""
    from sklearn import datasets

    seed %= 2**32  # scikit-learn's random_state is 32-bit; corpus run seeds (seed x 1e6 + k) pass 4.29e9 past seed 4294
    generated = {
        "synthetic": lambda: datasets.make_classification(n_samples=2000, n_features=20, n_informative=10, n_classes=4,
                                                          random_state=seed),
        "moons": lambda: datasets.make_moons(n_samples=1000, noise=0.25, random_state=seed),
        "circles": lambda: datasets.make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed),
        "regression": lambda: datasets.make_regression(n_samples=1000, n_features=10, n_informative=6, noise=20.0,
                                                       random_state=seed),
        "friedman": lambda: (lambda x, y: (x, 10.0 * y))(*datasets.make_friedman1(n_samples=1000, noise=1.0,
                                                                                     random_state=seed)),
    }
    if name in generated:
        x, y = generated[name]()
    else:
        loader = {"digits": datasets.load_digits, "wine": datasets.load_wine, "iris": datasets.load_iris,
                  "breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}[name]
        x, y = loader(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    order = np.random.default_rng(1234).permutation(len(x))
    cut = int(0.7 * len(x))
    train, val = order[:cut], order[cut:]
    return x[train], y[train], x[val], y[val]


def _activation(name: str):
    if name == "relu":
        return (lambda z: np.maximum(z, 0.0)), (lambda z, a: (z > 0).astype(z.dtype))
    if name == "tanh":
        return np.tanh, (lambda z, a: 1.0 - a * a)
    if name == "sigmoid":
        return (lambda z: 1.0 / (1.0 + np.exp(-z))), (lambda z, a: a * (1.0 - a))
    raise ValueError(f"unknown activation {name!r}")


def lr_at(c: TrainConfig, step: int) -> float:
    """The learning rate the loop uses at `step` (schedule, then any lr jump)."""
    progress = step / max(c.steps - 1, 1)
    factor = 1.0
    if c.schedule in ("warmup", "warmup_cosine") and c.warmup_steps:
        factor *= min(1.0, (step + 1) / c.warmup_steps)
    if c.schedule == "step":
        factor *= 0.1 ** (int(progress >= 0.5) + int(progress >= 0.75))
    if c.schedule in ("cosine", "warmup_cosine"):
        factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
    if c.schedule == "linear":
        factor *= 1.0 - progress
    if c.schedule == "exp":
        factor *= 0.5 ** (step / max(c.decay_steps, 1))
    if c.schedule == "range_test":  # an LR range test: log-lr linear in the step
        factor *= (c.range_end_lr / c.lr) ** progress
    if c.schedule == "cyclic":  # triangular between lr/10 and lr
        phase = (step / max(c.decay_steps, 1)) % 2.0
        factor *= 0.1 + 0.9 * (phase if phase <= 1.0 else 2.0 - phase)
    if 0 <= c.lr_jump_step <= step and (c.lr_jump_until < 0 or step < c.lr_jump_until):
        factor *= c.lr_jump_factor
    return c.lr * factor


def train(c: TrainConfig) -> History:
    """Train for c.steps minibatch steps and return what a logger would have recorded."""
    rng = np.random.default_rng(c.seed)
    x_train, y_train, x_val, y_val = load_dataset(c.dataset, c.seed)
    if c.features:  # its own generator, so the training draws match those of a run with every feature
        kept = np.random.default_rng(c.seed).permutation(x_train.shape[1])[: c.features]
        x_train, x_val = x_train[:, kept], x_val[:, kept]
    regression = c.dataset in REGRESSION
    if c.train_subset:
        keep = rng.permutation(len(x_train))[: c.train_subset]
        x_train, y_train = x_train[keep], y_train[keep]
    classes = 1 if regression else int(max(y_train.max(), y_val.max())) + 1
    if c.label_noise and not regression:
        noisy = rng.random(len(y_train)) < c.label_noise
        y_train = np.where(noisy, rng.integers(0, classes, len(y_train)), y_train)
    act, act_grad = _activation(c.activation)
    sizes = [x_train.shape[1]] + [c.hidden] * c.depth + [classes]
    gain = 2.0 if c.activation == "relu" else 1.0
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bias = c.bias_init if len(params) < 2 * c.depth else 0.0
        params += [rng.normal(0, c.init_scale * math.sqrt(gain / fan_in), (fan_in, fan_out)), np.full(fan_out, float(bias))]
    state = [np.zeros_like(p) for p in params] + [np.zeros_like(p) for p in params]

    def forward(x, drop: bool = False):
        activations, pre, masks = [x], [], []
        a = x
        for layer in range(c.depth):
            z = a @ params[2 * layer] + params[2 * layer + 1]
            a = act(z)
            if drop and c.dropout:
                mask = (rng.random(a.shape) >= c.dropout) / (1.0 - c.dropout)
                a = a * mask
                masks.append(mask)
            pre.append(z)
            activations.append(a)
        return a @ params[-2] + params[-1], activations, pre, masks

    def loss_and_delta(out, y):
        if regression:
            diff = out[:, 0] - y
            return float(np.mean(diff**2)), (2.0 * diff / len(y))[:, None]
        shifted = out - out.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = float(-log_probs[np.arange(len(y)), y.astype(int)].mean())
        delta = np.exp(log_probs)
        delta[np.arange(len(y)), y.astype(int)] -= 1.0
        return loss, delta / len(y)

    names = NAMING[c.naming]
    logged: dict[str, list] = {role: [] for role in names}
    window: list[float] = []
    batch_size = c.batch_size or len(x_train)
    order = rng.permutation(len(x_train))
    cursor = 0
    with np.errstate(all="ignore"):
        for step in range(c.steps):
            if cursor + batch_size > len(order):
                order, cursor = rng.permutation(len(x_train)), 0
            batch = order[cursor : cursor + batch_size]
            cursor += batch_size
            x, y = x_train[batch], y_train[batch]
            if step in c.corrupt_steps:
                if c.corrupt_mode in ("inputs", "both"):
                    x = x * c.corrupt_scale
                if c.corrupt_mode in ("labels", "both"):
                    y = (y + rng.integers(1, classes, len(y))) % classes if not regression else -y * c.corrupt_scale
            out, activations, pre, masks = forward(x, drop=True)
            loss, delta = loss_and_delta(out, y)
            grads = [None] * len(params)
            for layer in range(c.depth, -1, -1):
                grads[2 * layer] = activations[layer].T @ delta
                grads[2 * layer + 1] = delta.sum(axis=0)
                if layer:
                    delta = delta @ params[2 * layer].T
                    if masks:
                        delta = delta * masks[layer - 1]
                    delta = delta * act_grad(pre[layer - 1], act(pre[layer - 1]) if masks else activations[layer])
            for i in range(0, len(params), 2):
                grads[i] = grads[i] + c.weight_decay * params[i]
            grad_norm = float(math.sqrt(sum(float((g * g).sum()) for g in grads)))
            if c.grad_clip and grad_norm > c.grad_clip:
                grads = [g * (c.grad_clip / grad_norm) for g in grads]
            lr = lr_at(c, step)
            _update(c, params, grads, state, lr, step)
            window.append(loss)
            last = step == c.steps - 1 or (c.stop_on_nan and not math.isfinite(loss)) or abs(loss) > c.stop_above
            if (step + 1) % c.log_every == 0 or last:
                logged["train_loss"].append((step, float(np.mean(window)) + c.loss_offset))
                logged["grad_norm"].append((step, grad_norm))
                logged["lr"].append((step, lr))
                window = []
            if c.log_val and ((step + 1) % c.val_every == 0 or last):
                val_out = forward(x_val)[0]
                logged["val_loss"].append((step, loss_and_delta(val_out, y_val)[0] + c.loss_offset))
                if not regression:
                    logged["val_acc"].append((step, float((val_out.argmax(axis=1) == y_val).mean())))
            if last:
                break
    if not c.log_grad_norm or c.naming == "keras":
        logged.pop("grad_norm")
    if not c.log_val:
        logged.pop("val_loss"), logged.pop("val_acc")
    if not c.log_lr:
        logged.pop("lr")
    metrics = {
        names[role]: (np.array([p[0] for p in points], dtype=np.int64), np.array([p[1] for p in points]))
        for role, points in logged.items()
        if points
    }
    return History(c, metrics, _chance_loss(y_train, classes, regression))


def _chance_loss(y: np.ndarray, classes: int, regression: bool) -> float:
    """The loss of predicting the training labels' prior (classification) or mean (regression)."""
    if regression:
        return float(np.var(y))
    prior = np.bincount(y.astype(int), minlength=classes) / len(y)
    prior = prior[prior > 0]
    return float(-(prior * np.log(prior)).sum())


def _update(c: TrainConfig, params, grads, state, lr: float, step: int) -> None:
    n = len(params)
    for i, (p, g) in enumerate(zip(params, grads)):
        if c.optimizer == "sgd":
            p -= lr * g
        elif c.optimizer == "momentum":
            state[i] = c.momentum * state[i] + g
            p -= lr * state[i]
        elif c.optimizer == "rmsprop":
            state[n + i] = 0.99 * state[n + i] + 0.01 * g * g
            p -= lr * g / (np.sqrt(state[n + i]) + 1e-8)
        elif c.optimizer == "adam":
            state[i] = 0.9 * state[i] + 0.1 * g
            state[n + i] = 0.999 * state[n + i] + 0.001 * g * g
            m_hat = state[i] / (1 - 0.9 ** (step + 1))
            v_hat = state[n + i] / (1 - 0.999 ** (step + 1))
            p -= lr * m_hat / (np.sqrt(v_hat) + 1e-8)
        else:
            raise ValueError(f"unknown optimizer {c.optimizer!r}")


# knobs added after the demo store existed: logged only when set, so runs that leave them at 0 log what they did
LOGGED_WHEN_SET = ("features",)


def config_params(c: TrainConfig) -> dict[str, str]:
    """The params a run logs: every knob, as MLflow would store them (strings)."""
    return {f.name: str(getattr(c, f.name)) for f in dataclasses.fields(c)
            if f.name not in LOGGED_WHEN_SET or getattr(c, f.name)}
