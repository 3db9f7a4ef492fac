"""MLflow params are strings: turn them into typed values so "0.1" and "0.10" are the same setting,
numbers sort as numbers, and seeds can be set aside as replicates rather than treated as settings."""

from __future__ import annotations

import ast
import math

MISSING = None  # a run that did not log a param compares as None (as if it logged "None")

_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}
_NONE = {"none", "null", "nil"}


def parse_param(text: str | None):
    """int, float, bool, None, list/tuple (e.g. "[1, 2]", "(64,)"), else the string unchanged."""
    if text is None:
        return None
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in _NONE:
        return None
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)  # also "1e-3", "nan", "inf"
    except ValueError:
        pass
    if stripped[:1] in "[(" and stripped[-1:] in "])":
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(value, (list, tuple)):
            return _freeze(value)
    return text


class Seq(tuple):
    """A parsed list or tuple: hashable (for grouping), remembers which bracket it was written with."""

    is_list: bool = False

    def __new__(cls, items, is_list: bool):
        self = super().__new__(cls, items)
        self.is_list = is_list
        return self


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return Seq((_freeze(v) for v in value), isinstance(value, list))
    if isinstance(value, dict):
        return str(value)
    return value


def sort_key(value) -> tuple:
    """A total, stable order over mixed values: None, booleans, numbers (NaN last), sequences, strings."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return (3, 0)
        return (2, value)
    if isinstance(value, tuple):
        return (4, tuple(sort_key(v) for v in value))
    return (5, str(value))


def display(value) -> str:
    """Short, stable text for a parsed value: 0.001 → "0.001", 1e-05 → "1e-05", (64,) → "(64,)"."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) and value == float(f"{value:g}") else repr(value)
    if isinstance(value, Seq):
        inner = ", ".join(display(v) for v in value)
        if value.is_list:
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, tuple):
        return "(" + ", ".join(display(v) for v in value) + ")"
    return str(value)


def json_value(value):
    """A JSON-safe form: numbers, booleans, null, lists or strings (NaN/Inf as strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return value


def numeric(value) -> float | None:
    """The value as a float when it is a number or boolean, else None (for ordering and correlation)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def is_replicate(name: str, replicate_params: tuple[str, ...]) -> bool:
    """Seed-like params: exact names from config, matched case-insensitively, also after a prefix
    (`trainer.seed`, `data/random_state`), since loggers often nest them."""
    lowered = name.lower()
    leaf = lowered.replace("/", ".").rsplit(".", 1)[-1]
    names = {p.lower() for p in replicate_params}
    return lowered in names or leaf in names
