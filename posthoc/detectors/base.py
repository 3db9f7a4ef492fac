"""What every detector module provides, and small helpers they share.

A detector is a module with PATTERN, SEVERITY, REQUIRES (roles it cannot run without), a frozen
Thresholds dataclass of documented defaults, and `detect(run, roles, thresholds) -> list[Finding]`.
It measures first and decides second, and never raises or prints on odd data. Its measurements live in
posthoc.signal and its suggestion texts (which read the run's params) here, so each module stays its decision.
"""

from __future__ import annotations

import math
import re

import numpy as np

from posthoc.model import Finding, Run, Series
from posthoc.numbers import short

LR_PARAMS = ("lr", "learning_rate", "learning-rate", "optimizer.lr", "optim.lr", "base_lr", "max_lr",
             "optimizer_learning_rate")  # the last: Keras autolog's optimizer config
RELU_FAMILY = ("relu", "leaky_relu", "leakyrelu", "gelu", "silu", "swish", "elu", "selu", "mish", "prelu", "relu6")
# one logged lr step that multiplies it by this much, after a flat stretch, is a jump, not a schedule's ramp
# (a linear warmup at most doubles the lr between consecutive logged points after its first one)
LR_JUMP_RATIO = 5.0
BATCH_PARAMS = ("batch_size", "per_device_train_batch_size", "train_batch_size", "batch-size", "bs")


def param_number(run: Run, names: tuple[str, ...]) -> tuple[str, float] | None:
    """The first of these params the run logged that parses as a finite number, with its name."""
    for name in names:
        raw = run.params.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value):
            return name, value
    return None


def fmt(value: float) -> str:
    """Numbers in messages: three significant digits (0.031, 2.4e-05, NaN)."""
    return short(value, 3)


def lower_lr_suggestion(run: Run, low: float = 0.1, high: float = 0.3) -> str:
    """"lr=0.3: try 0.03–0.09" when the run logged its lr, else a relative instruction."""
    found = param_number(run, LR_PARAMS)
    if found is None:
        return f"lower the learning rate {round(1 / high)}–{round(1 / low)}x"
    name, lr = found
    return f"{name}={fmt(lr)}: try {fmt(lr * low)}–{fmt(lr * high)}"


def finding(pattern: str, severity: str, confidence: float, metric: str | None, span: tuple, evidence: dict,
            message: str, suggestions: list[str]) -> Finding:
    return Finding(
        pattern=pattern,
        severity=severity,
        confidence=float(confidence),
        metric=metric,
        step_start=None if span[0] is None else int(span[0]),
        step_end=None if span[1] is None else int(span[1]),
        evidence=evidence,
        message=message,
        suggestions=tuple(suggestions),
    )


def param_text(run: Run, names: tuple[str, ...]) -> str | None:
    """"batch_size=4" for the first of these params the run logged, else None."""
    found = param_number(run, names)
    return None if found is None else f"{found[0]}={fmt(found[1])}"


def rounded(value: float, digits: int = 4) -> float:
    """Evidence numbers rounded to what a reviewer reads off a chart (4 significant digits)."""
    if value is None or not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def lr_jump(lr: Series | None, until_step: int | None = None) -> tuple[int, float, float] | None:
    """(step, lr before, lr after) of the largest jump in the logged lr at or before `until_step`: a rise by
    LR_JUMP_RATIO or more in one logged step after two flat points (within 25%), so warmups do not count."""
    if lr is None:
        return None
    finite = lr.finite_part()
    steps, values = finite.steps, finite.values
    if until_step is not None:
        keep = steps <= until_step
        steps, values = steps[keep], values[keep]
    if len(values) < 3 or np.any(values[:-1] <= 0):
        return None
    ratio = values[2:] / values[1:-1]
    flat = np.abs(np.log(values[1:-1] / values[:-2])) <= np.log(1.25)
    jumps = np.flatnonzero((ratio >= LR_JUMP_RATIO) & flat)
    if not len(jumps):
        return None
    at = int(jumps[np.argmax(ratio[jumps])]) + 2
    return int(steps[at]), float(values[at - 1]), float(values[at])


def warmup_steps(run: Run, lr: Series | None) -> int | None:
    """How long the run warms up its lr: a warmup_* param, a schedule named *warmup*, or a logged lr that
    starts below half its peak and rises to it; None when neither shows one."""
    for name, raw in run.params.items():
        if "warmup" in name.lower() and param_number(run, (name,)) is not None and float(raw) > 0:
            value = float(raw)
            return int(value * _last_step(run)) if value < 1 else int(value)  # warmup_ratio is a fraction
    if lr is None or lr.finite_count < 3 or lr_jump(lr) is not None:
        return _schedule_warmup(run)
    values, steps = lr.finite_part().values, lr.finite_part().steps
    peak = int(np.argmax(values >= 0.95 * values.max()))
    if values[0] <= 0.5 * values.max() and peak >= 2:
        return int(steps[peak] - steps[0])
    return _schedule_warmup(run)


def _schedule_warmup(run: Run) -> int | None:
    named = any("warmup" in str(v).lower() for k, v in run.params.items() if "sched" in k.lower())
    return 0 if named else None  # 0: a warmup schedule of unknown length


def _last_step(run: Run) -> int:
    return max((int(s.steps[-1]) for s in run.metrics.values() if len(s)), default=0)


def lr_advice(run: Run, lr: Series | None, step: int | None, low: float = 0.1, high: float = 0.3) -> str:
    """Lower-the-lr advice that reads the run: the lr jump the lr series shows before `step` when there is
    one; warmup offered only when neither the params nor the lr series show a warmup already."""
    jump = lr_jump(lr, step)
    if jump is not None:
        at, before, after = jump
        return (f"the logged lr jumped {fmt(after / before)}x at step {at} ({fmt(before)} → {fmt(after)}), before "
                f"this: remove the jump or cap the lr near {fmt(before)}–{fmt(before * 3)}")
    advice = lower_lr_suggestion(run, low, high)
    warmup = warmup_steps(run, lr)
    if warmup is None:
        return advice + ", or add warmup"
    length = _last_step(run) + 1
    if warmup and warmup >= 0.9 * length:
        return advice + (f" (warmup already spans the whole run, {min(warmup, length)} of {length} steps: the peak lr "
                         "is too high)")
    return advice + (f" (the run already warms up over {warmup} steps: lower the peak)" if warmup else
                     " (the schedule already warms up: lower the peak)")


def momentum_advice(run: Run) -> str | None:
    """Only for momentum above 0.9 (0.99 rings for long); at 0.9 or below it is the usual value, not a cause."""
    found = param_number(run, ("momentum", "beta1", "adam_beta1"))
    if found is None or found[1] <= 0.9:
        return None
    return f"{found[0]}={fmt(found[1])}: try 0.9, or use Adam"


def small_batch_advice(run: Run) -> list[str]:
    """A larger batch ("batch_size=4: try 16–32" when the run logged it), a lower lr, and a smoothed log."""
    batch = param_number(run, BATCH_PARAMS)
    larger = ("use a larger batch, or accumulate gradients over several steps" if batch is None else
              f"{batch[0]}={fmt(batch[1])}: try {fmt(batch[1] * 4)}–{fmt(batch[1] * 8)}, or accumulate gradients "
              "over 4–8 steps")
    return [larger, "lower the learning rate (linear scaling rule: lr proportional to batch size)",
            "log the loss as a mean over a window of steps to read the trend"]


PLATEAU_FLAT = ": flat from step {start} to {end} ({pct}% of the run)"
PLATEAU_MESSAGES = {  # kind -> what the loss did
    "never_learned": "never left its initial level {head} (ended at {tail})" + PLATEAU_FLAT,
    "too_slow": "still falls at its average rate but removed only {removed}% of its initial loss {head} by step {end}",
    "too_slow_offset": "fell from {head} to {tail} as fast in its last third as in its middle one, with no level in "
                       "sight by step {end}",
    "lr_collapsed": "stalled at {level} while the lr sat below {lr_collapse} of its peak" + PLATEAU_FLAT,
    "stalled": "stalled at {level} before dropping to {best}" + PLATEAU_FLAT}


def plateau_message(key: str, kind: str, **values: float) -> str:
    """What the loss `key` did in this kind of plateau; floats at three significant digits (fmt), steps as they are. A
    loss without a natural zero (removed is NaN) is too slow by its shape alone."""
    if kind == "too_slow" and math.isnan(values["removed"]):
        kind = "too_slow_offset"
    formatted = {name: fmt(value) if isinstance(value, float) else value for name, value in values.items()}
    return f"{key} " + PLATEAU_MESSAGES[kind].format(**formatted)


def plateau_advice(run: Run, kind: str, lr_logged: bool) -> list[str]:
    """The first thing to try for this kind of plateau, an adaptive optimizer unless the run uses one, and the
    schedule when the lr was not logged."""
    lr = param_text(run, LR_PARAMS) or "the learning rate"
    first = {"never_learned": "check the init and activations (saturated sigmoid/tanh, dead ReLUs: He init with ReLU, "
                              "normalization layers), then that the lr is not far too small",
             "too_slow": f"{lr}: far too small for this model; try 10–100x higher (an lr range test finds it)",
             "lr_collapsed": "the lr schedule decayed to ~0 while the loss was still high: decay more slowly or later",
             "stalled": f"{lr}: the stall suggests it is too low for this stage; try 3–10x higher with warmup"}[kind]
    return [first, *filter(None, [optimizer_advice(run)]),
            *([] if lr_logged else ["if a schedule decayed the lr before the stall, decay later or less"])]


def spike_advice(run: Run, where: str) -> list[str]:
    """The batches at the spikes' steps first, then clipping, and a lower lr if the spikes grow."""
    return [f"inspect the batches at steps {where}: corrupted inputs, outliers or wrong labels are the usual cause",
            "clip the gradient norm (e.g. max_norm=1.0) so one batch cannot throw the weights far",
            lower_lr_suggestion(run, 0.3, 0.5) + " if the spikes grow over time"]


def regularization_advice(run: Run, best_step: int) -> list[str]:
    """Early stopping at the best step, then weight decay (10x the run's own, when it logged one), dropout, data."""
    wd = param_number(run, ("weight_decay",))
    decay = ("add weight decay (1e-4–1e-2)" if wd is None else "weight_decay=0: add weight decay (1e-4–1e-2)"
             if not wd[1] else f"weight_decay={fmt(wd[1])}: try {fmt(max(wd[1] * 10, 1e-4))}")
    return [f"stop early at step {best_step} (keep that checkpoint; patience of a few evaluations)", decay,
            "add dropout or data augmentation", "train on more data, or use a smaller model"]


def optimizer_name(run: Run) -> str:
    """The logged optimizer's name in lower case; "" when the run did not log one."""
    return str(next((run.params[k] for k in ("optimizer", "optim", "optimizer_name") if k in run.params), "")).lower()


def oscillation_advice(run: Run, lr: Series | None, mechanism: str) -> list[str]:
    """A lower (peak) lr first; then momentum (above 0.9, or unlogged under slow ringing), Adam's eps for bursts,
    lr decay unless the lr decays already, and clipping."""
    cyclic = ": a cyclic schedule's peak (max_lr)" if mechanism == "cyclic_lr" else ""
    suggestions = [lower_lr_suggestion(run, 0.2, 0.5) + cyclic]
    momentum = momentum_advice(run)  # only above 0.9: at 0.9 or below it is the usual value, not the cause
    if momentum or (mechanism == "slow_ringing" and "momentum" not in run.params):
        suggestions.append(momentum or "momentum near 1: try 0.9 or lower (Adam: beta1=0.9)")
    if mechanism == "bursty":
        suggestions.append("raise Adam's eps (1e-8 -> 1e-6) or add warmup")
    return suggestions + [*filter(None, [decay_advice(run, lr)]), "clip the gradient norm"]


def activation_advice(run: Run) -> str:
    """ReLU advice only when the run does not use a ReLU-family activation already; with ReLU, a negative
    bias init (dead units) is cited instead."""
    names = ("activation", "hidden_act", "act", "activation_fn")
    act = next((v for k, v in run.params.items() if k.lower() in names), None)
    if act is None or act.lower() not in RELU_FAMILY:
        return (f"activation={act}: " if act else "") + "use ReLU-family activations with He init"
    bias = next(((k, v) for k, v in run.params.items() if "bias" in k.lower() and "init" in k.lower()
                 and param_number(run, (k,)) is not None), None)
    if bias is not None and float(bias[1]) < 0:
        return (f"{bias[0]}={bias[1]} with activation={act}: negative biases switch ReLUs off for every input "
                "(dead units); initialize biases at 0 or a small positive value")
    return f"activation={act} already: check for dead units (negative pre-activations) and use He init"


# params whose name holds one of these words can cause the pattern; the order is the order they are cited
CAUSE_WORDS = {
    "vanishing_gradients": ("bias", "init", "activation", "act", "depth", "layers", "norm"),
    "plateau": ("init", "activation", "act", "depth", "layers", "lr", "learning", "schedule", "warmup", "optimizer"),
    "exploding_gradients": ("jump", "lr", "learning", "init", "warmup", "schedule", "clip", "depth"),
    "divergence": ("jump", "lr", "learning", "schedule", "warmup", "optimizer", "clip"),
    "nan_inf": ("corrupt", "lr", "learning", "clip", "precision", "fp16", "eps"),
    "oscillation": ("lr", "learning", "momentum", "batch", "optimizer", "schedule"),
    "loss_spikes": ("corrupt", "clip", "lr", "learning", "batch"),
    "overfitting": ("subset", "noise", "hidden", "width", "depth", "layers", "decay", "dropout", "augment"),
    "underfitting": ("hidden", "width", "depth", "layers", "decay", "dropout", "lr", "learning"),
    "noisy_small_batch": ("batch", "lr", "learning"),
}


def unusual_param_advice(pattern: str, params: dict[str, str], usual: dict[str, str], most: int = 3) -> str | None:
    """'init_scale=0.2 (usually 1.0) …': params that differ from the experiment's usual value and can cause
    this pattern, most likely first; None when none differs."""
    words = CAUSE_WORDS.get(pattern, ())
    ranked = []
    for key, value in params.items():
        tokens = re.split(r"[_.\-/]", key.lower())
        rank = min((words.index(w) for w in words if w in tokens), default=None)
        if rank is not None and key in usual and usual[key] != value:
            ranked.append((rank, key))
    if not ranked:
        return None
    cited = [f"{key}={params[key]} (usually {usual[key]})" for _, key in sorted(ranked)[:most]]
    one = len(cited) == 1
    return (f"{', '.join(cited)}: {'differs' if one else 'differ'} from the rest of the experiment (◆ in the params) "
            f"and can cause {pattern.replace('_', ' ')}: try the usual {'value' if one else 'values'} first")


def decay_advice(run: Run, lr: Series | None) -> str | None:
    """Suggest lr decay only when the logged lr does not decay already (its end below half its peak)."""
    if lr is not None and lr.finite_count >= 2:
        values = lr.finite_part().values
        if values[-1] <= 0.5 * values.max():
            return None
    return "add lr decay (cosine or step) so the swings settle"


def optimizer_advice(run: Run) -> str | None:
    """Adam or momentum to cross flat regions, unless the run already uses one of them."""
    optimizer = " ".join(v.lower() for k, v in run.params.items() if "optim" in k.lower())
    if any(word in optimizer for word in ("adam", "momentum", "nesterov", "rmsprop", "lamb", "lion")):
        return None
    return "use an adaptive optimizer (Adam) or momentum to cross flat regions"
