"""posthoc on Spark (the `spark` extra): the same per-run diagnosis as the single-machine nightly job, over
MLflow's SQL backend read by JDBC, a `posthoc export --parquet` folder, or Databricks-shaped tables."""
