"""MLflow params are strings: turn them into typed values so "0.1" and "0.10" are the same setting,
numbers sort as numbers, and seeds can be set aside as replicates rather than treated as settings."""

from __future__ import annotations

import ast
import math
import re

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
    (`trainer.seed`, `data/random_state`) or as a suffix (`data_seed`), since loggers often nest them."""
    lowered = name.lower()
    leaf = lowered.replace("/", ".").rsplit(".", 1)[-1]
    names = {p.lower() for p in replicate_params}
    return lowered in names or leaf in names or any(leaf.endswith("_" + p) for p in names)


# Where loggers put identifiers: output/logging paths, run names and ids, hosts and times (HF TrainingArguments
# output_dir/logging_dir/run_name/hub_model_id; Lightning's log_dir/ckpt_path; Keras' filepath).
_ID_NAME = re.compile(r"(^|[._/-])(run_name|logdir|filepath|filename|uuid|hostname|host|timestamp|datetime|date|time)$"
                      r"|(^|_)(dir|path|file|id|uri|url)$", re.IGNORECASE)
_ID_VALUE = re.compile(r"[/\\]"  # a path
                       r"|\d{4}-?\d{2}-?\d{2}[T _-]?\d{2}[:-]?\d{2}"  # an ISO-like date-time
                       r"|[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}"  # HF's default logging_dir time: Dec01_01-23-45
                       r"|^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}|^[0-9a-f]{16,}$")  # a uuid or an MLflow run id
NEARLY_EVERY_RUN = 0.9  # distinct in ≥ 90% of the runs; a setting repeats its values across runs
MANY_RUNS = 10  # from here a free-text value unique to every run is taken for a name, whatever its shape


def identifier_reason(name: str, texts: list[str | None], distinct: int, n_runs: int) -> str | None:
    """Why a param looks like an identifier (a path, time or name unique to each run), or None for a setting.
    A param that takes few values across many runs is never one: it repeats, so runs can be compared on it."""
    if name.lower().startswith("mlflow."):
        return "MLflow system param"
    if distinct < max(2, math.ceil(NEARLY_EVERY_RUN * n_runs)):
        return None
    where = "differs in every run" if distinct == n_runs else f"differs in {distinct} of {n_runs} runs"
    values = [t for t in texts if t is not None]
    if _ID_NAME.search(name) or all(_ID_VALUE.search(t) for t in values):
        return where
    if n_runs >= MANY_RUNS and not all(numeric(parse_param(t)) is not None for t in values):
        return where
    return None
