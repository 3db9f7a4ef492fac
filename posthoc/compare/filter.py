"""A small, safe subset of MLflow's search syntax, applied to loaded runs:
`params.X = 'v'`, `!=`, and numeric `<`, `<=`, `>`, `>=`, joined by AND (also `tags.X`).

Values compare as typed params (so `params.lr = '0.10'` matches a logged "0.1"); a run that did not log
the param never matches, as in MLflow. Anything else is a BadInput that names what is supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from posthoc.compare.params import numeric, parse_param, sort_key
from posthoc.errors import BadInput
from posthoc.model import Run

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<key>(?:params|param|tags|tag)\.(?:`[^`]+`|"[^"]+"|[A-Za-z0-9_\-./:]+))
    | (?P<op>!=|<=|>=|=|<|>)
    | '(?P<sq>[^']*)' | "(?P<dq>[^"]*)"
    | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<bad>\S)
    )""", re.VERBOSE)
SUPPORTED = "supported: params.NAME = 'value' | != | < | <= | > | >= NUMBER, joined by AND"


@dataclass(frozen=True)
class Clause:
    kind: str  # "params" | "tags"
    name: str
    op: str
    value: object


def parse_filter(text: str) -> list[Clause]:
    """Parse the filter string; BadInput names the first unsupported piece."""
    tokens = _tokens(text)
    clauses: list[Clause] = []
    position = 0
    while True:
        if position + 3 > len(tokens):
            raise BadInput(f"--filter {text!r}: incomplete condition; {SUPPORTED}")
        (k_kind, key), (o_kind, op), (v_kind, value) = tokens[position:position + 3]
        if k_kind != "key":
            raise BadInput(f"--filter {text!r}: expected params.NAME, got {key!r}; {SUPPORTED}")
        if o_kind != "op":
            raise BadInput(f"--filter {text!r}: expected an operator after {key}, got {op!r}; {SUPPORTED}")
        if v_kind not in ("sq", "dq", "num"):
            raise BadInput(f"--filter {text!r}: expected a quoted value or number after {key} {op}, got {value!r}; "
                           f"{SUPPORTED}")
        kind, name = key.split(".", 1)
        parsed = parse_param(value)
        if op in ("<", "<=", ">", ">=") and numeric(parsed) is None:
            raise BadInput(f"--filter {text!r}: {op} needs a number, got {value!r}")
        clauses.append(Clause("tags" if kind.startswith("tag") else "params", name.strip('`"'), op, parsed))
        position += 3
        if position == len(tokens):
            return clauses
        kind_, word = tokens[position]
        if kind_ != "word" or word.upper() != "AND":
            raise BadInput(f"--filter {text!r}: only AND joins conditions, got {word!r}; {SUPPORTED}")
        position += 1


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        if kind == "bad":
            raise BadInput(f"--filter {text!r}: unexpected {match.group(kind)!r}; {SUPPORTED}")
        tokens.append((kind, match.group(kind)))
    if not tokens:
        raise BadInput(f"--filter is empty; {SUPPORTED}")
    return tokens


def _matches(run: Run, clause: Clause) -> bool:
    source = run.params if clause.kind == "params" else run.tags
    if clause.name not in source:
        return False
    value = parse_param(source[clause.name])
    if clause.op in ("=", "!="):
        return (sort_key(value) == sort_key(clause.value)) == (clause.op == "=")
    number = numeric(value)
    if number is None:
        return False
    limit = numeric(clause.value)
    return {"<": number < limit, "<=": number <= limit, ">": number > limit, ">=": number >= limit}[clause.op]


def filter_runs(runs: list[Run], text: str | None) -> list[Run]:
    """The runs that satisfy every clause of `text` (all runs when text is None)."""
    if text is None:
        return list(runs)
    clauses = parse_filter(text)
    return [r for r in runs if all(_matches(r, c) for c in clauses)]
