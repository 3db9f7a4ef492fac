"""The per-run function Spark runs on each executor: rebuild the Run from its rows, analyze it with the very
code the single-machine job uses (nightly.job.analyze_run), return one row. No pyspark import here."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from posthoc import __version__
from posthoc.config import Config
from posthoc.nightly.job import analyze_run
from posthoc.store.longformat import run_from_metric_frame

OUTPUT_SCHEMA = ("run_id string, experiment_id string, run_name string, run_status string, start_time long, "
                 "end_time long, params string, status string, primary string, findings string, roles string, "
                 "diagnosis string, sketch string, error string, posthoc_version string")
OUTPUT_COLUMNS = [part.split()[0] for part in OUTPUT_SCHEMA.split(", ")]


def run_diagnoser(config: Config, out_dir: str, usual_params: dict[str, dict[str, str]], contexts: dict):
    """The cogroup function Spark ships to every executor (a closure: Spark checks a function's arity), with
    what the local workers get too: usual params and each experiment's tests (nightly.job.experiment_contexts)."""

    def diagnose_group(metrics: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
        if runs.empty:  # rows of a run that is not (or no longer) active
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        run = run_from_metric_frame(runs.iloc[0].to_dict(), metrics)
        outcome = analyze_run(run, config, Path(out_dir), usual_params.get(run.experiment_id),
                              contexts.get(run.experiment_id))
        d = outcome.diagnosis
        return pd.DataFrame([{
            "run_id": run.run_id, "experiment_id": run.experiment_id, "run_name": run.run_name,
            "run_status": run.status, "start_time": run.start_time, "end_time": run.end_time,
            "params": json.dumps(run.params), "status": d and d["status"], "primary": d and d["primary"],
            "findings": d and json.dumps(d["findings"]), "roles": d and json.dumps(d["roles"]),
            "diagnosis": d and json.dumps(d), "sketch": json.dumps(outcome.sketch), "error": outcome.error,
            "posthoc_version": __version__,
        }], columns=OUTPUT_COLUMNS)

    return diagnose_group
