"""What a one-batch overfit test says: can the model memorize a single batch?

The debugging guides call it the single most useful check: a correct model, loss and optimizer drive the loss
on one repeated batch toward zero. Their table, for losses whose optimum is 0 (cross-entropy, MSE on
standardized targets): final loss > 1.0 is a major bug (loss function, gradient flow, architecture);
0.1-1.0 is weak (too few steps, too small an lr or too little capacity); < 0.1 passes; < 0.01 memorized,
the checklist's bar. A non-finite final loss fails like a major bug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posthoc.model import Series, json_number
from posthoc.signal import finite_prefix

MAJOR_BUG, PASS, MEMORIZED = 1.0, 0.1, 0.01  # the guides' table
STILL_FALLING = 0.05  # the last 10% of points fell > 5% below the 10% before them
GRADES = {
    "memorized": "memorized the batch (loss < 0.01)",
    "passed": "passed (loss < 0.1) but did not memorize the batch (< 0.01)",
    "weak": "weak (loss 0.1-1.0): too few steps, too small an lr or too little capacity",
    "major_bug": "major bug (loss > 1.0): check the loss function, gradient flow and architecture",
}


@dataclass(frozen=True)
class OneBatchTest:
    metric: str
    passed: bool
    grade: str  # memorized | passed | weak | major_bug
    initial_loss: float
    final_loss: float
    final_step: int
    pass_step: int | None  # first step with loss < 0.1
    memorized_step: int | None  # first step with loss < 0.01
    still_falling: bool

    @property
    def verdict(self) -> str:
        return "PASSED" if self.passed else "FAILED"

    @property
    def meaning(self) -> str:
        return GRADES[self.grade]

    def to_dict(self) -> dict:
        return json_number({
            "metric": self.metric, "verdict": self.verdict, "passed": self.passed, "grade": self.grade,
            "meaning": self.meaning, "initial_loss": self.initial_loss, "final_loss": self.final_loss,
            "final_step": self.final_step, "pass_step": self.pass_step, "memorized_step": self.memorized_step,
            "still_falling": self.still_falling,
        })


def analyze_one_batch(loss: Series) -> OneBatchTest | None:
    """The verdict from the loss logged on the repeated batch; None when it logged nothing finite."""
    steps, values = finite_prefix(loss)
    if not len(values):
        return None
    broke = len(values) < len(loss.values)
    final = float("nan") if broke else float(values[-1])
    grade = ("major_bug" if broke or final > MAJOR_BUG else "weak" if final >= PASS
             else "passed" if final >= MEMORIZED else "memorized")
    tenth = max(len(values) // 10, 1)
    recent, before = np.median(values[-tenth:]), np.median(values[-2 * tenth : -tenth]) if len(values) >= 2 * tenth else np.nan
    falling = bool(np.isfinite(before) and recent < (1.0 - STILL_FALLING) * before and not broke)
    return OneBatchTest(loss.key, grade in ("passed", "memorized"), grade, float(values[0]), final,
                        int(loss.steps[-1]), _first_below(steps, values, PASS),
                        _first_below(steps, values, MEMORIZED), falling)


def _first_below(steps: np.ndarray, values: np.ndarray, bar: float) -> int | None:
    below = np.flatnonzero(values < bar)
    return int(steps[below[0]]) if len(below) else None
