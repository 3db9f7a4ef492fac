"""One way to write a number for people: messages, text output, reports and comparison summaries."""

from __future__ import annotations

import math


def short(value, digits: int = 4) -> str:
    """0.0312, 2.4e-05, 1.2e+04; whole numbers below a million as integers; NaN/Inf as words; None as '—'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"
