"""The debugging checklist, in the usual order data → model → training → hyperparameters.

Each item says what the logged data confirms, contradicts or cannot tell. An item is confirmed only when
the roles it needs were logged and every detector that could contradict it actually ran and found
nothing: a check this posthoc version does not have, or that was skipped, leaves the item unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.detectors import DETECTORS
from posthoc.detectors.base import BATCH_PARAMS, LR_PARAMS
from posthoc.kinds import LR_RANGE_TEST, ONE_BATCH_TEST
from posthoc.model import Diagnosis
from posthoc.report.format import number, span_text
from posthoc.report.kinds import no_test_text, one_batch_citation, range_citation

CONFIRMED, CONTRADICTED, UNKNOWN = "confirmed", "contradicted", "cannot tell"
MARK = {CONFIRMED: "✔", CONTRADICTED: "✖", UNKNOWN: "?"}


@dataclass(frozen=True)
class Item:
    stage: str
    check: str
    needs: tuple[str, ...] = ()  # roles that must be logged to judge it
    contradicted_by: tuple[str, ...] = ()  # patterns whose findings contradict it
    not_logged: str = ""  # set for checks no metric can answer (e.g. a batch inspected by eye)
    cites: str = ""  # a kind of test run (posthoc.kinds) whose result in the experiment answers the check


ITEMS = (
    Item("data", "inputs and labels are clean (no NaN/Inf or corrupted batch)", ("train_loss",), ("nan_inf", "loss_spikes")),
    Item("data", "a batch was inspected by eye (inputs, labels, augmentation)", not_logged="not logged"),
    Item("data", "a held-out validation loss is logged", ("val_loss",)),
    Item("model", "single-batch overfit test (loss → ~0 on one batch)", cites=ONE_BATCH_TEST),
    Item("model", "initial loss is plausible (e.g. ln(classes) for softmax)", ("train_loss",)),
    Item("model", "gradients flow (grad norm neither vanishing nor exploding)", ("grad_norm",),
         ("exploding_gradients", "vanishing_gradients")),
    Item("training", "loss stays finite", ("train_loss",), ("nan_inf",)),
    Item("training", "training loss goes down", ("train_loss",), ("divergence", "plateau")),
    Item("training", "loss curve is stable (no spikes, no oscillation)", ("train_loss",),
         ("loss_spikes", "oscillation", "noisy_small_batch")),
    Item("training", "validation loss follows training loss", ("train_loss", "val_loss"), ("overfitting", "underfitting")),
    Item("hyperparameters", "learning rate is in a stable range", ("train_loss",),
         ("divergence", "exploding_gradients", "oscillation")),
    Item("hyperparameters", "an LR range test bounds the learning rate", cites=LR_RANGE_TEST),
    Item("hyperparameters", "batch size gives a usable signal-to-noise ratio", ("train_loss",), ("noisy_small_batch",)),
    Item("hyperparameters", "regularization fits the model's capacity", ("train_loss", "val_loss"),
         ("overfitting", "underfitting")),
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
    missing = [role for role in item.needs if role not in diagnosis.roles]
    hits = [f for f in diagnosis.findings if f.pattern in item.contradicted_by and not (item.stage == "data" and _grew(f))]
    if hits:
        return CONTRADICTED, "; ".join(f"{f.pattern} at {span_text(f.step_start, f.step_end)}" for f in hits)
    if missing:
        return UNKNOWN, f"{' and '.join(m.replace('_', ' ') for m in missing)} not logged"
    measured = _measure(item, diagnosis)
    if measured is not None:
        return measured
    absent = [p for p in item.contradicted_by if p not in ran]
    if absent:
        return UNKNOWN, f"not checked: no {', '.join(absent)} check ran in this version{_context(item, diagnosis)}"
    return CONFIRMED, "no finding" + _context(item, diagnosis)


def _grew(finding) -> bool:
    """A NaN reached after the loss or grad norm grew 10x is a training problem, not a data one."""
    ratios = (finding.evidence.get("lead_up_growth_ratio"), finding.evidence.get("grad_norm_growth_ratio"))
    return finding.pattern == "nan_inf" and any(isinstance(r, (int, float)) and abs(r) >= 10 for r in ratios)


def _measure(item: Item, diagnosis: Diagnosis) -> tuple[str, str] | None:
    """Checks the data answers directly, without a detector."""
    train = diagnosis.run.metrics.get(diagnosis.roles.get("train_loss", ""))
    if item.check.startswith("a held-out"):
        return CONFIRMED, f"as {diagnosis.roles['val_loss']}"
    if item.check.startswith("initial loss"):
        finite = train.finite_part() if train is not None else None
        if finite is None or not len(finite):
            return UNKNOWN, "no finite train loss logged"
        return UNKNOWN, f"first logged train loss {number(float(finite.values[0]))} at step {int(finite.steps[0])}; expected value not logged"
    if item.check == "training loss goes down" and train is not None:
        values = train.finite_part().values
        if len(values) < 4:
            return UNKNOWN, "fewer than 4 finite train-loss points"
        tenth = max(len(values) // 10, 1)
        first, last = float(np.median(values[:tenth])), float(np.median(values[-tenth:]))
        text = f"median train loss {number(first)} (first 10%) → {number(last)} (last 10%)"
        return (CONFIRMED, text) if last < first else (CONTRADICTED, text)
    return None


def _context(item: Item, diagnosis: Diagnosis) -> str:
    params = diagnosis.run.params
    names = LR_PARAMS if item.check.startswith("learning rate") else BATCH_PARAMS if item.check.startswith("batch") else ()
    found = [f"{name}={params[name]}" for name in names if name in params]
    return f" ({', '.join(found[:2])})" if found else ""
