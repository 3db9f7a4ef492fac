"""MLflow's PostgreSQL store, read by the shared SQL reader (posthoc/store/sql.py) in read-only transactions.

SQLAlchemy (an MLflow dependency) turns the tracking URI into a driver connection exactly as MLflow does;
the queries then go straight to the driver. Every transaction is REPEATABLE READ (one snapshot for a
run's rows and counts) and READ ONLY, so the server itself refuses any write.

Metric rows come packed: one result row per run and metric holding its points as big-endian
(step, timestamp, value) triples, grouped by hashing. Sorting 50,000 rows by MLflow's text keys took four
fifths of the time of reading them, and one Python tuple per point most of the rest (scripts/bench_read.py).
"""

from __future__ import annotations

import numpy as np

from posthoc.errors import StoreUnreachable
from posthoc.model import Series
from posthoc.store import DEFAULT_WORKSPACE, decode_infinities
from posthoc.store.sql import Query, SqlStore

READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
PACKED_POINT = np.dtype([("step", ">i8"), ("timestamp", ">i8"), ("value", ">f8")])  # int8send/float8send: network order
# NaN rows hold value 0 with is_nan set (MLflow's encoding); the LIMIT stops a run that outgrew latest_metrics
PACKED_SERIES = ("SELECT run_uuid, key, string_agg(int8send(step) || int8send(timestamp) || float8send(CASE WHEN is_nan "
                 "THEN 'NaN' ELSE value END), ''::bytea) FROM (SELECT * FROM metrics WHERE run_uuid = ANY(%s) LIMIT %s) m "
                 "GROUP BY run_uuid, key")
# The planner expects thousands of (run, key) groups and would sort them by their text keys, five times slower
# than the hash aggregate (EXPLAIN ANALYZE, 12 runs x 4,000 rows); compiling such a short query is never paid back.
HASH_NOT_SORT = "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"


def open_postgres(uri: str, workspace: str = DEFAULT_WORKSPACE):
    """The fast reader when the schema is one we know, else MLflow's client on a read-only session."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        url = sqlalchemy.engine.make_url(uri)
        if url.drivername == "postgresql" and not _importable("psycopg2"):
            url = url.set(drivername="postgresql+psycopg")  # before SQLAlchemy 2.1 a bare scheme means psycopg2
        engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    except ModuleNotFoundError as exc:
        raise StoreUnreachable(f"reading {uri} needs a PostgreSQL driver: pip install 'posthoc[postgres]' ({exc})") from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreUnreachable(f"cannot connect to {uri}: {_first_line(exc)}") from exc
    dbapi = engine.dialect.dbapi
    try:
        connection = engine.raw_connection()  # the pool's proxy: dropping it would close the connection
    except (sqlalchemy.exc.SQLAlchemyError, dbapi.Error) as exc:  # the pool raises the driver's own errors
        raise StoreUnreachable(f"cannot connect to {uri}: {_first_line(exc)}") from exc
    store = SqlStore(uri, connection, mark="%s", begin=READ_ONLY_SNAPSHOT, errors=dbapi.Error, workspace=workspace,
                     read_points=read_packed_points)
    problem = store.schema_problem()
    if problem is None:
        return store
    connection.close()
    from posthoc.store.client import open_read_only_client

    # libpq's options: every transaction of MLflow's own client starts read-only, so it cannot migrate
    read_only = url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    return open_read_only_client(uri, read_only.render_as_string(hide_password=False), problem, workspace)


def read_packed_points(query: Query, run_ids: list[str], max_rows: int) -> dict[str, dict[str, Series]] | None:
    """Each run's Series from one packed row per metric; None when the runs hold more than max_rows rows.

    Points keep the order the server scanned them in; Series.from_points orders them by step and timestamp."""
    query(HASH_NOT_SORT)  # set_config(..., true): for this transaction only
    packed = query(PACKED_SERIES, [run_ids, max_rows + 1])
    if sum(len(points) for *_, points in packed) > max_rows * PACKED_POINT.itemsize:
        return None
    out: dict[str, dict[str, Series]] = {}
    for run_id, key, points in packed:
        table = np.frombuffer(points, PACKED_POINT)
        values = decode_infinities(table["value"].astype(np.float64))
        out.setdefault(run_id, {})[key] = Series.from_points(key, table["step"], values, table["timestamp"])
    return out


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
