"""Spark tests run on a real local Spark (the `spark` extra and a Java runtime; CI installs both)."""

from __future__ import annotations

import os

import pytest

if os.environ.get("CI"):
    import pyspark  # noqa: F401  (in CI a missing extra must fail, never skip)
else:
    pytest.importorskip("pyspark", reason="pip install -e '.[spark]' (and a Java 17+ runtime) to run the Spark tests")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local[2] session for every Spark test; `posthoc nightly --engine spark` in-process reuses it."""
    from posthoc.spark.engine import spark_session

    os.environ.setdefault("SPARK_LOCAL_DIRS", str(tmp_path_factory.mktemp("spark-local")))
    # the warehouse (created with the global temp views) would land in the working directory: the repository
    session = spark_session("local[2]", {"spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("warehouse"))})
    yield session
    session.stop()
