"""Reading MLflow: one read-only batched SQL reader for sqlite and PostgreSQL, a direct reader for file
stores, the MLflow client for servers and other databases.

Every store offers the same four calls; none of them ever writes to the tracking store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import numpy as np

from posthoc.errors import BadInput, StoreUnreachable, redact
from posthoc.model import Run

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # MLflow 3's own default, relative to the working directory
DEFAULT_WORKSPACE = "default"  # MLflow's DEFAULT_WORKSPACE_NAME (mlflow/utils/workspace_utils.py)


class Store(Protocol):
    uri: str
    notice: str | None  # why this store is read the slow way (MLflow's client), for the CLI to say

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        """name → id for each active experiment; BadInput names the unknown ones."""

    def experiment_names(self) -> list[str]:
        """Names of every active experiment, by id: what a nightly job sweeps when none is named."""

    def run_ids(self, experiment_ids: list[str]) -> list[str]:
        """Active runs of these experiments, oldest first."""

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        """run id → (status, latest metric timestamp or end time): cheap change detection."""

    def run_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        """run id → params of every active run, without metrics: what an experiment's runs share."""

    def iter_runs(self, run_ids: list[str]) -> Iterator[list[Run]]:
        """The runs, whole, in batches (in the order asked); BadInput names unknown ids."""


MAX_FLOAT = 1.7976931348623157e308  # MLflow's SQL schema writes ±Inf as ±max float


def decode_infinities(values: np.ndarray) -> np.ndarray:
    """Map MLflow's SQL encoding of ±Inf back; the server passes it through unchanged."""
    values[values >= MAX_FLOAT] = np.inf
    values[values <= -MAX_FLOAT] = -np.inf
    return values


def pack_by_size(sized: Iterable[tuple[str, int]], max_rows: int, max_count: int | None = None) -> Iterator[list[str]]:
    """Consecutive ids in groups of fewer than max_rows rows (and at most max_count ids); a bigger one goes alone."""
    group: list[str] = []
    rows = 0
    for item, size in sized:
        if group and (len(group) == max_count or rows + size >= max_rows):
            yield group
            group, rows = [], 0
        group.append(item)
        rows += size
    if group:
        yield group


def load_runs(store: Store, run_ids: list[str]) -> list[Run]:
    return [run for batch in store.iter_runs(list(run_ids)) for run in batch]


def resolve_tracking_uri(explicit: str | None, environment: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else MLflow's default."""
    return explicit or environment or DEFAULT_TRACKING_URI


def open_store(uri: str, workspace: str = DEFAULT_WORKSPACE) -> Store:
    """Pick the reader for this URI; a missing local store is an error and is never created.

    `workspace` scopes experiment names (MLflow 3.17 workspaces); run ids are unique store-wide."""
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        from posthoc.store.sqlite import open_sqlite

        return open_sqlite(uri, workspace)
    if scheme.split("+")[0] == "postgresql":
        from posthoc.store.postgres import open_postgres

        return open_postgres(uri, workspace)
    if scheme in ("http", "https", "databricks"):
        from posthoc.store.client import ClientStore

        return ClientStore(uri, workspace=workspace)
    if scheme in ("", "file"):
        from posthoc.store.filestore import FileStore

        path = Path(unquote(urlparse(uri).path) if scheme == "file" else uri)
        return FileStore(uri, path, workspace)
    if scheme.split("+")[0] in ("mysql", "mssql"):
        from posthoc.store.client import ClientStore

        return ClientStore(uri, workspace=workspace)  # says it is the slow path: store.notice
    raise BadInput(f"unsupported tracking URI {uri!r}: use sqlite:///PATH, a directory, or http(s)://HOST")


RUN_ID_LENGTH = 32  # MLflow run ids are uuid4 hex
MIN_PREFIX = 4  # as git: a shorter prefix is more likely a typo than an abbreviation


def expand_run_ids(store: Store, ids: list[str]) -> list[str]:
    """Full run ids for unique prefixes of active runs, as git accepts abbreviated commits (text output shows
    12 characters); an ambiguous prefix is BadInput listing its matches. Other ids pass through unchanged."""
    short = [i for i in ids if MIN_PREFIX <= len(i) < RUN_ID_LENGTH]
    if not short:
        return ids
    every = store.run_ids(list(store.experiment_ids(store.experiment_names()).values()))
    full = dict(zip(ids, ids))
    for prefix in short:
        matches = [r for r in every if r.startswith(prefix)]
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (f" (+{len(matches) - 5} more)" if len(matches) > 5 else "")
            raise BadInput(f"run id prefix {prefix!r} is ambiguous: it matches {shown}; give more characters")
        if matches:
            full[prefix] = matches[0]
    return list(dict.fromkeys(full[i] for i in ids))


def unknown_runs_error(missing: list[str], uri: str) -> BadInput:
    shown = ", ".join(repr(r) for r in missing[:5]) + (" …" if len(missing) > 5 else "")
    return BadInput(f"run {shown} not found in {redact(uri)}; check the id (posthoc analyze --experiment NAME lists by experiment)")


def unknown_experiments_error(missing: list[str], uri: str, workspace: str = DEFAULT_WORKSPACE) -> BadInput:
    shown = ", ".join(repr(n) for n in missing)
    if workspace == DEFAULT_WORKSPACE:
        return BadInput(f"experiment {shown} not found in {redact(uri)}; check the name")
    return BadInput(f"experiment {shown} not found in workspace {workspace!r} of {redact(uri)}; check the name and --workspace")


__all__ = ["Store", "StoreUnreachable", "load_runs", "open_store", "resolve_tracking_uri"]
