"""Numbers, evidence and status words preformatted for templates, which only loop and print."""

from __future__ import annotations

import re

from posthoc.model import json_number
from posthoc.numbers import short as number

STATUS_WORD = {"failed": "FAILED", "warning": "WARNING", "healthy": "HEALTHY", "inconclusive": "INCONCLUSIVE"}
# shape + word carry the status; colour only repeats it (colour-blind and print safe)
STATUS_MARK = {"failed": "✖", "warning": "▲", "healthy": "✔", "inconclusive": "○"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲", "info": "●"}
_SCHEME = re.compile(r"^\s*[a-zA-Z][a-zA-Z0-9+.\-]*:")
RUN_NOTES = {
    "RUNNING": "This run is still RUNNING: it was analyzed on what it had logged so far.",
    "FAILED": "This run ended FAILED (it crashed or was stopped by an error): analyzed on what it logged before.",
    "KILLED": "This run was KILLED: analyzed on what it logged before it was stopped.",
    "SCHEDULED": "This run is only SCHEDULED: it may not have logged anything yet.",
}


def value_text(value) -> str:
    """Evidence values after json_number: numbers, strings, lists and dicts, one line each."""
    value = json_number(value)
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, str):
        return {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}.get(value, value)
    return number(value)


def evidence_rows(evidence: dict) -> list[dict]:
    return [{"key": str(key), "value": value_text(value)} for key, value in evidence.items()]


def span_text(start, end) -> str:
    if start is None:
        return "whole run"
    return f"step {start}" if start == end or end is None else f"steps {start}–{end}"


def inconclusive_reason(diagnosis) -> str:
    """What kept an inconclusive run from a verdict (the insufficient_data finding's message)."""
    return next((f.message for f in diagnosis.findings if f.pattern == "insufficient_data"), "")


def safe_href(href: str | None) -> str | None:
    """Only relative links: the digest links to sibling reports, never to javascript:, data: or the network."""
    if not href or _SCHEME.match(href) or href.lstrip().startswith("//"):
        return None
    return href
