"""Atomic file writes: a reader never sees a half-written report or state file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; reports are meant to be read (served, mailed) like any file the user writes
FILE_MODE = 0o666 & ~_umask()  # read once at import, while the process has a single thread


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`.

    `durable=False` skips the fsync: still never half-written for readers or after a killed process, only
    not guaranteed to survive a power cut (the nightly job re-checks its reports instead, 5x faster)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
