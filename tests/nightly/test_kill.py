"""SIGKILL the job half-way, run it again: every run reported exactly once, no half-written files."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from posthoc.demo.loops import train
from posthoc.nightly.state import JOURNAL_FILE
from tests.conftest import QUICK
from tests.nightly.conftest import (
    NAN_RUN,
    reports,
    requires_report,
    state_runs,
    summary,
    temp_files,
)

pytestmark = requires_report
ROOT = Path(__file__).resolve().parents[2]


def _job_processes(marker: str) -> list[int]:
    """Pids whose command line holds `marker` (the job and its forked workers share it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_sigkill_then_rerun_reports_every_run_once(sqlite_store, tmp_path):
    from posthoc.demo.record import log_history

    experiment_id = sqlite_store.experiment("exp")
    histories = [train(QUICK), train(NAN_RUN)]
    ids = [log_history(sqlite_store.client, experiment_id, histories[i % 2], f"run-{i}") for i in range(120)]
    out = tmp_path / "nightly-out"
    command = [sys.executable, "-m", "posthoc", "nightly", "--tracking-uri", sqlite_store.uri, "--out", str(out),
               "--experiment", "exp", "--workers", "2"]
    job = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "runs").glob("*.html"))) < 10:
        time.sleep(0.002)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL
    done_before = reports(out)
    assert 10 <= len(done_before) < len(ids), "the job was not interrupted half-way; give it more runs"
    # orphaned workers notice and leave between two runs
    deadline = time.time() + 10
    while _job_processes(str(out)) and time.time() < deadline:
        time.sleep(0.1)
    assert _job_processes(str(out)) == []

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 1, rerun.stderr  # half the runs are NaN runs: --fail-on failed
    assert reports(out) == set(ids)
    records = state_runs(out)
    assert set(records) == set(ids) and summary(out)["runs_known"] == len(ids)
    assert summary(out)["counts"]["status"] == {"healthy": 60, "failed": 60}
    # the failures the killed job found are tonight's news too: cron must hear of all 60
    assert len(summary(out)["new_failures"]) == 60 and summary(out)["tonight"]["status"]["failed"] == 60
    assert summary(out)["carried_over"] + summary(out)["analyzed_tonight"] == len(ids)
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and summary(out)["new_failures"] == [], again.stderr  # reported once, not every night
    assert summary(out)["analyzed_tonight"] <= len(ids) - len(done_before) + 2 * 8  # at most in-flight chunks redone
    index = (out / "index.html").read_text()
    table = index[index.index('<table id="runs"'):]  # "new tonight" above it links runs too
    assert all(table.count(f"runs/{run_id}.html") == 1 for run_id in ids)
    assert temp_files(out) == [] and not (out / JOURNAL_FILE).exists()  # compacted into state.json
