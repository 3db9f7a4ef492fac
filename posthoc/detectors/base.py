"""What every detector module provides, and small helpers they share.

A detector is a module with PATTERN, SEVERITY, REQUIRES (roles it cannot run without), a frozen
Thresholds dataclass of documented defaults, and `detect(run, roles, thresholds) -> list[Finding]`.
It measures first and decides second, and never raises or prints on odd data.
"""

from __future__ import annotations

import math

from posthoc.model import Finding, Run
from posthoc.numbers import short

LR_PARAMS = ("lr", "learning_rate", "learning-rate", "optimizer.lr", "optim.lr", "base_lr", "max_lr",
             "optimizer_learning_rate")  # the last: Keras autolog's optimizer config
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
