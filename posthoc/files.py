"""Atomic file writes: a reader never sees a half-written report or state file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    `durable=False` skips the fsync: still never half-written for readers or after a killed process, only
    not guaranteed to survive a power cut (the nightly job re-checks its reports instead, 5x faster)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
