"""Read-only batched reader for MLflow's SQL schema: one implementation for sqlite and PostgreSQL.

One get_metric_history call per run and metric is ~50x slower than reading the metric rows of many runs
per query, so we read MLflow's tables directly, after checking the schema revision MLflow wrote.
Every read is its own short transaction of at most ROWS_PER_TRANSACTION metric rows: on sqlite a reader
holds a lock that a training script logging to the same file must wait for, and its MLflow gives up
after the busy timeout ("database is locked"). A run is read in one snapshot (its status, params and
metric rows agree), unless it alone holds more rows than that: then each metric is read page by page,
pages cut between steps (a step holding a whole page, as when points are logged without one, is one read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from posthoc.errors import StoreUnreachable
from posthoc.model import Run, Series
from posthoc.store import (
    DEFAULT_WORKSPACE,
    decode_infinities,
    pack_by_size,
    unknown_experiments_error,
    unknown_runs_error,
)

# Alembic revisions written by MLflow 1.x–3.17 (mlflow/store/db_migrations/versions); all keep the
# columns read here. An unknown revision means a newer MLflow, read through its own client or not at all.
KNOWN_SCHEMA_REVISIONS = frozenset(["0584bdc529eb", "0a8213491aaa", "0c779009ac13", "17e22815139b", "181f10493468", "1971f2d9a75b", "1a0cddfcaa16", "1b5f0d9ad7c1", "1bd49d398cd23", "27a6a02d2cf1", "2b4d017a5e9b", "2c33131f4dae", "2d6e25af4d3e", "3500859a5d39", "39d1c3be5f05", "3da73c924c2f", "400f98739977", "4465047574b1", "451aebb31d03", "534353b11cbc", "5b0e9adcef9c", "5d2d30f0abce", "6953534de441", "6f8d9c3b2a1e", "71994744cf8e", "728d730b5ebd", "75868b020152", "76601a5f987d", "770bee3ae1dd", "7ac759974ad8", "7d34483879f0", "7f2a7d5fae7d", "84291f40a231", "867495a8f9d4", "89d3d66ed43f", "89d4b8295536", "90e64c465722", "97727af70f4d", "a1b2c3d4e5f6", "a5b4c3d2e1f0", "a8b9c0d1e2f3", "a8c4a736bde6", "acf3f17fdcc7", "ae8bbe7743c9", "b7c8d9e0f1a2", "b7e2c1a4d9f3", "b7e4c1a90f23", "bd07f7e963c5", "bda7b8c39065", "bf29a5ff90ea", "c1d2e3f4a5b6", "c3d6457b6d8a", "c3d9e7f1a2b4", "c48cb773bb87", "c8d9e0f1a2b3", "c9d4e5f6a7b8", "cbc13b556ace", "cc1f77228345", "cfd24bdc0731", "d0e1f2a3b4c5", "d3e4f5a6b7c8", "da6fb0208061", "dc11669786a5", "de4033877273", "df50e92ffc5e", "e1f2a3b4c5d6", "f5a4f2784254"])
REQUIRED_COLUMNS = {
    "runs": {"run_uuid", "name", "experiment_id", "status", "start_time", "end_time", "lifecycle_stage"},
    "metrics": {"run_uuid", "key", "step", "timestamp", "value", "is_nan"},
    "params": {"run_uuid", "key", "value"},
    "tags": {"run_uuid", "key", "value"},
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "latest_metrics": {"run_uuid", "step", "timestamp"},
}
BATCH_RUNS = 200
# ~50 ms of rows: scripts/bench_read.py reads ~1M rows/s on sqlite on two shared cores, so a writer
# with a 1 s busy timeout keeps a 20x margin; PostgreSQL readers block no writer but stay as short.
ROWS_PER_TRANSACTION = 50_000
# NaN comes back as NULL (MLflow writes value 0 with is_nan set); ordered by the (run_uuid, key, step) index
POINTS = "SELECT step, timestamp, CASE WHEN is_nan THEN NULL ELSE value END FROM metrics"

Query = Callable[..., list]
PointsReader = Callable[[Query, list[str], int], "dict[str, dict[str, Series]] | None"]


class SqlStore:
    """MLflow's tables read through a DB-API connection (sqlite3 or a PostgreSQL driver), never written."""

    def __init__(self, uri: str, connection, *, mark: str, begin: str, errors: type[Exception],
                 workspace: str = DEFAULT_WORKSPACE, read_points: PointsReader | None = None):
        """`connection`: DB-API, not autocommitting reads outside `begin`; `errors`: the driver's base error;
        `read_points`: the dialect's fastest way to read many runs' metric rows (default: index order)."""
        self.uri = uri
        self.read_points = read_points or read_points_in_index_order
        self.connection = connection
        self.mark = mark  # the driver's parameter marker: "?" (sqlite3) or "%s" (psycopg)
        self.begin = begin  # the statement that opens a read-only snapshot
        self.errors = errors
        self.workspace = workspace
        self.notice: str | None = None
        self.has_workspaces = False

    @contextmanager
    def _snapshot(self) -> Iterator[Query]:
        """One short read-only transaction; every query inside sees the same data."""
        cursor = self.connection.cursor()

        def query(sql: str, params=()) -> list:
            cursor.execute(sql.replace("?", self.mark), list(params))
            return cursor.fetchall()

        try:
            cursor.execute(self.begin)
            yield query
        except self.errors as exc:
            raise StoreUnreachable(f"cannot read {self.uri}: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            try:
                self.connection.rollback()  # ends the snapshot: there is nothing to commit
            except self.errors:
                pass

    def schema_problem(self) -> str | None:
        """Why MLflow's tables here are not ones we read directly, or None when they are."""
        with self._snapshot() as query:
            revision = query("SELECT version_num FROM alembic_version")
            columns = {table: self._columns(table) for table in REQUIRED_COLUMNS}
        if not revision or revision[0][0] not in KNOWN_SCHEMA_REVISIONS:
            found = repr(revision[0][0]) if revision else "empty"
            return f"its schema revision ({found}) is not one posthoc knows (MLflow 1.x–3.17)"
        missing = sorted(f"{t}.{c}" for t, wanted in REQUIRED_COLUMNS.items() for c in wanted - columns[t])
        if missing:
            return f"its tables lack {', '.join(missing)}"
        self.has_workspaces = "workspace" in columns["experiments"]  # MLflow 3.17 (revision 1b5f0d9ad7c1)
        return None

    def _columns(self, table: str) -> set[str]:
        cursor = self.connection.cursor()  # any driver describes a result: no catalog query per dialect
        cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return {column[0] for column in cursor.description}

    def _experiments(self, query: Query, extra: str = "", params=()) -> list:
        """Active experiments of our workspace; a store without workspaces holds only MLflow's default one."""
        if self.has_workspaces:
            extra, params = extra + " AND workspace = ?", [*params, self.workspace]
        elif self.workspace != DEFAULT_WORKSPACE:
            return []
        return query(f"SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active'{extra} "
                     "ORDER BY experiment_id", params)

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        with self._snapshot() as query:
            marks = ",".join("?" * len(names))
            found = {name: str(eid) for eid, name in self._experiments(query, f" AND name IN ({marks})", names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise unknown_experiments_error(missing, self.uri, self.workspace)
        return {n: found[n] for n in names}

    def experiment_names(self) -> list[str]:
        with self._snapshot() as query:
            return [name for _, name in self._experiments(query)]

    def _active_runs(self, select: str, experiment_ids: list[str], join: str = "", group: str = "") -> list:
        if not experiment_ids:
            return []  # PostgreSQL rejects an empty IN ()
        marks = ",".join("?" * len(experiment_ids))
        with self._snapshot() as query:
            return query(f"SELECT {select} FROM runs r {join} WHERE r.experiment_id IN ({marks}) "
                         f"AND r.lifecycle_stage = 'active' {group}", [int(e) for e in experiment_ids])

    def run_ids(self, experiment_ids: list[str]) -> list[str]:
        rows = self._active_runs("r.run_uuid", experiment_ids, group="ORDER BY r.start_time, r.run_uuid")
        return [row[0] for row in rows]

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        rows = self._active_runs("r.run_uuid, r.status, r.end_time, MAX(m.timestamp)", experiment_ids,
                                 join="LEFT JOIN latest_metrics m ON m.run_uuid = r.run_uuid",
                                 group="GROUP BY r.run_uuid, r.status, r.end_time")
        return {run_id: (status, int(max(end or 0, latest or 0))) for run_id, status, end, latest in rows}

    def run_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        rows = self._active_runs("p.run_uuid, p.key, p.value", experiment_ids,
                                 join="JOIN params p ON p.run_uuid = r.run_uuid")
        out: dict[str, dict[str, str]] = {}
        for run_id, key, value in rows:
            out.setdefault(run_id, {})[key] = value
        return out

    def iter_runs(self, run_ids: list[str]) -> Iterator[list[Run]]:
        for start in range(0, len(run_ids), BATCH_RUNS):
            batch = run_ids[start : start + BATCH_RUNS]
            marks = ",".join("?" * len(batch))
            with self._snapshot() as query:  # latest_metrics holds one row per run and key: a cheap plan
                sizes = dict(query(f"SELECT r.run_uuid, SUM(COALESCE(m.step, 0) + 1) FROM runs r LEFT JOIN "
                                   f"latest_metrics m ON m.run_uuid = r.run_uuid WHERE r.run_uuid IN ({marks}) "
                                   "GROUP BY r.run_uuid", batch))
            missing = [r for r in batch if r not in sizes]
            if missing:
                raise unknown_runs_error(missing, self.uri)
            runs: dict[str, Run] = {}
            for group in pack_by_size(((r, int(sizes[r] or 0)) for r in batch), ROWS_PER_TRANSACTION):
                runs.update(self._read_group(group))
            missing = [r for r in batch if r not in runs]  # deleted for good while we read
            if missing:
                raise unknown_runs_error(missing, self.uri)
            yield [runs[r] for r in batch]

    def _read_group(self, run_ids: list[str]) -> dict[str, Run]:
        """These runs in one snapshot if they hold few enough rows, else in smaller groups or pages."""
        with self._snapshot() as query:
            metrics = self.read_points(query, run_ids, ROWS_PER_TRANSACTION)
            if metrics is not None:
                return self._runs(query, run_ids, metrics)
        if len(run_ids) == 1:
            return self._read_paged(run_ids[0])
        # more rows than latest_metrics suggested (points logged without a step): plan again, exactly
        marks = ",".join("?" * len(run_ids))
        with self._snapshot() as query:
            exact = dict(query(f"SELECT run_uuid, COUNT(*) FROM metrics WHERE run_uuid IN ({marks}) GROUP BY run_uuid",
                               run_ids))
        groups = pack_by_size(((r, exact.get(r, 0)) for r in run_ids), ROWS_PER_TRANSACTION)
        return {k: v for group in groups for k, v in self._read_group(group).items()}

    def _read_paged(self, run_id: str) -> dict[str, Run]:
        """A run with more rows than one transaction may read: each metric page by page, cut between steps."""
        with self._snapshot() as query:
            keys = [key for (key,) in query("SELECT DISTINCT key FROM metrics WHERE run_uuid = ?", [run_id])]
            runs = self._runs(query, [run_id], {})
        if run_id in runs:
            runs[run_id].metrics.update((key, self._read_series(run_id, key)) for key in keys)
        return runs

    def _read_series(self, run_id: str, key: str) -> Series:
        pages, first_step = [], None
        while True:
            with self._snapshot() as query:
                after = "" if first_step is None else f"AND step >= {int(first_step)} "
                rows = query(f"{POINTS} WHERE run_uuid = ? AND key = ? {after}ORDER BY step LIMIT "
                             f"{ROWS_PER_TRANSACTION}", [run_id, key])
                if len(rows) == ROWS_PER_TRANSACTION and rows[0][0] == rows[-1][0]:
                    # a whole page at one step (points logged without a step): that step in one read
                    rows = query(f"{POINTS} WHERE run_uuid = ? AND key = ? AND step = {int(rows[0][0])}",
                                 [run_id, key])
                    pages.append(rows)
                    first_step = rows[0][0] + 1
                    continue
            if len(rows) < ROWS_PER_TRANSACTION:
                pages.append(rows)
                break
            first_step = rows[-1][0]  # the last step may go on in the next page: read it there, whole
            pages.append([row for row in rows if row[0] != first_step])
        steps, timestamps, values = _points([row for page in pages for row in page])
        return Series.from_points(key, steps, values, timestamps)

    def _runs(self, query: Query, run_ids: list[str], metrics: dict[str, dict[str, Series]]) -> dict[str, Run]:
        marks = ",".join("?" * len(run_ids))
        infos = query("SELECT run_uuid, name, experiment_id, status, start_time, end_time FROM runs "
                      f"WHERE run_uuid IN ({marks})", run_ids)
        params, tags = (_key_values(query, table, marks, run_ids) for table in ("params", "tags"))
        return {
            run_id: Run(run_id=run_id, run_name=name or "", experiment_id=str(experiment_id), status=status,
                        start_time=start_time, end_time=end_time, params=params.get(run_id, {}),
                        tags=tags.get(run_id, {}), metrics=metrics.get(run_id, {}))
            for run_id, name, experiment_id, status, start_time, end_time in infos
        }


def read_points_in_index_order(query: Query, run_ids: list[str], max_rows: int) -> dict[str, dict[str, Series]] | None:
    """Each run's Series, read in the order of MLflow's (run_uuid, key, step) index and cut at the counts of
    each (run, key); None when they hold more than max_rows rows (sqlite walks that index without sorting)."""
    marks = ",".join("?" * len(run_ids))
    counts = query(f"SELECT run_uuid, key, COUNT(*) FROM metrics WHERE run_uuid IN ({marks}) "
                   "GROUP BY run_uuid, key ORDER BY run_uuid, key", run_ids)
    if sum(count for *_, count in counts) > max_rows:
        return None
    rows = query(f"{POINTS} WHERE run_uuid IN ({marks}) ORDER BY run_uuid, key, step", run_ids)
    return _split_series(counts, rows)


def _key_values(query: Query, table: str, marks: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for run_id, key, value in query(f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", run_ids):
        out.setdefault(run_id, {})[key] = value
    return out


def _points(rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, timestamps, values) of (step, timestamp, value) rows, MLflow's NaN/Inf encoding mapped back."""
    table = np.array(rows, dtype=np.float64).reshape(-1, 3)  # None (a NaN row) becomes nan
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), decode_infinities(table[:, 2])


def _split_series(counts: list, rows: list) -> dict[str, dict[str, Series]]:
    """Cut rows sorted by (run, key, step) into one Series per (run, key), using the counts of the same snapshot."""
    steps, timestamps, values = _points(rows)
    out: dict[str, dict[str, Series]] = {}
    start = 0
    for run_id, key, count in counts:
        end = start + count
        out.setdefault(run_id, {})[key] = Series.from_points(key, steps[start:end], values[start:end], timestamps[start:end])
        start = end
    return out
