"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and scripts/bench_read.py.

Debian's postgresql binaries, a temporary data directory, a free port, trust authentication for one
local user. initdb refuses to run as root, so as root the server runs as the `postgres` user the
package creates. `template` is a database holding MLflow's schema: copying it is much faster than
letting MLflow run its ~70 migrations for every fresh database.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

USER = "posthoc"
TEMPLATE = "mlflow_template"


def binaries() -> Path | None:
    """The newest installed server binaries (Debian: /usr/lib/postgresql/<major>/bin), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class LocalPostgres:
    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
        self.root = Path(tempfile.mkdtemp(prefix="posthoc-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_uri = f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}"

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self.as_user, *command], capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()[-2000:]}\n{tail}")

    def start(self) -> LocalPostgres:
        data = self.root / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        # fsync off: a test server's durability is worthless and its fsyncs cost seconds
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=300"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(sql)

    def create_mlflow_template(self) -> None:
        """MLflow builds its schema in a subprocess, so no pooled connection keeps the template busy."""
        self.execute(f"CREATE DATABASE {TEMPLATE}")
        code = "import sys; from mlflow.tracking import MlflowClient; MlflowClient(sys.argv[1]).search_experiments()"
        result = subprocess.run([sys.executable, "-c", code, f"{self.base_uri}/{TEMPLATE}"], capture_output=True,
                                text=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
        if result.returncode != 0:
            raise RuntimeError(f"MLflow could not create its schema: {result.stderr[-2000:]}")

    def create_database(self, template: str | None = TEMPLATE) -> str:
        """A fresh database (a copy of MLflow's empty schema by default); returns its URI."""
        name = f"db_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return f"{self.base_uri}/{name}"
