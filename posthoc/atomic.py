"""Atomic file writes: a reader never sees a half-written report or state file; a write that cannot happen
is one clear error (bad --out: exit 2; disk full: exit 1), never a traceback."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from posthoc.errors import BadInput, PosthocError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; reports are meant to be read (served, mailed) like any file the user writes
FILE_MODE = 0o666 & ~_umask()  # read once at import, while the process has a single thread
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_error(path: Path, exc: OSError) -> PosthocError:
    """A full disk is the machine's problem (exit 1); anything else means a bad output path (exit 2)."""
    if exc.errno in DISK_FULL:
        return PosthocError(f"cannot write {path}: {exc.strerror or exc}")
    return BadInput(f"cannot write {path}: {exc.strerror or exc}; choose another --out")


def check_writable(path: Path) -> None:
    """Fail before any work when `path` cannot be created: under a file, or in a directory we cannot write."""
    path = Path(path).absolute()
    if path.exists():
        return
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BadInput(f"cannot write {path}: {ancestor} is a file, not a directory; choose another --out")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write {path}: {ancestor} is not writable; choose another --out")


class _Output:
    """The text handle an atomic writer hands out: a failed write says which file and why."""

    def __init__(self, handle, path: Path):
        self._handle, self._path = handle, path

    def write(self, text: str) -> None:
        try:
            self._handle.write(text)
        except OSError as exc:
            raise write_error(self._path, exc) from exc


@contextmanager
def atomic_writer(path: Path, durable: bool = True) -> Iterator[_Output]:
    """Write through a temp file in the same directory, then rename it over `path`; on any error the temp
    file is removed and `path` keeps its old content.

    `durable=False` skips the fsync: still never half-written for readers or after a killed process, only
    not guaranteed to survive a power cut (the nightly job re-checks its reports instead, 5x faster)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from exc
    handle = os.fdopen(fd, "w", encoding="utf-8")
    try:
        os.fchmod(fd, FILE_MODE)
        yield _Output(handle, path)  # the caller's own errors pass through unchanged
        try:
            handle.flush()
            if durable:
                os.fsync(fd)
            handle.close()
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, exc) from exc
    finally:
        if not handle.closed:
            try:
                handle.close()
            except OSError:
                pass  # the buffer could not be flushed (disk full): already reported
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write `text` to `path` atomically (see atomic_writer)."""
    with atomic_writer(path, durable) as out:
        out.write(text)
