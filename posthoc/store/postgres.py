"""MLflow's PostgreSQL store, read by the shared SQL reader (posthoc/store/sql.py) in read-only transactions.

SQLAlchemy (an MLflow dependency) turns the tracking URI into a driver connection exactly as MLflow does;
the queries then go straight to the driver. Every transaction is REPEATABLE READ (one snapshot for a
run's rows and counts) and READ ONLY, so the server itself refuses any write.
"""

from __future__ import annotations

from posthoc.errors import StoreUnreachable
from posthoc.store import DEFAULT_WORKSPACE
from posthoc.store.sql import SqlStore

READ_ONLY_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


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
    store = SqlStore(uri, connection, mark="%s", begin=READ_ONLY_SNAPSHOT, errors=dbapi.Error, workspace=workspace)
    problem = store.schema_problem()
    if problem is None:
        return store
    connection.close()
    from posthoc.store.client import open_read_only_client

    # libpq's options: every transaction of MLflow's own client starts read-only, so it cannot migrate
    read_only = url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    return open_read_only_client(uri, read_only.render_as_string(hide_password=False), problem, workspace)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
