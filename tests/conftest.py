"""Fixtures build real MLflow stores from real numpy training loops (posthoc.demo); nothing is mocked."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posthoc.demo.loops import TrainConfig, train
from posthoc.demo.record import log_history, open_client
from posthoc.store import load_runs, open_store

ROOT = Path(__file__).resolve().parents[1]
QUICK = TrainConfig(dataset="wine", depth=1, hidden=16, steps=120, val_every=10)


class StoreBuilder:
    """Logs training runs into one real MLflow store and remembers their ids by name."""

    def __init__(self, uri: str):
        self.uri = uri
        self.client = open_client(uri)
        self.ids: dict[str, str] = {}
        # a sqlite store's default artifact root is ./mlruns in the working directory: keep them beside the db
        self.artifact_root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts" if uri.startswith("sqlite:///") else None

    def experiment(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        if existing:
            return existing.experiment_id
        location = None if self.artifact_root is None else (self.artifact_root / name).as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    def add(self, name: str, config: TrainConfig = QUICK, experiment: str = "tests", status: str = "FINISHED",
            tags: dict | None = None) -> str:
        run_id = log_history(self.client, self.experiment(experiment), train(config), name, tags=tags, status=status)
        self.ids[name] = run_id
        return run_id

    def load(self, name: str):
        return load_runs(open_store(self.uri), [self.ids[name]])[0]


@pytest.fixture(scope="session")
def empty_sqlite_store(tmp_path_factory) -> Path:
    """An empty MLflow sqlite store, made once: MLflow's ~70 migrations cost seconds per fresh file."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)
    return path


@pytest.fixture(scope="session", autouse=True)
def repo_stays_clean():
    """Tests write only under their tmp dirs: nothing new may appear at the top of the repository."""
    before = set(os.listdir(ROOT))
    yield
    created = set(os.listdir(ROOT)) - before - {".pytest_cache"}
    assert not created, f"the tests wrote {sorted(created)} into {ROOT}"


@pytest.fixture
def sqlite_store(tmp_path, empty_sqlite_store) -> StoreBuilder:
    shutil.copy(empty_sqlite_store, tmp_path / "mlflow.db")
    return StoreBuilder(f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture
def file_store(tmp_path, monkeypatch) -> StoreBuilder:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 writes file stores only with this
    return StoreBuilder(str(tmp_path / "mlruns"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 and a free port, stopped after the session."""
    root = tmp_path_factory.mktemp("server")
    port = _free_port()
    log = open(root / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'backend.db'}", "--default-artifact-root", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, "MLFLOW_TRACKING_URI": ""},
    )
    uri = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if requests.get(uri + "/health", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
    else:
        process.kill()
        raise RuntimeError("mlflow server did not start in 90 s")
    yield uri
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def server_store(mlflow_server) -> StoreBuilder:
    return StoreBuilder(mlflow_server)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 (Debian's binaries; .ci/run installs them), stopped after the session."""
    from local_postgres import LocalPostgres, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = LocalPostgres().start()
    try:
        server.create_mlflow_template()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_uri(postgres_server) -> str:
    """A fresh database on that server holding MLflow's empty schema: postgresql+psycopg://posthoc@127.0.0.1:PORT/DB."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_store(postgres_uri) -> StoreBuilder:
    return StoreBuilder(postgres_uri)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """The `posthoc demo` experiment in a sqlite store, built once per session."""
    from posthoc.demo.runs import build_demo

    path = tmp_path_factory.mktemp("demo") / "mlflow.db"
    build_demo(f"sqlite:///{path}", "posthoc-demo")
    return path
