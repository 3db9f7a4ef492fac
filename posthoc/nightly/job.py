"""The nightly batch job: analyze runs that are new or changed since the last night, in parallel, write one
report per run, a digest of every known run and a machine-readable summary; optionally tag the runs.

Reading stays in this (parent) process, in batches, overlapping with the workers; workers only diagnose,
render and write report files. State is journaled per run (state.py), so a killed job resumes.
Exit code: 1 when a run reported tonight reached --fail-on, or when any run could not be analyzed (unreadable,
analysis or a detector raised, or write-back failed): a scheduler should look either way. "Tonight" includes
what a killed job found before it died, so its alerts are never lost.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from posthoc import __version__
from posthoc.atomic import write_atomic
from posthoc.config import Config
from posthoc.diagnose import reaches
from posthoc.errors import BadInput, redact
from posthoc.model import Run
from posthoc.nightly.selection import analysis_key, select_runs
from posthoc.nightly.state import NightlyState, RunRecord, report_path, sketch_metrics

CHUNK_RUNS = 8  # runs per worker task: big enough to amortize pickling, small enough to balance 2 cores


@dataclass(frozen=True)
class NightlyOptions:
    out_dir: Path
    experiments: tuple[str, ...] = ()  # empty: every active experiment
    since_ms: int | None = None  # only runs whose version (last metric or end time) is at or after this
    workers: int = 1
    write_tags: bool = False
    attach: bool = False
    fail_on: str = "failed"


@dataclass
class NightlyResult:
    summary: dict
    exit_code: int
    out_dir: Path


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one run: its diagnosis as a dict, or why the analysis raised."""

    run_id: str
    diagnosis: dict | None
    error: str | None = None
    sketch: dict = field(default_factory=dict)


@dataclass
class _Tally:
    analyzed: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


def run_nightly(store, options: NightlyOptions, config: Config,
                on_progress: Callable[[int, int], None] = lambda done, total: None,
                on_log: Callable[[str], None] = lambda line: None, analyze: Callable | None = None) -> NightlyResult:
    """The whole job; nothing here prints: progress and log lines go to the callbacks. `analyze` replaces the
    local process pool (posthoc.spark passes its own); it journals one RunRecord per run into the state."""
    tally = _Tally()
    names = list(options.experiments) or store.experiment_names()
    experiments = store.experiment_ids(names) if names else {}  # bad input fails before DIR is touched
    experiment_ids = list(experiments.values())
    writeback = _open_writeback(store.uri, options)
    with NightlyState(options.out_dir) as state:
        versions = store.run_versions(experiment_ids) if experiment_ids else {}
        state.forget({r.run_id for r in state.records.values()
                      if r.experiment_id in experiment_ids and r.run_id not in versions})
        key = analysis_key(config)
        todo = select_runs(versions, state.records, key, options.since_ms, state.lost_reports())
        select_s = time.perf_counter() - tally.started
        on_log(f"{len(versions)} runs in {len(experiments)} experiment(s), {len(todo)} new or changed; "
               f"{len(state.records)} known from earlier nights")
        analyze_started = time.perf_counter()
        if todo:
            (analyze or _analyze)(store, todo, versions, options, config, key, experiment_ids, writeback, state,
                                  tally.analyzed, on_progress)
        analyze_s = time.perf_counter() - analyze_started
        write_started = time.perf_counter()
        state.remove_stray_reports()
        summary = _summary(state, tally, experiments, options)
        _write_digest(state, summary, experiments)
        summary["timings_s"] = {"select": round(select_s, 3), "analyze": round(analyze_s, 3),
                                "write": round(time.perf_counter() - write_started, 3),
                                "total": round(time.perf_counter() - tally.started, 3)}
        write_atomic(options.out_dir / "summary.json", redact(json.dumps(summary, indent=2, allow_nan=False)) + "\n")
        state.mark_reported()
    return NightlyResult(summary, summary["exit_code"], options.out_dir)


def _analyze(store, todo, versions, options, config, key, experiment_ids, writeback, state, analyzed: list[str],
             on_progress) -> None:
    """Read batches here, analyze chunks in workers, journal each outcome as it arrives."""
    experiment_params = _experiment_params(store, experiment_ids)
    contexts = experiment_contexts(store, todo, versions, experiment_ids, state, config)
    runs_by_id: dict[str, Run] = {}
    pending: dict[Future, list[Run]] = {}
    executor = _executor(options.workers)

    def finish(future: Future) -> None:
        runs = pending.pop(future)
        try:
            outcomes = future.result()
        except BrokenProcessPool as exc:  # a worker died (out of memory, killed): these runs failed
            outcomes = [Outcome(r.run_id, None, f"worker process died: {exc}") for r in runs]
        for outcome in outcomes:
            record = run_record(runs_by_id.pop(outcome.run_id), outcome, versions, key, state.records.get(outcome.run_id))
            if writeback is not None and outcome.diagnosis is not None:
                record.writeback_error = _write_back(writeback, record, options.out_dir)
            state.add(record)
            analyzed.append(record.run_id)
            on_progress(len(analyzed), len(todo))

    def submit(chunk: list[Run]) -> Future:
        params = {r.experiment_id: experiment_params.get(r.experiment_id) for r in chunk}
        context = {r.experiment_id: contexts.get(r.experiment_id) for r in chunk}
        return executor.submit(analyze_chunk, chunk, config, str(options.out_dir), params, os.getpid(), context)

    try:
        for batch in read_batches(store, todo, experiment_ids):
            for start in range(0, len(batch), CHUNK_RUNS):
                chunk = batch[start : start + CHUNK_RUNS]
                runs_by_id.update((r.run_id, r) for r in chunk)
                try:
                    future = submit(chunk)
                except BrokenProcessPool:  # a worker died earlier: start a fresh pool for the rest
                    executor.shutdown(wait=False, cancel_futures=True)
                    executor = _executor(options.workers)
                    future = submit(chunk)
                pending[future] = chunk
            # leave about one batch queued: the workers stay busy while the next batch is read, and at most
            # two batches of runs are in memory
            while len(pending) > max(2 * options.workers, -(-len(batch) // CHUNK_RUNS)):
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in done:
                    finish(future)
            state.sync()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                finish(future)
        state.sync()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def read_batches(store, run_ids: list[str], experiment_ids: list[str]):
    """store.iter_runs, except that a run deleted while the job runs is skipped instead of ending the job."""
    remaining = list(run_ids)
    for _attempt in range(3):
        try:
            for batch in store.iter_runs(remaining):
                remaining = remaining[len(batch) :]  # batches come in the order asked
                yield batch
            return
        except BadInput:
            alive = store.run_versions(experiment_ids)
            if all(r in alive for r in remaining):
                raise
            remaining = [r for r in remaining if r in alive]


def _experiment_params(store, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
    """Each param's most common value per experiment (one cheap params read each), for the run reports."""
    from posthoc.report import common_params

    out = {}
    for experiment_id in experiment_ids:
        params = store.run_params([experiment_id])
        out[experiment_id] = common_params([Run(r, "", experiment_id, "", None, None, p, {}, {}) for r, p in params.items()])
    return out


CONTEXT_MAX_NEW_RUNS = 500  # new runs read once more to find tonight's one-batch and range tests


def experiment_contexts(store, todo: list[str], versions: dict, experiment_ids: list[str], state,
                         config: Config) -> dict:
    """Each experiment's one-batch and range tests (posthoc.kinds), which every run report's checklist cites:
    the tests earlier nights found, plus tonight's new runs read once more here; with more new runs than
    CONTEXT_MAX_NEW_RUNS the reports say the experiment's runs were not read instead."""
    from posthoc.kinds import Sibling, build_context

    new = [run_id for run_id in todo if run_id not in state.records]
    if len(new) > CONTEXT_MAX_NEW_RUNS:
        return {}
    known_tests = [r.run_id for r in state.records.values() if r.experiment_id in experiment_ids
                   and (r.diagnosis or {}).get("kind", "training") != "training" and r.run_id in versions]
    runs = [run for batch in read_batches(store, list(dict.fromkeys(known_tests + new)), experiment_ids) for run in batch]
    read = {run.run_id for run in runs}
    known: dict[str, list[Sibling]] = {}
    for record in state.records.values():
        if record.run_id not in read and record.experiment_id in experiment_ids:
            known.setdefault(record.experiment_id, []).append(Sibling.of(record.run_id, record.run_name, record.params))
    return build_context(runs, config.roles, known)


def run_record(run: Run, outcome: Outcome, versions, key: str, previous: RunRecord | None) -> RunRecord:
    """The run's new record: unreported until a night finishes, remembering what was last reported for it."""
    status, version = versions[run.run_id]
    reported_status = None if previous is None else previous.status if previous.reported else previous.reported_status
    return RunRecord(
        run_id=run.run_id, experiment_id=run.experiment_id, run_name=run.run_name, run_status=status,
        version=version, analysis_key=key, analyzed_at=_now(), diagnosis=outcome.diagnosis, error=outcome.error,
        params=dict(run.params), start_time=run.start_time, end_time=run.end_time, sketch=outcome.sketch,
        read_error=run.unreadable, reported=False, reported_status=reported_status,
    )


def _open_writeback(uri: str, options: NightlyOptions):
    if not (options.write_tags or options.attach):
        return None
    from posthoc.store.writeback import WriteBack

    return WriteBack(uri, options.write_tags, options.attach)


def _write_back(writeback, record: RunRecord, out_dir: Path) -> str | None:
    """Tags and artifact for one run; a failure is recorded (and retried next night), never fatal."""
    from posthoc.store.writeback import posthoc_tags

    try:
        html = report_path(out_dir, record.run_id).read_text(encoding="utf-8") if writeback.attach else None
        writeback.write(record.run_id, posthoc_tags(record.status, record.diagnosis["primary"], __version__), html)
    except Exception as exc:  # the store may fail in many ways; the job goes on and says so
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


# ---- workers -------------------------------------------------------------------------------------------

_BUSY = threading.Lock()  # held while a worker writes a report, so it never exits half-way


def analyze_chunk(runs: list[Run], config: Config, out_dir: str, experiment_params: dict, parent_pid: int,
                  contexts: dict | None = None) -> list[Outcome]:
    """Diagnose, render and write each run's report; an exception costs only its own run."""
    outcomes = []
    for run in runs:
        with _BUSY:
            if os.getppid() != parent_pid and os.getpid() != parent_pid:
                os._exit(0)  # the job was killed: a rerun will analyze this run
            outcomes.append(analyze_run(run, config, Path(out_dir), experiment_params.get(run.experiment_id),
                                        (contexts or {}).get(run.experiment_id)))
    return outcomes


def analyze_run(run: Run, config: Config, out_dir: Path, usual_params: dict | None, context=None) -> Outcome:
    """One run's diagnosis, report file and digest sketch, wherever it runs (a worker here, a Spark executor);
    `context` is its experiment's one-batch and range tests (experiment_contexts)."""
    from posthoc.diagnose import diagnose
    from posthoc.report import render_run_report

    try:
        diagnosis = diagnose(run, config, context=context)
        html = render_run_report(diagnosis, usual_params, index_href="../index.html")  # runs/<id>.html → index
        write_atomic(report_path(out_dir, run.run_id), html, durable=False)
        return Outcome(run.run_id, diagnosis.to_dict(), sketch=sketch_metrics(run, diagnosis.roles))
    except Exception as exc:
        return Outcome(run.run_id, None, f"{type(exc).__name__}: {exc}")


def _watch_parent(parent_pid: int) -> None:
    """Orphaned by a killed job: exit between two runs instead of waiting for work forever."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            with _BUSY:
                os._exit(0)


def _start_worker(parent_pid: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


class _InlineExecutor:
    """--workers 1: the same code path in this process, no pool to start."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))  # analyze_chunk already turns each run's exception into an Outcome
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _executor(workers: int):
    if workers <= 1:
        return _InlineExecutor()
    import multiprocessing

    # fork: workers inherit the imported modules (fast start) and never re-run the CLI's __main__
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start_worker, initargs=(os.getpid(),))
    pool.submit(int).result()  # fork every worker now, before a store reader starts its own threads
    return pool


# ---- digest and summary ---------------------------------------------------------------------------------


def _summary(state: NightlyState, tally: _Tally, experiments: dict[str, str], options: NightlyOptions) -> dict:
    """Tonight is every analysis no finished night has reported: this job's, and those of a job killed since."""
    records = list(state.records.values())
    analyzed_now = set(tally.analyzed)
    tonight = [r for r in records if not r.reported]
    analyzed = [r for r in records if r.diagnosis is not None]
    new_failures = [
        {"run_id": r.run_id, "run_name": r.run_name, "experiment_id": r.experiment_id, "primary": r.diagnosis["primary"]}
        for r in tonight if r.status == "failed" and r.reported_status != "failed"
    ]
    # every status that differs from the last reported one (before None: the run is new tonight)
    status_changes = [
        {"run_id": r.run_id, "run_name": r.run_name, "experiment_id": r.experiment_id, "before": r.reported_status,
         "now": r.status}
        for r in tonight if r.diagnosis is not None and r.reported_status != r.status
    ]
    errors = [{"run_id": r.run_id, "run_name": r.run_name, "stage": stage, "error": redact(message)}
              for r in tonight for stage, message in r.problems]
    reached = [r.run_id for r in tonight if reaches(r.status, options.fail_on)]
    return {
        "generated_at": _now(),
        "posthoc_version": __version__,
        "experiments": experiments,
        "since_ms": options.since_ms,
        "runs_known": len(records),
        "analyzed_tonight": len(analyzed_now),
        "carried_over": sum(r.run_id not in analyzed_now for r in tonight),  # analyzed by a job killed since
        "still_running": sum(r.run_status == "RUNNING" for r in records),
        "counts": _counts(analyzed),
        "tonight": _counts([r for r in tonight if r.diagnosis is not None]),
        "new_failures": new_failures,
        "status_changes": status_changes,
        "errors": errors,
        "fail_on": options.fail_on,
        "reached_fail_on": len(reached),
        "exit_code": 1 if reached or errors else 0,
    }


def _counts(records: list[RunRecord]) -> dict:
    return {
        "status": dict(Counter(r.diagnosis["status"] for r in records)),
        "primary": dict(Counter(r.diagnosis["primary"] for r in records)),
        # runs showing each pattern, primary or not
        "pattern": dict(Counter(p for r in records for p in {f["pattern"] for f in r.diagnosis["findings"]})),
    }


def _write_digest(state: NightlyState, summary: dict, experiments: dict[str, str]) -> None:
    from posthoc.report import render_digest, write_report

    records = sorted(state.records.values(), key=lambda r: (r.experiment_id, r.start_time or 0, r.run_id))
    diagnoses = [d for d in (r.to_diagnosis() for r in records) if d is not None]
    hrefs = {r.run_id: f"runs/{report_path(state.out_dir, r.run_id).name}" for r in records if r.diagnosis is not None}
    failures = [(r.run_id, r.run_name, f"{stage}: {redact(message)}") for r in records for stage, message in r.problems]
    title = "posthoc nightly: " + (", ".join(experiments) or "no experiments")
    stamp = summary["generated_at"].replace("T", " ")[:16] + " UTC"  # as `analyze --format html` shows it
    names = {experiment_id: name for name, experiment_id in experiments.items()}
    write_report(state.out_dir / "index.html", render_digest(diagnoses, hrefs, title, stamp, failures, names,
                                                             summary["status_changes"]))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
