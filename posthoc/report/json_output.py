"""JSON for a pipe: one object for a single run asked by id, else an array; JSONL: one object per line."""

from __future__ import annotations

import json

from posthoc.model import Diagnosis


def to_json(diagnoses: list[Diagnosis], fmt: str, single: bool) -> str:
    """NaN/Inf never reach the output as invalid JSON: to_dict() already turned them into null or strings."""
    dicts = [d.to_dict() for d in diagnoses]
    if fmt == "jsonl":
        return "".join(json.dumps(d, allow_nan=False) + "\n" for d in dicts)
    return json.dumps(dicts[0] if single and len(dicts) == 1 else dicts, indent=2, allow_nan=False) + "\n"
