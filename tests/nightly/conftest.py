"""Helpers for the nightly tests: run the job through the CLI and read what it wrote."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from tests.conftest import QUICK

NAN_RUN = dataclasses.replace(QUICK, corrupt_steps=(60,), corrupt_scale=float("inf"))
HF_RUN = dataclasses.replace(QUICK, naming="hf")  # logs `loss`, not `train_loss`

try:
    from posthoc.report import render_digest, render_run_report  # noqa: F401

    REPORT_MISSING = False
except ImportError:
    REPORT_MISSING = True

requires_report = pytest.mark.skipif(REPORT_MISSING, reason="posthoc.report not available yet")


def nightly(uri: str, out: Path, *args: str):
    """`posthoc nightly` in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(cli, ["nightly", "--tracking-uri", uri, "--out", str(out), *args])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def state_runs(out: Path) -> dict[str, dict]:
    return {r["run_id"]: r for r in json.loads((out / "state.json").read_text())["runs"]}


def reports(out: Path) -> set[str]:
    return {p.stem for p in (out / "runs").glob("*.html")}


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def tree_digest(path: Path) -> str:
    """sha256 over every file under `path` (or of the file itself): proves a store was not written."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def bump(builder, run_id: str, key: str = "train_loss", value: float = 0.5) -> None:
    """The run logs one more point, later than anything it logged before (it resumed training)."""
    history = builder.client.get_metric_history(run_id, key)
    last = max(history, key=lambda m: (m.timestamp, m.step))
    builder.client.log_metric(run_id, key, value, timestamp=last.timestamp + 1000, step=last.step + 1)
