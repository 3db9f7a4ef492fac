"""Which runs tonight's job analyzes: new, changed, unfinished or previously failed ones, and the settings key
that makes every run due again when posthoc or the analysis settings change."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from posthoc import __version__
from posthoc.config import Config
from posthoc.errors import BadInput
from posthoc.nightly.state import RunRecord


def parse_since(text: str) -> int:
    """ISO date or date-time (UTC unless it says otherwise) → epoch milliseconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(f"--since {text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def analysis_key(config: Config) -> str:
    """Changes when posthoc or the analysis settings change, so every run is analyzed again."""
    settings = json.dumps({"roles": config.roles, "thresholds": config.thresholds}, sort_keys=True, default=str)
    return f"{__version__}:{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def select_runs(versions: dict[str, tuple[str, int]], records: dict[str, RunRecord], key: str,
                since_ms: int | None, lost: set[str] = frozenset()) -> list[str]:
    """New, changed, unfinished or previously failed runs, and runs whose report was lost, in store order."""
    todo = []
    for run_id, (_status, version) in versions.items():
        if since_ms is not None and version < since_ms:
            continue
        record = records.get(run_id)
        if (record is None or record.version != version or record.analysis_key != key or not record.done
                or run_id in lost):
            todo.append(run_id)
    return todo
