"""Spark over JDBC on a real PostgreSQL MLflow backend (a server the fixture starts on 127.0.0.1, filled by
MLflow's own client): the same verdict on every run as the single-machine reader."""

from __future__ import annotations

import dataclasses

from posthoc.config import Config
from posthoc.demo.runs import DEMO_RUNS
from posthoc.nightly import NightlyOptions, run_nightly
from posthoc.spark.engine import analyze_on_spark
from posthoc.spark.sources import from_jdbc
from posthoc.store import open_store
from tests.spark.test_engine import _verdicts


def test_spark_reads_a_postgresql_backend_over_jdbc_with_the_same_verdicts(spark, postgres_store, tmp_path):
    for name, config in DEMO_RUNS:  # every demo pattern (NaN and Inf included), shortened to stay quick
        postgres_store.add(name, dataclasses.replace(config, steps=min(config.steps, 400)), experiment="pg")
    uri = postgres_store.uri
    run_nightly(open_store(uri), NightlyOptions(out_dir=tmp_path / "local", workers=1), Config())
    source = from_jdbc(spark, uri)
    assert source.experiment_ids(["pg"])
    run_nightly(source, NightlyOptions(out_dir=tmp_path / "spark"), Config(), analyze=analyze_on_spark)
    expected, got = _verdicts(tmp_path / "local"), _verdicts(tmp_path / "spark")
    assert len(expected) == len(DEMO_RUNS) and got == expected
    assert {verdict[1] for verdict in got.values()} >= {"nan_inf", "exploding_gradients", "healthy"}
