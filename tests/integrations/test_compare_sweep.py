"""`posthoc compare` on a LightGBM learning-rate sweep with seeds, logged by mlflow.lightgbm.autolog()."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from posthoc.cli import cli

LEARNING_RATES = (0.02, 0.1, 0.5)


def test_lr_sweep_compares_on_the_resolved_validation_loss(autologged):
    lgb = pytest.importorskip("lightgbm")
    import mlflow
    from corpus.autolog import autolog

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 6))
    y = (x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=1500) > 0).astype(float)
    autolog("lightgbm")
    autologged.use_experiment("lgb-lr-sweep")
    for lr in LEARNING_RATES:
        for seed in (0, 1):
            with mlflow.start_run(run_name=f"lr{lr}-seed{seed}"):
                train = lgb.Dataset(x[:1000], y[:1000])
                lgb.train({"objective": "binary", "learning_rate": lr, "num_leaves": 15, "bagging_fraction": 0.7,
                           "bagging_freq": 1, "seed": seed, "verbose": -1, "num_threads": 1}, train, num_boost_round=60,
                          valid_sets=[train, lgb.Dataset(x[1000:], y[1000:], reference=train)])
    autologged.use_experiment("autolog")
    result = CliRunner().invoke(cli, ["compare", "--experiment", "lgb-lr-sweep", "--tracking-uri", autologged.uri,
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output)
    assert comparison["target"] == "valid_1-binary_logloss"
    assert comparison["outcome_metric"]["mode"] == "min"
    lr = next(c for c in comparison["comparisons"] if c["param"] == "learning_rate")
    assert sorted(float(v["value"]) for v in lr["values"]) == list(LEARNING_RATES)
    assert all(v["outcome"]["n"] == 2 and v["outcome"]["mean"] is not None for v in lr["values"])
    assert "seed" in comparison["replicate_params"]
