"""What the experiment's one-batch and LR range tests say about a run: checklist rows, text lines, the chart.

Each citation is (verdict, detail): True confirms, False contradicts, None cannot tell. The latest test that
speaks for the run decides (posthoc.kinds.tests_for picks tests of the same problem); a test run cites itself.
"""

from __future__ import annotations

import numpy as np
from markupsafe import Markup

from posthoc.detectors.base import LR_PARAMS, param_number
from posthoc.kinds import LR_RANGE_TEST, ONE_BATCH_TEST, RangeTest
from posthoc.model import Diagnosis
from posthoc.numbers import short as number
from posthoc.report.charts import Line, lr_loss_chart, value_scale


def cited_tests(diagnosis: Diagnosis, kind: str) -> list[tuple[str, object]]:
    """(where, result) of the tests of this kind that speak for the run, oldest first; its own test last."""
    cited = [(f"run {t.run_name or t.run_id!r}", t.result) for t in diagnosis.experiment_tests or () if t.kind == kind]
    if diagnosis.kind == kind and diagnosis.test is not None:
        cited.append(("this run", diagnosis.test))
    return cited


def no_test_text(diagnosis: Diagnosis) -> str:
    """Why no test is cited: none logged, or the experiment's other runs were not read at all."""
    return "not logged in this experiment" if diagnosis.experiment_tests is not None else \
        "not checked: the experiment's other runs were not read"


def one_batch_citation(diagnosis: Diagnosis) -> tuple[bool | None, str] | None:
    """None when the experiment logged no one-batch test for this run's model."""
    tests = cited_tests(diagnosis, ONE_BATCH_TEST)
    if not tests:
        return None
    where, t = tests[-1]
    at = f"loss {number(t.final_loss)} at step {t.final_step}"
    more = f" (latest of {len(tests)} tests)" if len(tests) > 1 else ""
    if t.grade == "memorized":
        return True, f"passed in {where}: {at}{more}"
    if t.passed:
        return None, f"passed in {where} ({at} < 0.1) but did not memorize the batch (< 0.01){more}"
    return False, f"failed in {where}: {at}; {t.meaning}{more}"


def range_citation(diagnosis: Diagnosis) -> tuple[bool | None, str] | None:
    """None when the experiment logged no range test for this run's model, optimizer and batch size."""
    tests = cited_tests(diagnosis, LR_RANGE_TEST)
    if not tests:
        return None
    where, t = tests[-1]
    if t.suggested_lr is None:
        return None, f"range test in {where} gave no suggestion: {t.note}"
    low, high = t.recommended
    said = (f"range test in {where} suggests lr={number(t.suggested_lr)} ({number(low)}–{number(high)})"
            + (f", diverged at {number(t.diverged_lr)}" if t.diverged_lr is not None else ", never diverged"))
    if where == "this run":
        return True, said
    found = param_number(diagnosis.run, LR_PARAMS)
    if found is None:
        return None, f"{said}; this run logged no lr param"
    name, lr = found
    if t.diverged_lr is not None and lr > t.diverged_lr:
        return False, f"{name}={number(lr)} is past the point where the {said}"
    if t.diverged_lr is None and lr > t.lr_end:
        return None, f"{name}={number(lr)} is beyond the lrs the {said} tried"
    return True, f"{name}={number(lr)}, below where the loss diverged; {said}"


def range_chart(diagnosis: Diagnosis) -> Markup | None:
    """Loss vs lr on a log-x axis with the suggestions marked, for a range test's own report."""
    t = diagnosis.test
    if diagnosis.kind != LR_RANGE_TEST or not isinstance(t, RangeTest) or len(t.lrs) < 2:
        return None
    marks = [(lr, f"{label} {number(lr)}") for lr, label in ((t.suggested_lr, "suggested"), (t.valley_lr, "valley"),
                                                          (t.min_over_10_lr, "min/10"), (t.diverged_lr, "diverged"))
             if lr is not None]
    lines = [Line(f"loss ({t.metric})", t.lrs, t.losses), Line("smoothed (EMA 0.98)", t.lrs, t.smoothed)]
    # the value axis spans the losses up to the divergence: the blow-up after it is clipped at the top edge
    shown = t.lrs <= (t.diverged_lr if t.diverged_lr is not None else np.inf)
    scale = value_scale([t.smoothed[shown], t.losses[shown]])
    # the SVG was built by charts.py with every text escaped: safe to mark
    # wide for screens >= 720 px and print, narrow for phones (style.css shows one of them)
    return Markup(lr_loss_chart(lines, marks, scale, frame="wide") + lr_loss_chart(lines, marks, scale, width=400,
                                                                                     frame="narrow"))
