"""The nightly job's memory in its output directory: what was analyzed, at which run version, with what result.

A snapshot (`state.json`, rewritten atomically) plus an append-only journal (`state.journal`, one JSON line
per finished run, written after the run's report is in place). A job killed at any point loses at most the
runs whose line was not written yet; the next job replays the journal, drops a torn last line and
analyzes those runs again, overwriting their reports atomically: every run ends up reported exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posthoc.atomic import write_atomic, write_error
from posthoc.errors import BadInput
from posthoc.model import Diagnosis, Finding, Run, Series, Skipped, json_number
from posthoc.report import report_file_name
from posthoc.signal import bucket_extremes

STATE_FILE = "state.json"
JOURNAL_FILE = "state.journal"
LOCK_FILE = ".nightly.lock"
REPORTS_DIR = "runs"
STATE_FORMAT = 1
UNFINISHED = ("RUNNING", "SCHEDULED")  # MLflow statuses of runs that may still log: never marked done


@dataclass
class RunRecord:
    """One run as the job last saw it. `done` False means: analyze it again on the next night."""

    run_id: str
    experiment_id: str
    run_name: str
    run_status: str  # MLflow status when the job selected it
    version: int  # store.run_versions(): latest metric timestamp or end time (ms)
    analysis_key: str  # posthoc version + config: a change re-analyzes every run
    analyzed_at: str
    diagnosis: dict | None = None  # Diagnosis.to_dict(); None when the analysis raised
    error: str | None = None  # why the analysis raised
    writeback_error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    start_time: int | None = None
    end_time: int | None = None
    sketch: dict[str, dict] = field(default_factory=dict)  # metric key → compact_series(): digest sparklines
    read_error: str | None = None  # the store could not read the run (a corrupt file): why
    # whether a finished night's summary has reported this analysis; a killed night's results stay unreported
    # and are reported (new failures, exit code) by the next night that finishes
    reported: bool = True
    reported_status: str | None = None  # the status the last finished night reported for this run

    @property
    def detector_errors(self) -> list[str]:
        return list((self.diagnosis or {}).get("errors", []))

    @property
    def done(self) -> bool:
        return (self.run_status not in UNFINISHED and self.error is None and self.writeback_error is None
                and self.read_error is None and not self.detector_errors)

    @property
    def status(self) -> str | None:
        return None if self.diagnosis is None else self.diagnosis["status"]

    @property
    def problems(self) -> list[tuple[str, str]]:
        """(stage, message) for everything that went wrong with this run's analysis or write-back."""
        out = [("read", f"unreadable: {self.read_error}")] if self.read_error else []
        out += [("analysis", self.error)] if self.error else []
        out += [("detector", e) for e in self.detector_errors]
        out += [("write-back", self.writeback_error)] if self.writeback_error else []
        return out

    def to_diagnosis(self) -> Diagnosis | None:
        """A Diagnosis without metric arrays, enough for the digest of runs analyzed on earlier nights."""
        d = self.diagnosis
        if d is None:
            return None
        metrics = {key: restore_series(key, points) for key, points in self.sketch.items()}
        run = Run(self.run_id, self.run_name, self.experiment_id, d.get("run_status", self.run_status),
                  self.start_time, self.end_time, dict(self.params), {}, metrics)
        findings = tuple(Finding(**{**f, "suggestions": tuple(f.get("suggestions", ()))}) for f in d["findings"])
        skipped = tuple(Skipped(s["detector"], s["reason"]) for s in d.get("skipped", []))
        return Diagnosis(run, d["status"], d["primary"], findings, dict(d.get("roles", {})), skipped,
                         tuple(d.get("errors", [])))


_FIELDS = dataclasses.fields(RunRecord)


class NightlyState:
    """Records keyed by run id, loaded from DIR; one job at a time per DIR (a lock, released on any exit)."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.records: dict[str, RunRecord] = {}
        self._lock = None
        self._journal = None
        self._dirty = False

    @property
    def reports_dir(self) -> Path:
        return self.out_dir / REPORTS_DIR

    def __enter__(self) -> NightlyState:
        try:
            self.reports_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.reports_dir, exc) from exc
        self._acquire_lock()
        remove_temp_files(self.out_dir)
        self.records = self._load()
        if self._dirty:
            self.compact()  # replay the journal now: a torn line never gets followed by new ones
        self._journal = open(self.out_dir / JOURNAL_FILE, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if exc[0] is None and self._dirty:
            self.compact()
        elif exc[0] is None:  # a night with nothing new: no empty journal left behind
            journal = self.out_dir / JOURNAL_FILE
            if journal.is_file() and journal.stat().st_size == 0:
                journal.unlink()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def _acquire_lock(self) -> None:
        self._lock = open(self.out_dir / LOCK_FILE, "a")
        try:
            import fcntl
        except ImportError:  # Windows: no lock, one job per directory is then the user's job
            return
        try:
            # POSIX record locks are per process and not inherited by forked workers, so a killed job's
            # orphaned workers never keep the directory locked
            fcntl.lockf(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            self._lock = None
            raise BadInput(f"another posthoc nightly is writing {self.out_dir} (lock {LOCK_FILE}); "
                           "wait for it to finish or use another --out") from exc

    def _load(self) -> dict[str, RunRecord]:
        records: dict[str, RunRecord] = {}
        snapshot = self.out_dir / STATE_FILE
        if snapshot.is_file():
            try:
                data = json.loads(snapshot.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadInput(f"{snapshot} is not a posthoc nightly state file ({exc}); "
                               "delete it to analyze every run again") from exc
            if data.get("format") != STATE_FORMAT:
                raise BadInput(f"{snapshot} has state format {data.get('format')!r}, expected {STATE_FORMAT}; "
                               "delete it to analyze every run again")
            records = {r["run_id"]: _record(r) for r in data["runs"]}
        journal = self.out_dir / JOURNAL_FILE
        if journal.is_file() and journal.stat().st_size:
            self._dirty = True
            for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = _record(json.loads(line))
                except (json.JSONDecodeError, TypeError, KeyError):
                    continue  # the torn last line of a killed job: that run is analyzed again
                records[record.run_id] = record
        return records

    def add(self, record: RunRecord) -> None:
        """Remember one finished run: journaled at once, so a kill loses nothing already reported."""
        self.records[record.run_id] = record
        self._dirty = True
        self._journal.write(json.dumps(_as_dict(record), allow_nan=False) + "\n")
        self._journal.flush()

    def sync(self) -> None:
        """Make the journal durable (called once per batch, not per run: fsync is slow)."""
        if self._journal is not None:
            os.fsync(self._journal.fileno())

    def compact(self) -> None:
        """Rewrite the snapshot atomically, then drop the journal it now contains."""
        runs = [_as_dict(r) for r in self.records.values()]
        write_atomic(self.out_dir / STATE_FILE, json.dumps({"format": STATE_FORMAT, "runs": runs}, allow_nan=False))
        if self._journal is not None:
            self._journal.truncate(0)
        else:
            (self.out_dir / JOURNAL_FILE).unlink(missing_ok=True)
        self._dirty = False

    def mark_reported(self) -> None:
        """A night finished and wrote its summary: every analysis so far has been reported."""
        for record in self.records.values():
            if not record.reported:
                record.reported, record.reported_status = True, record.status
                self._dirty = True

    def forget(self, run_ids: set[str]) -> None:
        """Drop runs deleted from the store, and their reports."""
        for run_id in run_ids:
            self._dirty |= self.records.pop(run_id, None) is not None
            report_path(self.out_dir, run_id).unlink(missing_ok=True)

    def lost_reports(self) -> set[str]:
        """Runs recorded as reported whose report is missing or empty (deleted, or lost in a power cut)."""
        lost = set()
        for record in self.records.values():
            if record.diagnosis is not None:
                path = report_path(self.out_dir, record.run_id)
                if not path.is_file() or path.stat().st_size == 0:
                    lost.add(record.run_id)
        return lost

    def remove_stray_reports(self) -> None:
        """Reports of runs the state does not know as reported (killed before their journal line)."""
        keep = {report_path(self.out_dir, r.run_id).name for r in self.records.values() if r.diagnosis is not None}
        for path in self.reports_dir.glob("*.html"):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def _as_dict(record: RunRecord) -> dict:
    """Shallow: the fields already hold JSON data (dataclasses.asdict deep-copies it, 10x slower)."""
    return {f.name: getattr(record, f.name) for f in _FIELDS}


def _record(data: dict) -> RunRecord:
    return RunRecord(**{f.name: data[f.name] for f in _FIELDS if f.name in data})


def sketch_metrics(run: Run, roles: dict[str, str], buckets: int = 60) -> dict[str, dict]:
    """The series the digest draws (train loss, else the first metric), compacted; plus one finite point of
    another metric when that one has none, so the digest does not call a run with data "no data"."""
    key = roles.get("train_loss") or next(iter(sorted(run.metrics)), None)
    if key is None:
        return {}
    out = {key: compact_series(run.metrics[key], buckets)}
    for role in ("val_loss", "val_acc"):  # the digest shows their best and final values
        if roles.get(role) in run.metrics:
            out[roles[role]] = compact_series(run.metrics[roles[role]], buckets)
    if not run.metrics[key].finite_count:
        other = next((s for s in run.metrics.values() if s.finite_count), None)
        if other is not None:
            last = int(np.flatnonzero(other.finite)[-1])
            out[other.key] = {"steps": [int(other.steps[last])], "values": [float(other.values[last])]}
    return out


def compact_series(series: Series, buckets: int = 60) -> dict:
    """At most ~3 points per bucket: its min, its max and its first non-finite point, in step order; the
    last and the last finite point always. Enough for a sparkline that keeps spikes and NaN, small enough for state.json."""
    n = len(series)
    if n <= 3 * buckets:
        keep = np.arange(n)
    else:
        size = -(-n // buckets)
        bad = np.flatnonzero(~series.finite)
        first_bad = bad[np.diff(bad // size, prepend=-1) != 0]  # the first non-finite point of each bucket
        last = [n - 1, *np.flatnonzero(series.finite)[-1:]]  # the last point, and the last finite one ("last loss")
        keep = np.unique(np.concatenate([bucket_extremes(series.values, buckets), first_bad, last]))
    return {"steps": series.steps[keep].tolist(), "values": json_number(series.values[keep].tolist())}


def restore_series(key: str, points: dict) -> Series:
    values = np.array([np.nan if v is None else float(v) for v in points["values"]], dtype=np.float64)
    steps = np.asarray(points["steps"], dtype=np.int64)
    return Series(key, steps, values, np.zeros(len(steps), dtype=np.int64))


def report_path(out_dir: Path, run_id: str) -> Path:
    return Path(out_dir) / REPORTS_DIR / report_file_name(run_id)


def remove_temp_files(out_dir: Path) -> None:
    """Temp files a killed job left behind (write_atomic names them .<name>.<random>.tmp)."""
    for folder in (Path(out_dir), Path(out_dir) / REPORTS_DIR):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)
