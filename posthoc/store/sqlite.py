"""Read-only fast path for MLflow's sqlite store: a few SQL queries per batch of runs, no mlflow import.

Importing mlflow costs over a second; reading with sqlite3 and numpy keeps `posthoc analyze` interactive
and reads whole experiments ~50x faster than one get_metric_history call per run and metric.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import numpy as np

from posthoc.errors import StoreUnreachable
from posthoc.model import Run, Series
from posthoc.store import (
    decode_infinities,
    unknown_experiments_error,
    unknown_runs_error,
)

# Alembic revisions written by MLflow 1.x–3.17 (mlflow/store/db_migrations/versions); all keep the
# columns read here. An unknown revision means a newer MLflow: we fall back to its own client.
KNOWN_SCHEMA_REVISIONS = frozenset(["0584bdc529eb", "0a8213491aaa", "0c779009ac13", "17e22815139b", "181f10493468", "1971f2d9a75b", "1a0cddfcaa16", "1b5f0d9ad7c1", "1bd49d398cd23", "27a6a02d2cf1", "2b4d017a5e9b", "2c33131f4dae", "2d6e25af4d3e", "3500859a5d39", "39d1c3be5f05", "3da73c924c2f", "400f98739977", "4465047574b1", "451aebb31d03", "534353b11cbc", "5b0e9adcef9c", "5d2d30f0abce", "6953534de441", "6f8d9c3b2a1e", "71994744cf8e", "728d730b5ebd", "75868b020152", "76601a5f987d", "770bee3ae1dd", "7ac759974ad8", "7d34483879f0", "7f2a7d5fae7d", "84291f40a231", "867495a8f9d4", "89d3d66ed43f", "89d4b8295536", "90e64c465722", "97727af70f4d", "a1b2c3d4e5f6", "a5b4c3d2e1f0", "a8b9c0d1e2f3", "a8c4a736bde6", "acf3f17fdcc7", "ae8bbe7743c9", "b7c8d9e0f1a2", "b7e2c1a4d9f3", "b7e4c1a90f23", "bd07f7e963c5", "bda7b8c39065", "bf29a5ff90ea", "c1d2e3f4a5b6", "c3d6457b6d8a", "c3d9e7f1a2b4", "c48cb773bb87", "c8d9e0f1a2b3", "c9d4e5f6a7b8", "cbc13b556ace", "cc1f77228345", "cfd24bdc0731", "d0e1f2a3b4c5", "d3e4f5a6b7c8", "da6fb0208061", "dc11669786a5", "de4033877273", "df50e92ffc5e", "e1f2a3b4c5d6", "f5a4f2784254"])
REQUIRED_COLUMNS = {
    "runs": {"run_uuid", "name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage"},
    "metrics": {"run_uuid", "key", "step", "timestamp", "value", "is_nan"},
    "params": {"run_uuid", "key", "value"},
    "tags": {"run_uuid", "key", "value"},
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "latest_metrics": {"run_uuid", "timestamp"},
}
BATCH_RUNS = 200


def open_sqlite(uri: str):
    """The fast reader when the schema is one we know, else the MLflow client; never creates a file."""
    path = Path(unquote(urlparse(uri).path[1:] if uri.startswith("sqlite:///") else urlparse(uri).path))
    if not path.is_file():
        raise StoreUnreachable(
            f"no MLflow store at {path.absolute()}: the file does not exist; check --tracking-uri "
            f"(run `posthoc demo` to create a demo store)"
        )
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        columns = {
            table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            for table in REQUIRED_COLUMNS
        }
    except sqlite3.DatabaseError as exc:
        raise StoreUnreachable(f"cannot read {path} as an MLflow sqlite store: {exc}") from exc
    known = revision is not None and revision[0] in KNOWN_SCHEMA_REVISIONS
    if known and all(REQUIRED_COLUMNS[t] <= columns[t] for t in REQUIRED_COLUMNS):
        return SqliteStore(uri, connection)
    connection.close()
    from posthoc.store.client import ClientStore

    return ClientStore(uri)


class SqliteStore:
    def __init__(self, uri: str, connection: sqlite3.Connection):
        self.uri = uri
        self.connection = connection

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        found = {}
        for name in names:
            row = self.connection.execute(
                "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'", (name,)
            ).fetchone()
            if row is not None:
                found[name] = str(row[0])
        missing = [n for n in names if n not in found]
        if missing:
            raise unknown_experiments_error(missing, self.uri)
        return found

    def experiment_names(self) -> list[str]:
        rows = self.connection.execute(
            "SELECT name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY experiment_id"
        )
        return [row[0] for row in rows]

    def run_ids(self, experiment_ids: list[str]) -> list[str]:
        marks = ",".join("?" * len(experiment_ids))
        rows = self.connection.execute(
            f"SELECT run_uuid FROM runs WHERE experiment_id IN ({marks}) AND lifecycle_stage = 'active' "
            "ORDER BY start_time, run_uuid",
            [int(e) for e in experiment_ids],
        )
        return [row[0] for row in rows]

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        marks = ",".join("?" * len(experiment_ids))
        rows = self.connection.execute(
            "SELECT r.run_uuid, r.status, MAX(COALESCE(MAX(m.timestamp), 0), COALESCE(r.end_time, 0)) "
            f"FROM runs r LEFT JOIN latest_metrics m ON m.run_uuid = r.run_uuid "
            f"WHERE r.experiment_id IN ({marks}) AND r.lifecycle_stage = 'active' GROUP BY r.run_uuid",
            [int(e) for e in experiment_ids],
        )
        return {run_id: (status, int(version)) for run_id, status, version in rows}

    def run_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        marks = ",".join("?" * len(experiment_ids))
        rows = self.connection.execute(
            "SELECT p.run_uuid, p.key, p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid "
            f"WHERE r.experiment_id IN ({marks}) AND r.lifecycle_stage = 'active'",
            [int(e) for e in experiment_ids],
        )
        out: dict[str, dict[str, str]] = {}
        for run_id, key, value in rows:
            out.setdefault(run_id, {})[key] = value
        return out

    def iter_runs(self, run_ids: list[str]) -> Iterator[list[Run]]:
        for start in range(0, len(run_ids), BATCH_RUNS):
            yield self._load_batch(run_ids[start : start + BATCH_RUNS])

    def _load_batch(self, run_ids: list[str]) -> list[Run]:
        marks = ",".join("?" * len(run_ids))
        db = self.connection
        db.execute("BEGIN")  # one snapshot, so counts and rows agree while a run is still logging
        try:
            infos = db.execute(
                "SELECT run_uuid, name, experiment_id, status, start_time, end_time FROM runs "
                f"WHERE run_uuid IN ({marks})",
                run_ids,
            ).fetchall()
            params = _key_values(db, "params", marks, run_ids)
            tags = _key_values(db, "tags", marks, run_ids)
            counts = db.execute(
                f"SELECT run_uuid, key, COUNT(*) FROM metrics WHERE run_uuid IN ({marks}) "
                "GROUP BY run_uuid, key ORDER BY run_uuid, key",
                run_ids,
            ).fetchall()
            # the (run_uuid, key, step) index delivers this order without a sort; NaN comes back as NULL
            rows = db.execute(
                f"SELECT step, timestamp, CASE is_nan WHEN 0 THEN value END FROM metrics WHERE run_uuid IN ({marks}) "
                "ORDER BY run_uuid, key, step",
                run_ids,
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreUnreachable(f"cannot read {self.uri}: {exc}") from exc
        finally:
            db.execute("COMMIT")
        found = {info[0] for info in infos}
        missing = [r for r in run_ids if r not in found]
        if missing:
            raise unknown_runs_error(missing, self.uri)
        metrics = _split_series(counts, rows)
        runs = {
            run_id: Run(
                run_id=run_id,
                run_name=name or "",
                experiment_id=str(experiment_id),
                status=status,
                start_time=start_time,
                end_time=end_time,
                params=params.get(run_id, {}),
                tags=tags.get(run_id, {}),
                metrics=metrics.get(run_id, {}),
            )
            for run_id, name, experiment_id, status, start_time, end_time in infos
        }
        return [runs[r] for r in run_ids]


def _key_values(db: sqlite3.Connection, table: str, marks: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for run_id, key, value in db.execute(f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", run_ids):
        out.setdefault(run_id, {})[key] = value
    return out


def _split_series(counts: list[tuple], rows: list[tuple]) -> dict[str, dict[str, Series]]:
    """Cut the sorted rows into one Series per (run, key), mapping MLflow's NaN/Inf encoding back."""
    table = np.array(rows, dtype=np.float64).reshape(-1, 3)  # None (a NaN row) becomes nan
    steps, timestamps = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
    values = decode_infinities(table[:, 2])
    out: dict[str, dict[str, Series]] = {}
    start = 0
    for run_id, key, count in counts:
        end = start + count
        out.setdefault(run_id, {})[key] = Series.from_points(key, steps[start:end], values[start:end], timestamps[start:end])
        start = end
    return out
