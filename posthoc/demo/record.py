"""Log a trained history into MLflow as one run, the way a training script would (batched calls)."""

from __future__ import annotations

import time

from posthoc.demo.loops import History, config_params


def open_client(uri: str):
    """An MlflowClient for writing demo runs, with MLflow's refusals turned into clear errors."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from posthoc.errors import BadInput, StoreUnreachable

    if uri.startswith(("http://", "https://")):
        from posthoc.store.client import probe_server

        probe_server(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except MlflowException as exc:
        if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
            raise BadInput(
                f"MLflow 3 writes file stores such as {uri} only with MLFLOW_ALLOW_FILE_STORE=true: "
                "set it, or use sqlite:///mlflow.db"
            ) from exc
        raise StoreUnreachable(f"cannot open tracking store {uri}: {exc.message.splitlines()[0]}") from exc
    return client


def log_history(client, experiment_id: str, history: History, run_name: str, tags: dict[str, str] | None = None,
                status: str = "FINISHED", ms_per_step: int = 20, params: dict[str, str] | None = None) -> str:
    """Log a trained history as one MLflow run with batched calls; returns the run id.

    `params` replaces the default (every knob), e.g. to log only what a real trainer would."""
    from mlflow.entities import Metric, Param, RunTag

    start = int(time.time() * 1000)
    run = client.create_run(experiment_id, run_name=run_name, start_time=start)
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in (config_params(history.config) if params is None else params).items()]
    run_tags = [RunTag(k, v) for k, v in (tags or {}).items()]
    stepped = history.config.log_steps  # False: like mlflow.log_metric(k, v) without a step, which records 0
    metrics = [
        Metric(key, float(value), start + int(step) * ms_per_step, int(step) if stepped else 0)
        for key, (steps, values) in history.metrics.items()
        for step, value in zip(steps, values)
    ]
    client.log_batch(run_id, params=params[:100], tags=run_tags)
    for offset in range(100, len(params), 100):  # MLflow's per-call limit on params, as the HF callback splits them
        client.log_batch(run_id, params=params[offset : offset + 100])
    for offset in range(0, len(metrics), 1000):  # MLflow's per-call limit
        client.log_batch(run_id, metrics=metrics[offset : offset + 1000])
    if status != "RUNNING":
        last = max((int(s[-1]) for s, _ in history.metrics.values() if len(s)), default=0)
        client.set_terminated(run_id, status=status, end_time=start + last * ms_per_step + 1)
    return run_id
