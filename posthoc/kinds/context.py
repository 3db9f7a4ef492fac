"""An experiment's test runs and its runs' params: what each run's report cites about the others.

A test speaks for the runs that train the same problem: where both runs logged a model or data param
(dataset, model, depth…), the values must agree; a range test also needs the same optimizer and batch size,
since the lr where a loss diverges depends on both (Smith 2017; Goyal et al. 2017's linear scaling rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from posthoc.detectors.base import BATCH_PARAMS, LR_PARAMS, finding, fmt, param_number
from posthoc.kinds.lr_range import RangeTest, analyze_range_test
from posthoc.kinds.one_batch import OneBatchTest, analyze_one_batch
from posthoc.kinds.recognize import LR_RANGE_TEST, ONE_BATCH_TEST, TRAINING, KindMatch, recognize
from posthoc.model import Finding, Run
from posthoc.roles import Roles, resolve_roles

MODEL_PARAMS = ("dataset", "dataset_name", "data", "task", "model", "model_name", "model_type", "arch",
                "architecture", "depth", "num_layers", "n_layers", "hidden", "hidden_size", "activation")
OPTIMIZER_PARAMS = ("optimizer", "optim", "optimizer_name", "optimizer_type")


@dataclass(frozen=True)
class Sibling:
    """Another run of the experiment, by its params (what the range test compares lrs with)."""

    run_id: str
    run_name: str
    params: dict[str, str]
    lr: float | None  # the first lr-like param it logged

    @classmethod
    def of(cls, run_id: str, run_name: str, params: dict[str, str]) -> Sibling:
        found = param_number(Run(run_id, run_name, "", "", None, None, params, {}, {}), LR_PARAMS)
        return cls(run_id, run_name, dict(params), None if found is None else found[1])


@dataclass(frozen=True)
class LoggedTest:
    """A one-batch or range test of the experiment, with its result."""

    run_id: str
    run_name: str
    kind: str
    params: dict[str, str]
    result: RangeTest | OneBatchTest
    start_time: int = 0

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "run_name": self.run_name, "kind": self.kind, self.kind: self.result.to_dict()}


@dataclass(frozen=True)
class ExperimentContext:
    tests: tuple[LoggedTest, ...] = ()
    siblings: tuple[Sibling, ...] = field(default=())


def analyze_test(run: Run, roles: Roles, kind: str) -> RangeTest | OneBatchTest | None:
    """The test's own result; None when it lacks the series it needs (a range test without lr)."""
    loss, lr = roles.get("train_loss"), roles.get("lr")
    if kind == LR_RANGE_TEST and loss is not None and lr is not None:
        return analyze_range_test(loss, lr)
    if kind == ONE_BATCH_TEST and loss is not None:
        return analyze_one_batch(loss)
    return None


def build_context(runs: list[Run], aliases: dict | None = None,
                  known: dict[str, list[Sibling]] | None = None) -> dict[str, ExperimentContext]:
    """experiment id → its tests and siblings, from runs already read (the CLI's or nightly's); `known` adds
    runs known by their params only, by experiment id (the nightly job's earlier nights)."""
    tests: dict[str, list[LoggedTest]] = {}
    siblings: dict[str, list[Sibling]] = {}
    for run in runs:
        try:
            roles = resolve_roles(run, aliases)
            kind = recognize(run, roles).kind
            result = analyze_test(run, roles, kind) if kind != TRAINING else None
        except Exception:  # e.g. a config alias that is no string: the run's own analysis records the error
            continue
        if result is not None:
            tests.setdefault(run.experiment_id, []).append(
                LoggedTest(run.run_id, run.run_name, kind, dict(run.params), result, run.start_time or 0))
        elif kind == TRAINING:
            siblings.setdefault(run.experiment_id, []).append(Sibling.of(run.run_id, run.run_name, run.params))
    for experiment_id, extra in (known or {}).items():
        siblings.setdefault(experiment_id, []).extend(extra)
    return {experiment_id: ExperimentContext(tuple(sorted(tests.get(experiment_id, ()), key=lambda t: t.start_time)),
                                             tuple(siblings.get(experiment_id, ())))
            for experiment_id in {r.experiment_id for r in runs} | set(known or {})}


def same_problem(a: dict[str, str], b: dict[str, str], kind: str) -> bool:
    """Whether a test with params `a` speaks for a run with params `b` (see the module docstring)."""
    keys = MODEL_PARAMS + (OPTIMIZER_PARAMS + BATCH_PARAMS if kind == LR_RANGE_TEST else ())
    return all(a[k].strip().lower() == b[k].strip().lower() for k in keys if k in a and k in b)


def tests_for(params: dict[str, str], context: ExperimentContext | None, kind: str, run_id: str = "") -> list[LoggedTest]:
    """The experiment's tests of this kind that speak for a run with these params, oldest first."""
    if context is None:
        return []
    return [t for t in context.tests if t.kind == kind and t.run_id != run_id and same_problem(t.params, params, kind)]


def test_findings(run: Run, match: KindMatch, result, context: ExperimentContext | None) -> list[Finding]:
    """A test run's findings: its verdict, and for a range test the experiment's lrs measured against it."""
    if result is None:
        needs = "train loss and lr" if match.kind == LR_RANGE_TEST else "a finite train loss"
        return [finding(match.kind, "warning", 1.0, None, (None, None), {"source": match.source},
                        f"recognized as {match.kind.replace('_', ' ')} ({match.source}) but it logged no {needs}",
                        [f"log {needs} at every step of the test"])]
    if isinstance(result, OneBatchTest):
        return [_one_batch_finding(result)]
    return [_range_finding(result), *_lr_findings(run, result, context)]


def _one_batch_finding(t: OneBatchTest) -> Finding:
    severity = {"memorized": "info", "passed": "info", "weak": "warning", "major_bug": "critical"}[t.grade]
    reached = f", below 0.1 at step {t.pass_step}" if t.pass_step is not None and t.grade != "memorized" else ""
    message = (f"one-batch overfit test {t.verdict}: loss {fmt(t.initial_loss)} → {fmt(t.final_loss)} at step "
               f"{t.final_step}{reached}; {t.meaning}" + ("; still falling" if t.still_falling else ""))
    suggestions = {"weak": ["train longer or raise the lr on the one batch" if t.still_falling else
                            "raise the lr or the model's capacity; check the labels match the inputs"],
                   "major_bug": ["check the loss function and its inputs (logits vs probabilities)",
                                 "check gradients reach every layer (dead ReLUs, detached tensors)",
                                 "check the architecture's output matches the targets"]}.get(t.grade, [])
    return finding("one_batch_test", severity, 1.0, t.metric, (0, t.final_step), t.to_dict(), message, suggestions)


def _range_finding(t: RangeTest) -> Finding:
    if t.suggested_lr is None:
        return finding("lr_range_test", "warning", 1.0, t.metric, (None, None), t.to_dict(),
                       f"LR range test ({fmt(t.lr_start)} → {fmt(t.lr_end)}) gives no suggestion: {t.note}",
                       ["sweep a wider lr span (e.g. 1e-7 → 10) with the loss logged at every step"])
    low, high = t.recommended
    diverged = f"the loss diverged at lr={fmt(t.diverged_lr)}" if t.diverged_lr is not None else t.note
    return finding("lr_range_test", "info", 1.0, t.metric, (None, None), t.to_dict(),
                   f"LR range test: suggested lr={fmt(t.suggested_lr)} (steepest descent), valley {fmt(t.valley_lr)}, "
                   f"minimum/10 {fmt(t.min_over_10_lr)}; recommended {fmt(low)}–{fmt(high)}; {diverged}",
                   [f"train with lr in {fmt(low)}–{fmt(high)}; for one-cycle, max lr near {fmt(t.min_loss_lr)}"])


def _lr_findings(run: Run, t: RangeTest, context: ExperimentContext | None) -> list[Finding]:
    """Runs of the same problem whose lr is past the point where this range test diverged."""
    if context is None or t.diverged_lr is None:
        return []
    past = []
    for sibling in context.siblings:
        if sibling.lr is not None and sibling.lr > t.diverged_lr and same_problem(run.params, sibling.params, LR_RANGE_TEST):
            past.append({"run_id": sibling.run_id, "run_name": sibling.run_name, "lr": sibling.lr})
    if not past:
        return []
    lrs = sorted({p["lr"] for p in past})
    return [finding("lr_past_divergence", "warning", 1.0, t.metric, (None, t.diverged_step),
                    {"diverged_lr": t.diverged_lr, "runs": past, "suggested_lr": t.suggested_lr},
                    f"{len(past)} run(s) use lr={', '.join(fmt(v) for v in lrs)}, past the point where the range test "
                    f"diverged ({fmt(t.diverged_lr)})",
                    [f"train those runs with lr in {fmt(t.recommended[0])}–{fmt(t.recommended[1])}"])]
