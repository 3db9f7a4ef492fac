"""The debugging checklist, in the usual order data → model → training → hyperparameters.

Each item says what the logged data confirms, contradicts or cannot tell. "No finding" is never a
confirmation: an item is ✔ only when its measurement on the logged series is positive evidence (finite
grad norms at every point, a loss that fell and stayed finite…) and every detector that could contradict
it ran and found nothing. A finding or a failed measurement is ✖ with its evidence; anything else is ?
with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors import DETECTORS
from posthoc.detectors.base import BATCH_PARAMS, LR_PARAMS
from posthoc.kinds import LR_RANGE_TEST, ONE_BATCH_TEST
from posthoc.model import Diagnosis, Series
from posthoc.report.format import number, span_text
from posthoc.report.kinds import no_test_text, one_batch_citation, range_citation
from posthoc.signal import noise_sigma, profile

CONFIRMED, CONTRADICTED, UNKNOWN = "confirmed", "contradicted", "cannot tell"
MARK = {CONFIRMED: "✔", CONTRADICTED: "✖", UNKNOWN: "?"}
# DESIGN: a loss spike is a jump to >= 2x the running level; below it the curve counts as stable
SPIKE_RATIO = 2.0
# ...that gives back at least this share of the progress the run made (head to best): below it the jump is
# minibatch noise on a small loss, not an event a reviewer would call a spike
SPIKE_SHARE = 0.10
# SageMaker Debugger's overfit rule: val more than 10% above its best is a rise, not noise
VAL_RISE = 0.10
# DESIGN / SageMaker Debugger: a grad norm below 1e-7 is vanishing; 100x its median is far above its level
TINY_GRAD, GRAD_BLOWUP = 1e-7, 100.0


@dataclass(frozen=True)
class Item:
    stage: str
    check: str
    needs: tuple[str, ...] = ()  # roles that must be logged to judge it
    contradicted_by: tuple[str, ...] = ()  # patterns whose findings contradict it
    not_logged: str = ""  # set for checks no metric can answer (e.g. a batch inspected by eye)
    measure: str = ""  # the measurement that can confirm it (a key of MEASURES)
    cites: str = ""  # a kind of test run (posthoc.kinds) whose result in the experiment answers the check


ITEMS = (
    Item("data", "inputs and labels are clean (no NaN/Inf or corrupted batch)", ("train_loss",),
         ("nan_inf", "loss_spikes"), measure="clean"),
    Item("data", "a batch was inspected by eye (inputs, labels, augmentation)", not_logged="not logged"),
    Item("data", "a held-out validation loss is logged", ("val_loss",), measure="val_logged"),
    Item("model", "single-batch overfit test (loss → ~0 on one batch)", cites=ONE_BATCH_TEST),
    Item("model", "initial loss is plausible (e.g. ln(classes) for softmax)", ("train_loss",), measure="initial"),
    Item("model", "gradients flow (grad norm neither vanishing nor exploding)", ("grad_norm",),
         ("exploding_gradients", "vanishing_gradients"), measure="grads"),
    Item("training", "loss stays finite", ("train_loss",), ("nan_inf",), measure="finite"),
    Item("training", "training loss goes down", ("train_loss",), ("divergence",), measure="down"),
    Item("training", "loss curve is stable (no spikes, no oscillation)", ("train_loss",),
         ("nan_inf", "divergence", "loss_spikes", "oscillation", "noisy_small_batch"), measure="stable"),
    Item("training", "validation loss follows training loss", ("train_loss", "val_loss"),
         ("overfitting", "underfitting"), measure="val_follows"),
    Item("hyperparameters", "learning rate is in a stable range", ("train_loss",),
         ("divergence", "exploding_gradients", "oscillation"), measure="lr"),
    Item("hyperparameters", "an LR range test bounds the learning rate", cites=LR_RANGE_TEST),
    Item("hyperparameters", "batch size gives a usable signal-to-noise ratio", ("train_loss",), ("noisy_small_batch",),
         measure="batch"),
    Item("hyperparameters", "regularization fits the model's capacity", ("train_loss", "val_loss"),
         ("overfitting", "underfitting"), measure="val_follows"),
)


def build_checklist(diagnosis: Diagnosis) -> list[dict]:
    """Rows of {stage, check, state, mark, detail}, in the checklist's order."""
    ran = _detectors_ran(diagnosis)
    rows = []
    for item in ITEMS:
        state, detail = _judge(item, diagnosis, ran)
        rows.append({"stage": item.stage, "check": item.check, "state": state, "mark": MARK[state],
                     "css": state.replace(" ", "-"), "detail": detail})
    return rows


def _detectors_ran(diagnosis: Diagnosis) -> set[str]:
    skipped = {s.detector for s in diagnosis.skipped}
    failed = {error.split(":", 1)[0] for error in diagnosis.errors}
    return {d.PATTERN for d in DETECTORS} - skipped - failed


def _judge(item: Item, diagnosis: Diagnosis, ran: set[str]) -> tuple[str, str]:
    if item.cites:
        cited = (one_batch_citation if item.cites == ONE_BATCH_TEST else range_citation)(diagnosis)
        if cited is None:
            return UNKNOWN, no_test_text(diagnosis)
        return {True: CONFIRMED, False: CONTRADICTED, None: UNKNOWN}[cited[0]], cited[1]
    if item.not_logged:
        return UNKNOWN, item.not_logged
    hits = [f for f in diagnosis.findings if f.pattern in item.contradicted_by and not (item.stage == "data" and _grew(f))]
    if hits:
        return CONTRADICTED, "; ".join(f"{f.pattern} at {span_text(f.step_start, f.step_end)}" for f in hits)
    missing = [role for role in item.needs if role not in diagnosis.roles]
    if missing:
        return UNKNOWN, f"{' and '.join(m.replace('_', ' ') for m in missing)} not logged"
    state, text = MEASURES[item.measure](diagnosis)
    absent = [p for p in item.contradicted_by if p not in ran]
    if state == CONFIRMED and absent:
        return UNKNOWN, f"{text}, but no {', '.join(absent)} check ran in this version"
    return state, text + (_context(item, diagnosis) if state == CONFIRMED else "")


def _grew(finding) -> bool:
    """A NaN reached after the loss or grad norm grew 10x is a training problem, not a data one."""
    ratios = (finding.evidence.get("lead_up_growth_ratio"), finding.evidence.get("grad_norm_growth_ratio"))
    return finding.pattern == "nan_inf" and any(isinstance(r, (int, float)) and abs(r) >= 10 for r in ratios)


def _series(diagnosis: Diagnosis, role: str) -> Series | None:
    return diagnosis.run.metrics.get(diagnosis.roles.get(role, ""))


def _nonfinite(series: Series) -> str | None:
    """'NaN from step 300' for a series that is not finite throughout, else None."""
    bad = np.flatnonzero(~series.finite)
    if not len(bad):
        return None
    value = float(series.values[bad[0]])
    word = "NaN" if np.isnan(value) else "+Inf" if value > 0 else "-Inf"
    return f"{series.key} is {word} from step {int(series.steps[bad[0]])}"


def _finite(diagnosis: Diagnosis) -> tuple[str, str]:
    for role in ("train_loss", "val_loss"):
        series = _series(diagnosis, role)
        broken = _nonfinite(series) if series is not None else None
        if broken:
            return CONTRADICTED, broken
    train = _series(diagnosis, "train_loss")
    return (CONFIRMED, f"all {len(train)} {train.key} points are finite") if len(train) else (UNKNOWN, "no points")


def _down(diagnosis: Diagnosis) -> tuple[str, str]:
    """First 10% against last 10% of the train loss: a plateau that ended 2.3 → 0.105 still went down."""
    train = _series(diagnosis, "train_loss")
    values = train.finite_part().values
    if len(values) < 4:
        return UNKNOWN, "fewer than 4 finite train-loss points"
    tenth = max(len(values) // 10, 1)
    first, last = float(np.median(values[:tenth])), float(np.median(values[-tenth:]))
    text = f"median {train.key} {number(first)} (first 10%) → {number(last)} (last 10%)"
    broken = _nonfinite(train)
    if broken:
        return CONTRADICTED, f"{broken}; before it, {text}"
    # a fall within 3 standard errors of the two medians (noise / sqrt(points)), or under 1% of the starting
    # level, is not evidence of learning
    if first - last <= max(3 * noise_sigma(values) / np.sqrt(tenth), 0.01 * abs(first), 1e-12):
        return CONTRADICTED, text
    plateaus = [f for f in diagnosis.findings if f.pattern == "plateau"]
    return CONFIRMED, text + "".join(f", after a plateau at {span_text(f.step_start, f.step_end)}" for f in plateaus)


def _stable(diagnosis: Diagnosis) -> tuple[str, str]:
    """No point far above the running level: DESIGN's 2x spike, and a jump that matters (10% of the progress
    the run made), so minibatch noise on a loss near 0 is not read as a spike."""
    train = _series(diagnosis, "train_loss")
    broken = _nonfinite(train)
    if broken:
        return CONTRADICTED, broken
    p = profile(train)
    if p is None:
        return UNKNOWN, "too few points, or values beyond 1e300"
    level = np.interp(p.steps, p.trend_steps, p.trend)
    excess = p.values - level
    worst = int(np.argmax(excess / p.scale))
    ratio = float(p.values[worst] / level[worst]) if level[worst] > 0 else float("inf")
    share = float(excess[worst] / p.scale)
    text = (f"largest jump at step {int(p.steps[worst])}: {number(float(p.values[worst]))} over a running level of "
            f"{number(float(level[worst]))}, {number(round(100 * share, 1))}% of the run's progress")
    if ratio >= SPIKE_RATIO and share >= SPIKE_SHARE:  # a jump the loss_spikes check did not call a spike
        return UNKNOWN, text + ": a 2x jump, though no detector flagged it"
    return CONFIRMED, text


def _grads(diagnosis: Diagnosis) -> tuple[str, str]:
    grad = _series(diagnosis, "grad_norm")
    broken = _nonfinite(grad)
    if broken:
        return CONTRADICTED, broken
    if not len(grad):
        return UNKNOWN, "no grad-norm points"
    values = np.abs(grad.values)
    low, high, median = float(values.min()), float(values.max()), float(np.median(values))
    text = f"{grad.key} finite at all {len(grad)} points, {number(low)}–{number(high)} (median {number(median)})"
    if low < TINY_GRAD or high > GRAD_BLOWUP * max(median, 1e-300):
        return UNKNOWN, text + ": reaches a vanishing (<1e-7) or 100x-median level without a finding"
    return CONFIRMED, text


def _clean(diagnosis: Diagnosis) -> tuple[str, str]:
    grown = [f for f in diagnosis.findings if f.pattern == "nan_inf" and _grew(f)]
    if grown:
        return UNKNOWN, f"{grown[0].metric} became non-finite after growing: a training problem hides the data"
    state, text = _stable(diagnosis)
    return (CONFIRMED, f"train loss finite throughout; {text}") if state == CONFIRMED else (UNKNOWN, text)


def _val_follows(diagnosis: Diagnosis) -> tuple[str, str]:
    """Val fell, ends within 10% of its best, and the train loss fell too."""
    val = _series(diagnosis, "val_loss")
    broken = _nonfinite(val)
    if broken:
        return CONTRADICTED, broken
    values = val.values
    if len(values) < 3:
        return UNKNOWN, "fewer than 3 val-loss points"
    best, first, last = float(values.min()), float(values[0]), float(values[-1])
    text = f"{val.key} {number(first)} → {number(last)} (best {number(best)})"
    rise = (last - best) / max(abs(best), 1e-12)
    if last >= first:
        return CONTRADICTED, text + ": it did not fall"
    if rise > VAL_RISE:
        return UNKNOWN, text + f": ends {number(round(100 * rise, 1))}% above its best without a finding"
    down, down_text = _down(diagnosis)
    return (CONFIRMED, f"{text}; {down_text}") if down == CONFIRMED else (UNKNOWN, down_text)


def _lr(diagnosis: Diagnosis) -> tuple[str, str]:
    """An lr is shown workable by its result: the loss went down, stayed finite and had no spikes."""
    for measure in (_down, _stable):
        state, text = measure(diagnosis)
        if state != CONFIRMED:  # a loss that did not fall may have other causes than the lr
            return UNKNOWN, text
    return CONFIRMED, "the loss went down and stayed stable: " + _down(diagnosis)[1]


def _batch(diagnosis: Diagnosis) -> tuple[str, str]:
    state, text = _down(diagnosis)
    if state != CONFIRMED:
        return UNKNOWN, text
    values = _series(diagnosis, "train_loss").finite_part().values
    return CONFIRMED, f"step-to-step noise ±{number(noise_sigma(values))} did not stop the fall: {text}"


def _initial(diagnosis: Diagnosis) -> tuple[str, str]:
    train = _series(diagnosis, "train_loss").finite_part()
    if not len(train):
        return UNKNOWN, "no finite train loss logged"
    return UNKNOWN, (f"first logged train loss {number(float(train.values[0]))} at step {int(train.steps[0])}; "
                     "the expected value (e.g. ln(classes)) is not logged")


def _val_logged(diagnosis: Diagnosis) -> tuple[str, str]:
    val = _series(diagnosis, "val_loss")
    return CONFIRMED, f"as {val.key} ({len(val)} points)"


MEASURES = {"clean": _clean, "val_logged": _val_logged, "initial": _initial, "grads": _grads, "finite": _finite,
            "down": _down, "stable": _stable, "val_follows": _val_follows, "lr": _lr, "batch": _batch}


def _context(item: Item, diagnosis: Diagnosis) -> str:
    params = diagnosis.run.params
    names = LR_PARAMS if item.check.startswith("learning rate") else BATCH_PARAMS if item.check.startswith("batch") else ()
    found = [f"{name}={params[name]}" for name in names if name in params]
    return f" ({', '.join(found[:2])})" if found else ""
