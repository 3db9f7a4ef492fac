"""MLflow's sqlite store, opened read-only for the shared SQL reader (posthoc/store/sql.py); no mlflow import.

Importing mlflow costs over a second; sqlite3 and numpy keep `posthoc analyze` interactive and read whole
experiments ~50x faster than one get_metric_history call per run and metric.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from posthoc.errors import StoreUnreachable
from posthoc.store import DEFAULT_WORKSPACE
from posthoc.store.sql import SqlStore

BUSY_TIMEOUT_SECONDS = 10.0  # how long we wait out a writer's lock; it holds one only for its own commit
WAL_FORMAT = 2  # bytes 18-19 of the header of a WAL-mode database (sqlite.org/fileformat.html, 1.3.3)


def open_sqlite(uri: str, workspace: str = DEFAULT_WORKSPACE):
    """The fast reader when the schema is one we know, else MLflow's client read-only; never creates a file."""
    path = Path(unquote(urlparse(uri).path[1:] if uri.startswith("sqlite:///") else urlparse(uri).path))
    if path.is_dir():
        raise StoreUnreachable(f"no MLflow store at {path.absolute()}: it is a directory, not a sqlite file; check "
                               "--tracking-uri (a ./mlruns file store is given as a path, without sqlite:///)")
    if not path.is_file():
        raise StoreUnreachable(
            f"no MLflow store at {path.absolute()}: the file does not exist; check --tracking-uri "
            f"(run `posthoc demo` to create a demo store)"
        )
    try:
        connection = _connect_read_only(path)
        store = SqlStore(uri, connection, mark="?", begin="BEGIN", errors=sqlite3.Error, workspace=workspace)
        problem = store.schema_problem()
    except StoreUnreachable as exc:
        if not isinstance(exc.__cause__, sqlite3.Error):
            raise
        raise StoreUnreachable(f"cannot read {path} as an MLflow sqlite store: {exc.__cause__}") from exc
    except sqlite3.Error as exc:
        raise StoreUnreachable(f"cannot read {path} as an MLflow sqlite store: {exc}") from exc
    if problem is None:
        return store
    connection.close()
    from posthoc.store.client import open_read_only_client

    # mode=ro, so MLflow cannot migrate; the path %2F-quoted, so MLflow sees no parent directory to create
    read_only = f"sqlite:///file:{quote(str(path.absolute()), safe='')}?mode=ro&uri=true"
    return open_read_only_client(uri, read_only, problem, workspace)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """mode=ro: sqlite never creates or writes the file; autocommit, so each transaction is one we open."""
    location = quote(str(path.absolute()))
    connection = sqlite3.connect(f"file:{location}?mode=ro", uri=True, isolation_level=None,
                                 timeout=BUSY_TIMEOUT_SECONDS)
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opening is lazy: open it now
        return connection
    except sqlite3.OperationalError as exc:
        connection.close()
        cannot_write = getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
        if not (cannot_write and _is_wal(path)):
            raise
    # A WAL-mode file needs a -shm index beside it, which sqlite cannot create in a directory we may not
    # write to. immutable=1 reads the main file with no locks and no WAL: exact when no writer is active
    # (no -wal file, or an empty one, as a clean close leaves it). With frames still in the WAL it would
    # silently miss their transactions, or see pages a checkpoint is rewriting, so then we refuse.
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreUnreachable(
            f"{path} is in WAL mode with transactions still in {wal.name} and its directory is read-only, so "
            "sqlite cannot read them; read it after its writer closes it, or from a directory you may write"
        )
    return sqlite3.connect(f"file:{location}?mode=ro&immutable=1", uri=True, isolation_level=None)


def _is_wal(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == WAL_FORMAT
