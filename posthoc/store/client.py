"""The MLflow client path: tracking servers (bulk history calls, concurrently) and SQL databases we do
not read directly. The only module besides the demo that imports mlflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from posthoc.errors import BadInput, StoreUnreachable, redact
from posthoc.model import Run, Series
from posthoc.store import (
    DEFAULT_WORKSPACE,
    decode_infinities,
    pack_by_size,
    unknown_experiments_error,
    unknown_runs_error,
)

BULK_MAX_ROWS = 25_000  # the server truncates one get-history-bulk response here
BULK_MAX_RUNS = 100  # and refuses more run ids per request
WORKERS = 8
BATCH_RUNS = 200


class ClientStore:
    notice: str | None = None

    def __init__(self, uri: str, client_uri: str | None = None, workspace: str = DEFAULT_WORKSPACE):
        """`client_uri`: what MLflow connects to when it differs from the URI we name (a read-only form)."""
        self.uri = uri
        self.workspace = workspace
        self.is_http = uri.startswith(("http://", "https://"))
        if self.is_http:
            probe_server(uri)
        import mlflow
        from mlflow.tracking import MlflowClient

        try:
            if workspace != DEFAULT_WORKSPACE:
                mlflow.set_workspace(workspace)  # a workspace-enabled server scopes every request by it
            self.client = MlflowClient(tracking_uri=client_uri or uri)
        except Exception as exc:  # the client raises many kinds for a bad backend
            raise StoreUnreachable(f"cannot open tracking store {redact(uri)}: {exc}") from exc
        if not self.is_http:  # a server answers in bulk; anything else costs a request per run and metric
            self.notice = "reading through MLflow's client, one request per run and metric (slow)"

    def _call(self, fn, *args, **kwargs):
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise BadInput(f"{exc.message.splitlines()[0]} ({redact(self.uri)})") from exc
            raise StoreUnreachable(f"tracking store {redact(self.uri)} failed: {exc.message.splitlines()[0]}") from exc
        except OSError as exc:
            raise StoreUnreachable(f"tracking store {redact(self.uri)} is unreachable: {exc}") from exc

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        found = {}
        for name in names:
            experiment = self._call(self.client.get_experiment_by_name, name)
            if experiment is not None and experiment.lifecycle_stage == "active" and self._ours(experiment):
                found[name] = experiment.experiment_id
        missing = [n for n in names if n not in found]
        if missing:
            raise unknown_experiments_error(missing, self.uri, self.workspace)
        return found

    def _ours(self, experiment) -> bool:
        """In our workspace: MLflow before 3.17 has none, which is its default one."""
        return (getattr(experiment, "workspace", None) or DEFAULT_WORKSPACE) == self.workspace

    def experiment_names(self) -> list[str]:
        from mlflow.entities import ViewType

        names, token = [], None
        while True:
            page = self._call(self.client.search_experiments, view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                              page_token=token)
            names += [(e.experiment_id, e.name) for e in page if self._ours(e)]
            token = page.token
            if not token:
                break
        return [name for _, name in sorted(names, key=lambda e: (len(e[0]), e[0]))]  # numeric ids by value

    def _search(self, experiment_ids: list[str]):
        token = None
        while True:
            page = self._call(
                self.client.search_runs, experiment_ids, max_results=10_000,
                order_by=["attributes.start_time ASC"], page_token=token,
            )
            yield from page
            token = page.token
            if not token:
                return

    def run_ids(self, experiment_ids: list[str]) -> list[str]:
        return [r.info.run_id for r in self._search(experiment_ids)]

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        return {
            r.info.run_id: (
                r.info.status,
                max([m.timestamp for m in r.data._metric_objs] + [r.info.end_time or 0]),
            )
            for r in self._search(experiment_ids)
        }

    def run_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        return {r.info.run_id: dict(r.data.params) for r in self._search(experiment_ids)}

    def iter_runs(self, run_ids: list[str]) -> Iterator[list[Run]]:
        with ThreadPoolExecutor(WORKERS) as pool:
            for start in range(0, len(run_ids), BATCH_RUNS):
                yield self._load_batch(run_ids[start : start + BATCH_RUNS], pool)

    def _get_run(self, run_id: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise StoreUnreachable(f"tracking store {redact(self.uri)} failed: {exc.message.splitlines()[0]}") from exc

    def _load_batch(self, run_ids: list[str], pool: ThreadPoolExecutor) -> list[Run]:
        infos = list(pool.map(self._get_run, run_ids))
        missing = [r for r, info in zip(run_ids, infos) if info is None]
        if missing:
            raise unknown_runs_error(missing, self.uri)
        # (key → [(run id, estimated rows)]): the latest step tells roughly how many points a run logged
        wanted: dict[str, list[tuple[str, int]]] = {}
        for info in infos:
            for metric in info.data._metric_objs:
                wanted.setdefault(metric.key, []).append((info.info.run_id, max(int(metric.step) + 1, 1)))
        jobs = [(key, batch) for key, runs in wanted.items() for batch in pack_by_size(runs, BULK_MAX_ROWS, BULK_MAX_RUNS)]
        points: dict[tuple[str, str], list] = {}
        for result in pool.map(lambda job: self._history(*job), jobs):
            for (run_id, key), rows in result.items():
                points.setdefault((run_id, key), []).extend(rows)
        runs = []
        for info in infos:
            run_id = info.info.run_id
            metrics = {}
            for key in {m.key for m in info.data._metric_objs}:
                rows = points.get((run_id, key), [])
                values = decode_infinities(np.array([r[1] for r in rows], dtype=np.float64))
                metrics[key] = Series.from_points(key, [r[0] for r in rows], values, [r[2] for r in rows])
            runs.append(
                Run(
                    run_id=run_id,
                    run_name=info.info.run_name or "",
                    experiment_id=str(info.info.experiment_id),
                    status=info.info.status,
                    start_time=info.info.start_time,
                    end_time=info.info.end_time,
                    params=dict(info.data.params),
                    tags=dict(info.data.tags),
                    metrics=metrics,
                )
            )
        return runs

    def _history(self, key: str, run_ids: list[str]) -> dict[tuple[str, str], list]:
        """(step, value, timestamp) rows of `key` for these runs; splits a batch the server truncated."""
        if not self.is_http:
            return {
                (r, key): [(m.step, m.value, m.timestamp) for m in self._call(self.client.get_metric_history, r, key)]
                for r in run_ids
            }
        rows = self._bulk(key, run_ids)
        if len(rows) < BULK_MAX_ROWS:
            out: dict[tuple[str, str], list] = {(r, key): [] for r in run_ids}
            for m in rows:
                out[(m["run_id"], key)].append((m.get("step", 0), float(m.get("value", "nan")), m.get("timestamp", 0)))
            return out
        if len(run_ids) == 1:  # one run with more points than a bulk page: the paginated call
            history = self._call(self.client.get_metric_history, run_ids[0], key)
            return {(run_ids[0], key): [(m.step, m.value, m.timestamp) for m in history]}
        half = len(run_ids) // 2
        return {**self._history(key, run_ids[:half]), **self._history(key, run_ids[half:])}

    def _bulk(self, key: str, run_ids: list[str]) -> list[dict]:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        response = self._call(
            http_request,
            get_default_host_creds(self.uri),
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
            "GET",
            params={"run_id": run_ids, "metric_key": key, "max_results": BULK_MAX_ROWS},
            max_retries=2,
            timeout=120,
        )
        if response.status_code != 200:
            raise StoreUnreachable(f"tracking server {redact(self.uri)} answered {response.status_code} to a history request")
        return response.json().get("metrics", [])


def probe_server(uri: str) -> None:
    """Fail in seconds, not after the client's retries, when the server is down or answers only errors."""
    import requests

    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=5)
    except requests.RequestException as exc:
        raise StoreUnreachable(
            f"tracking server {redact(uri)} is unreachable ({type(exc).__name__}); is `mlflow server` running there?"
        ) from exc
    if response.status_code >= 500 or response.status_code == 429:  # 4xx: a proxy's auth; the client says more
        raise StoreUnreachable(
            f"tracking server {redact(uri)} answered {response.status_code} {response.reason or ''}".rstrip()
            + " to GET /health; it is down or overloaded: try again later"
        )


def open_read_only_client(uri: str, read_only_uri: str, problem: str, workspace: str = DEFAULT_WORKSPACE) -> ClientStore:
    """MLflow's own client over a read-only connection, for a SQL schema our reader does not know.

    MLflow migrates or initializes a schema it finds out of date; on a read-only connection that write
    fails, and we refuse rather than let MLflow change a store we were asked to read."""
    import mlflow

    try:
        store = ClientStore(uri, client_uri=read_only_uri, workspace=workspace)
        store.client.search_experiments(max_results=1)  # some MLflow versions build (and check) the store lazily
    except Exception as exc:  # MlflowException, SQLAlchemy and driver errors alike
        cause = exc.__cause__ if isinstance(exc, StoreUnreachable) else exc
        reason = str(getattr(cause, "message", None) or cause).strip().splitlines()[0].split(". ")[0]
        raise StoreUnreachable(
            f"cannot read {uri}: {problem}, and MLflow {mlflow.__version__} cannot read it without changing it "
            f"({reason}); posthoc never migrates a store it reads: upgrade posthoc, or run `mlflow db upgrade` on a copy"
        ) from exc
    store.notice = f"{store.notice}: {problem}"
    return store
