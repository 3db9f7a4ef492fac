"""Every backend answers the same way: runs of deleted experiments, MLflow's Inf encoding, workspaces."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.errors import BadInput
from posthoc.store import load_runs, open_store
from tests.conftest import QUICK

SHORT = dataclasses.replace(QUICK, steps=30)
BACKENDS = ["sqlite_store", "file_store", "server_store", "postgres_store"]
LARGEST = np.finfo(np.float64).max


@pytest.mark.parametrize("builder_name", BACKENDS)
def test_a_run_of_a_deleted_experiment_is_found_by_id(builder_name, request):
    """As MLflow's get_run finds it; --experiment no longer lists it."""
    builder = request.getfixturevalue(builder_name)
    run_id = builder.add("orphan", SHORT, experiment="doomed")
    builder.client.delete_experiment(builder.experiment("doomed"))
    store = open_store(builder.uri)
    [run] = load_runs(store, [run_id])
    assert run.run_id == run_id and len(run.metrics["train_loss"]) == SHORT.steps
    with pytest.raises(BadInput, match="experiment 'doomed' not found"):
        store.experiment_ids(["doomed"])


@pytest.mark.parametrize("builder_name", BACKENDS)
def test_the_largest_float_reads_as_inf_on_every_backend(builder_name, request):
    """SQL stores write ±Inf as ±max float and cannot tell them apart; the file store writes 'inf'. Both
    read the same everywhere; a value just below max float stays finite (docs/contracts.md)."""
    from mlflow.entities import Metric

    builder = request.getfixturevalue(builder_name)
    run_id = builder.add("edges", SHORT)
    now = int(time.time() * 1000)
    logged = [1.0, LARGEST, 1.797e308, -LARGEST, float("inf"), float("-inf"), float("nan")]
    builder.client.log_batch(run_id, metrics=[Metric("edge", v, now + s, s) for s, v in enumerate(logged)])
    series = load_runs(open_store(builder.uri), [run_id])[0].metrics["edge"]
    np.testing.assert_array_equal(series.values, [1.0, np.inf, 1.797e308, -np.inf, np.inf, -np.inf, np.nan])


# MLflow 3.17 workspaces: enabled by MLFLOW_ENABLE_WORKSPACES in the process that creates them
MAKE_WORKSPACES = '''
import json, sys
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric
uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
ids = {}
for workspace in ("default", "team"):
    if workspace != "default":
        mlflow.create_workspace(workspace)
    mlflow.set_workspace(workspace)
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("shared")
    run_id = client.create_run(experiment_id, run_name=workspace).info.run_id
    client.log_batch(run_id, metrics=[Metric("train_loss", 1.0 / (s + 1), 1700000000000 + s, s) for s in range(20)])
    ids[workspace] = (experiment_id, run_id)
print(json.dumps(ids))
'''


@pytest.mark.parametrize("builder_name", ["sqlite_store", "postgres_store"])
def test_experiment_names_are_looked_up_in_the_workspace(builder_name, request):
    """Two workspaces each hold an experiment 'shared': the name means the one in the chosen workspace."""
    builder = request.getfixturevalue(builder_name)
    made = subprocess.run([sys.executable, "-c", MAKE_WORKSPACES, builder.uri], capture_output=True, text=True,
                          env={**os.environ, "MLFLOW_ENABLE_WORKSPACES": "true", "MLFLOW_WORKSPACE": ""}, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    ids = json.loads(made.stdout.splitlines()[-1])
    assert ids["default"][0] != ids["team"][0]
    assert open_store(builder.uri).experiment_ids(["shared"]) == {"shared": ids["default"][0]}
    team = open_store(builder.uri, workspace="team")
    assert team.experiment_ids(["shared"]) == {"shared": ids["team"][0]} and team.experiment_names() == ["shared"]
    for args, env in ((["--workspace", "team"], {}), ([], {"MLFLOW_WORKSPACE": "team"})):
        result = CliRunner().invoke(cli, ["analyze", "--experiment", "shared", "--format", "json",
                                          "--tracking-uri", builder.uri, *args], env=env)
        assert result.exit_code == 0, result.output
        assert [d["run_id"] for d in json.loads(result.stdout)] == [ids["team"][1]]
    result = CliRunner().invoke(cli, ["analyze", "--experiment", "shared", "--workspace", "nope",
                                      "--tracking-uri", builder.uri])
    assert result.exit_code == 2
    assert result.stderr == (f"posthoc: error: experiment 'shared' not found in workspace 'nope' of {builder.uri}; "
                             "check the name and --workspace\n")
