"""Selection and state bookkeeping, with no report rendering: pure functions and the state journal."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from posthoc.config import Config
from posthoc.errors import BadInput
from posthoc.nightly.selection import analysis_key, parse_since, select_runs
from posthoc.nightly.state import JOURNAL_FILE, STATE_FILE, NightlyState, RunRecord


def record(run_id: str, version: int = 10, run_status: str = "FINISHED", key: str = "k", **kw) -> RunRecord:
    diagnosis = kw.pop("diagnosis", {"status": "healthy", "primary": "healthy", "findings": [], "errors": []})
    return RunRecord(run_id, "1", run_id, run_status, version, key, "2026-01-01T00:00:00Z", diagnosis, **kw)


def test_select_new_changed_running_errored_and_since():
    records = {
        "same": record("same"),
        "changed": record("changed", version=5),
        "running": record("running", run_status="RUNNING"),
        "errored": record("errored", diagnosis=None, error="TypeError: boom"),
        "old-key": record("old-key", key="old"),
    }
    versions = {name: ("FINISHED", 10) for name in ("same", "changed", "running", "errored", "old-key", "new")}
    assert select_runs(versions, records, "k", None) == ["changed", "running", "errored", "old-key", "new"]
    versions["new"] = ("FINISHED", 3)  # logged before --since: left alone
    assert select_runs(versions, records, "k", since_ms=5) == ["changed", "running", "errored", "old-key"]


def test_parse_since():
    assert parse_since("1970-01-02") == 86_400_000
    assert parse_since("1970-01-01T01:00+01:00") == 0
    with pytest.raises(BadInput, match="--since 'yesterday' is not a date"):
        parse_since("yesterday")


def test_analysis_key_changes_with_thresholds():
    assert analysis_key(Config()) != analysis_key(Config(thresholds={"nan_inf": {"growth_ratio": 3.0}}))
    assert analysis_key(Config()) == analysis_key(Config(source="elsewhere.toml"))


def test_journal_survives_a_torn_line_and_is_compacted(tmp_path):
    with NightlyState(tmp_path) as state:
        state.add(record("a"))
    # what a job killed mid-way leaves: "b" journaled after its report, "c" torn half-way through its line
    line_b = json.dumps(dataclasses.asdict(record("b")))
    (tmp_path / JOURNAL_FILE).write_text(line_b + "\n" + json.dumps(dataclasses.asdict(record("c")))[:40])
    with NightlyState(tmp_path) as state:
        assert sorted(state.records) == ["a", "b"]  # "c" is analyzed again
        assert (tmp_path / JOURNAL_FILE).stat().st_size == 0  # replayed into the snapshot at once
    assert sorted(r["run_id"] for r in json.loads((tmp_path / STATE_FILE).read_text())["runs"]) == ["a", "b"]


def test_one_job_per_directory(tmp_path):
    hold = "from posthoc.nightly.state import NightlyState; import sys; NightlyState(sys.argv[1]).__enter__(); print('ok')"
    with NightlyState(tmp_path):
        other = subprocess.run([sys.executable, "-c", hold, str(tmp_path)], capture_output=True, text=True)
        assert "BadInput: another posthoc nightly is writing" in other.stderr
    assert subprocess.run([sys.executable, "-c", hold, str(tmp_path)], capture_output=True, text=True).stdout == "ok\n"


def test_done_means_finished_and_clean():
    assert record("a").done
    assert not record("a", run_status="RUNNING").done
    assert not record("a", writeback_error="OSError: down").done
    assert not record("a", diagnosis={"status": "healthy", "primary": "healthy", "findings": [],
                                      "errors": ["nan_inf: TypeError: x"]}).done


def test_compact_series_keeps_spikes_nan_and_the_last_value():
    from posthoc.model import Series
    from posthoc.nightly.state import compact_series, restore_series

    steps = np.arange(1000)
    values = 1.0 / (1 + steps) + 0.01 * np.sin(steps)
    values[400] = 50.0  # a spike
    values[700:710] = np.nan
    values[-1] = np.nan
    points = compact_series(Series("loss", steps, values, steps), buckets=60)
    restored = restore_series("loss", points)
    assert len(restored) <= 3 * 60 + 2
    assert 400 in points["steps"] and points["values"][points["steps"].index(400)] == 50.0
    assert 700 in points["steps"] and np.isnan(restored.values[list(restored.steps).index(700)])
    assert restored.steps[-1] == 999 and np.isnan(restored.values[-1])
    assert restored.finite_part().values[-1] == values[998]  # the digest's "last" column stays exact
    json.dumps(points, allow_nan=False)
