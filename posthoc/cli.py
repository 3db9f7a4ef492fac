"""The `posthoc` command line: thin wrappers that read options and the environment, then call the core."""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import click

from posthoc import __version__
from posthoc.diagnose import FAIL_ON, reaches
from posthoc.errors import BadInput, PosthocError, redact


class PosthocGroup(click.Group):
    """Every error is one stderr line (credentials redacted) and an exit code; a traceback only with --debug."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:  # bare `posthoc`: help, not an error
            click.echo(exc.ctx.get_help(), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:  # click's own is three lines: usage, hint, error
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _fail(f"error: {exc.format_message().rstrip('.')}{where}", exc.exit_code)
        except click.ClickException as exc:
            _fail(f"error: {exc.format_message()}", exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PosthocError as exc:
            if ctx.meta.get("posthoc.debug"):
                traceback.print_exc()
            _fail(f"error: {exc}", exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `posthoc analyze … | head`: the reader left; not an error worth a line
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit; let it flush here
            sys.exit(1)
        except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
            debug = ctx.meta.get("posthoc.debug")
            if debug:
                traceback.print_exc()
            _fail(f"internal error: {type(exc).__name__}: {exc}" + ("" if debug else " (rerun with --debug)"), 1)


def _fail(message: str, code: int):
    """The one way the CLI reports a failure: `posthoc: <message>` on one stderr line, then exit."""
    from posthoc.errors import one_line

    click.echo(f"posthoc: {redact(one_line(message))}", err=True)
    sys.exit(code)


def _set_debug(ctx, _param, value):
    if value:
        ctx.meta["posthoc.debug"] = True
    return value


def store_options(fn):
    """--tracking-uri, --config and --debug: shared by every command that reads a store."""
    fn = click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True,
                      help="Show tracebacks.")(fn)
    fn = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                      help="TOML file with [tool.posthoc] settings (default: ./posthoc.toml or ./pyproject.toml).")(fn)
    fn = click.option("--workspace", metavar="NAME", expose_value=False, callback=_remember_workspace,
                      help="MLflow workspace whose experiments --experiment names. "
                           "Default: $MLFLOW_WORKSPACE, else MLflow's 'default'.")(fn)
    fn = click.option("--tracking-uri", metavar="URI",
                      help="sqlite:///PATH, a ./mlruns directory or http(s)://HOST. "
                           "Default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.")(fn)
    return fn


def _remember_workspace(ctx, _param, value):
    ctx.meta["posthoc.workspace"] = value


def _load_config(path: str | None):
    """Settings checked on load: a misspelled key or a bad value stops the command with exit 2."""
    from posthoc.config import load_config
    from posthoc.diagnose import check_config

    return check_config(load_config(path))


# MLflow's client retries a failing request 7 times with backoff factor 2: about four minutes against a
# server answering 503. By default posthoc allows 3 retries with factor 1 (sleeps of 0, 2 and 4 s, plus at
# most 0.5 s jitter each: under 10 s) and ignores Retry-After; MLflow's own variables override these.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
}


def _open(tracking_uri: str | None):
    from posthoc.store import DEFAULT_WORKSPACE, open_store, resolve_tracking_uri

    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)
    workspace = click.get_current_context().meta.get("posthoc.workspace") or os.environ.get("MLFLOW_WORKSPACE")
    store = open_store(resolve_tracking_uri(tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")),
                       workspace=(workspace or "").strip() or DEFAULT_WORKSPACE)
    if store.notice:
        click.echo(f"posthoc: warning: {store.notice}", err=True)
    return store


def _write(text: str, out: str | None) -> None:
    with _output(out) as sink:
        sink.write(text)


@click.group(cls=PosthocGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="posthoc")
def cli():
    """Say why logged MLflow training runs went wrong, with evidence.

    \b
    Start with the demo (trains small numpy models into ./mlflow.db):
      posthoc demo
      posthoc analyze --experiment posthoc-demo
      posthoc analyze RUN_ID --format json | jq .primary

    Exit codes: 0 done, 1 some run reached --fail-on, 2 bad input, 3 store unreachable.
    """


@cli.command()
@click.argument("run_ids", nargs=-1)
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Analyze every active run of this experiment (repeatable).")
@store_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "jsonl", "html"]),
              help="text (default on a terminal) or json / jsonl (default when piped); html: a self-contained report.")
@click.option("--out", type=click.Path(), help="Write to this file instead of stdout (html with several runs: a directory).")
@click.option("--fail-on", type=click.Choice(list(FAIL_ON)), default="failed", show_default=True,
              help="Exit 1 when a run is failed; warning: also warning; inconclusive: also runs too thin to judge.")
def analyze(run_ids, experiments, tracking_uri, config_path, fmt, out, fail_on):
    """Diagnose runs: status, root cause, evidence and suggestions.

    \b
    RUN_IDS are MLflow run ids; or use --experiment NAME for a whole experiment.
    JSON: one object for a single RUN_ID, else an array (jsonl: one object per line).
    Nothing is ever written to the tracking store.
    """
    from posthoc.diagnose import diagnose
    from posthoc.store import expand_run_ids

    if not run_ids and not experiments:
        raise BadInput("give one or more RUN_IDS or --experiment NAME (see posthoc analyze --help)")
    fmt = fmt or ("text" if sys.stdout.isatty() and out is None else "json")
    if out is not None:
        _check_out(out, directory_ok=fmt == "html")
    config = _load_config(config_path)
    store = _open(tracking_uri)
    ids = expand_run_ids(store, list(dict.fromkeys(run_ids)))
    named = store.experiment_ids(list(experiments)) if experiments else {}
    experiment_ids = list(named.values())
    if experiments:
        ids += [r for r in store.run_ids(experiment_ids) if r not in ids]
        if not ids:
            raise BadInput(f"experiment {', '.join(experiments)} has no active runs")
    context = experiment_context(store, ids, config)

    def diagnoses():
        """Run by run, batch by batch: nothing holds more than one batch of metric arrays."""
        with _progress(len(ids), "analyzing") as bar:
            for batch in store.iter_runs(ids):
                yield from (diagnose(run, config, context=context.get(run.experiment_id)) for run in batch)
                bar.update(len(batch))

    if fmt == "html":
        names = named or store.experiment_ids(store.experiment_names())  # runs asked by id: every name, one read
        statuses = _write_html(diagnoses(), len(ids), out, lambda: _run_params(store, ids, experiment_ids),
                               {experiment_id: name for name, experiment_id in names.items()})
    else:
        statuses = _write_stream(diagnoses(), fmt, out, single=len(run_ids) == 1 and not experiments)
    sys.exit(1 if any(reaches(status, fail_on) for status in statuses) else 0)


def _check_out(out: str, directory_ok: bool) -> None:
    """A bad --out fails before the store is read: under a file, unwritable, or a directory for one file."""
    from posthoc.atomic import check_writable

    if not directory_ok and Path(out).is_dir():
        raise BadInput(f"--out {out} is a directory; give a file path")
    check_writable(Path(out))


def _write_stream(diagnoses, fmt: str, out: str | None, single: bool) -> list[str]:
    """text and jsonl are written run by run; json keeps only each run's small dict. Returns the statuses."""
    import json

    from posthoc.report.json_output import to_json
    from posthoc.report.text import to_text

    style = click.style if sys.stdout.isatty() and out is None else (lambda t, **k: t)
    statuses, dicts = [], []
    with _output(out) as sink:
        for d in diagnoses:
            statuses.append(d.status)
            if fmt == "text":
                sink.write(("\n" if len(statuses) > 1 else "") + to_text([d], style=style))
            elif fmt == "jsonl":
                sink.write(to_json([d], "jsonl", single=False))
            else:
                dicts.append(d.to_dict())
        if fmt == "json":
            sink.write(json.dumps(dicts[0] if single and len(dicts) == 1 else dicts, indent=2, allow_nan=False) + "\n")
    return statuses


class _Stdout:
    def write(self, text: str) -> None:
        click.echo(text, nl=False)


@contextmanager
def _output(out: str | None):
    """stdout, or --out written atomically (the old file stays whole until the new one is complete)."""
    if out is None:
        yield _Stdout()
        return
    from posthoc.atomic import atomic_writer

    with atomic_writer(Path(out)) as sink:
        yield sink
    click.echo(f"wrote {out}", err=True)


def _run_params(store, ids: list[str], experiment_ids: list[str]) -> dict[str, dict[str, str]]:
    """Params of these runs without their metrics: one cheap read per experiment, else one pass over the runs."""
    known = store.run_params(experiment_ids) if experiment_ids else {}
    if all(i in known for i in ids):
        return {i: known[i] for i in ids}
    return {run.run_id: run.params for batch in store.iter_runs(ids) for run in batch}


# a run asked by id brings its experiment's other runs along only up to this many: reading them costs about
# 10 ms a run of 1,000 points on sqlite (16 demo runs: 0.17 s), and `analyze RUN` should stay near a second
CONTEXT_MAX_RUNS = 100


def experiment_context(store, ids: list[str], config) -> dict:
    """The experiments' one-batch and range tests and run params (posthoc.kinds), which every run's checklist
    cites; a run asked by id brings its experiment's other runs along unless there are too many.
    One pass over the runs, batch by batch, keeping only each run's small part (a test's result, params)."""
    from posthoc.kinds import ExperimentContext, build_context

    parts = [build_context(batch, config.roles) for batch in store.iter_runs(ids)] if ids else []
    known, too_large = set(ids), set()
    for experiment_id in dict.fromkeys(e for part in parts for e in part):
        others = [run_id for run_id in store.run_ids([experiment_id]) if run_id not in known]
        if len(others) > CONTEXT_MAX_RUNS:
            too_large.add(experiment_id)  # no context: its reports say the other runs were not read
        elif others:
            parts += [build_context(batch, config.roles) for batch in store.iter_runs(others)]
    merged: dict[str, ExperimentContext] = {}
    for part in parts:
        for experiment_id, context in part.items():
            seen = merged.get(experiment_id, ExperimentContext())
            merged[experiment_id] = ExperimentContext(
                tuple(sorted(seen.tests + context.tests, key=lambda t: t.start_time)), seen.siblings + context.siblings)
    return {experiment_id: c for experiment_id, c in merged.items() if experiment_id not in too_large}


def _progress(total: int, label: str):
    """A progress bar on a terminal for long work; silent in pipes and cron."""
    show = sys.stderr.isatty() and total > 20
    return click.progressbar(length=total, label=label, file=sys.stderr if show else open(os.devnull, "w"))


@cli.command()
@click.option("--tracking-uri", metavar="URI", help="Where to log the demo (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).")
@click.option("--experiment", default="posthoc-demo", show_default=True, help="Demo experiment name.")
@click.option("--sweeps/--no-sweeps", default=True, show_default=True,
              help="Also log the posthoc-sweeps experiments (18 small runs, logged plain and as the HF Trainer logs) "
                   "and print their comparison summaries.")
@click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True, help="Show tracebacks.")
def demo(tracking_uri, experiment, sweeps):
    """Train small numpy models with injected faults into MLflow, then analyze every run.

    Writes to the tracking store (that is its job); reuses the demo experiment if it already has runs.
    """
    from posthoc.config import Config
    from posthoc.demo.runs import build_demo
    from posthoc.diagnose import diagnose
    from posthoc.report.text import summary_line
    from posthoc.store import load_runs, open_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
    created = build_demo(uri, experiment, progress=lambda name: click.echo(f"  trained {name}", err=True))
    click.echo(f"{'reused' if not created else 'logged'} experiment {experiment!r} in {redact(uri)}", err=True)
    store = open_store(uri)
    ids = store.run_ids(list(store.experiment_ids([experiment]).values()))
    context = experiment_context(store, ids, Config())
    for run in load_runs(store, ids):
        click.echo(summary_line(diagnose(run, context=context.get(run.experiment_id))))
    click.echo(f"\nnext: posthoc analyze --experiment {experiment}" + ("" if tracking_uri is None else f" --tracking-uri {redact(uri)}"), err=True)
    if sweeps:
        _demo_sweeps(uri, tracking_uri)


def _write_html(diagnoses, count: int, out: str | None, run_params, experiment_names: dict[str, str]) -> list[str]:
    """One run: a report at --out (or stdout). Several: --out DIR gets <run_id>.html each, written as each run
    is analyzed, and index.html from small per-run sketches, its experiments by name. Returns the statuses."""
    from datetime import datetime

    from posthoc.model import Run
    from posthoc.nightly.state import restore_series, sketch_metrics
    from posthoc.report import common_params, render_digest, render_run_report, report_file_name, write_report

    as_folder = out is not None and (out.endswith(("/", os.sep)) or Path(out).is_dir())  # --out rep/: a folder
    if count == 1 and not as_folder:
        d = next(iter(diagnoses))
        with _output(out) as sink:
            sink.write(render_run_report(d, None))
        return [d.status]
    if out is None or (Path(out).exists() and not Path(out).is_dir()):
        raise BadInput("--format html with several runs writes one report per run: give --out DIR (a directory)")
    folder = Path(out)
    usual = common_params([Run(run_id, "", "", "", None, None, params, {}, {}) for run_id, params in run_params().items()])
    hrefs, index = {}, []
    for d in diagnoses:
        hrefs[d.run.run_id] = report_file_name(d.run.run_id)
        write_report(folder / hrefs[d.run.run_id], render_run_report(d, usual, index_href="index.html"))
        sketch = {key: restore_series(key, points) for key, points in sketch_metrics(d.run, d.roles).items()}
        index.append(dataclasses.replace(d, run=dataclasses.replace(d.run, metrics=sketch)))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_report(folder / "index.html", render_digest(index, hrefs, "posthoc analyze", stamp, experiments=experiment_names))
    click.echo(f"wrote {len(index)} report{'s' if len(index) > 1 else ''} and {folder / 'index.html'}", err=True)
    return [d.status for d in index]


# --- compare -----------------------------------------------------------------------------------------

@cli.command()
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Compare the active runs of this experiment (repeatable).")
@click.option("--runs", "run_ids", multiple=True, metavar="ID",
              help="Only these run ids (repeatable, or comma-separated); alone, they need no --experiment.")
@click.option("--filter", "filter_text", metavar="EXPR",
              help="Keep runs matching e.g. \"params.optimizer = 'adam' AND params.lr < 0.1\".")
@click.option("--target", metavar="METRIC", help="Metric key to compare (default: best val loss, else final train loss).")
@click.option("--mode", type=click.Choice(["min", "max"]), help="Is lower or higher better (default: max for accuracy-like targets).")
@click.option("--ignore", "ignore", multiple=True, metavar="PARAM",
              help="Never compare on this param (repeatable); adds to ignore_params in config.")
@click.option("--keep", "keep", multiple=True, metavar="PARAM",
              help="Compare on this param even if it looks like an identifier (repeatable).")
@click.option("--importance/--no-importance", default=True, show_default=True,
              help="Rank params by random-forest permutation importance (a coarser view after the comparisons).")
@store_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]),
              help="text (default on a terminal), json (default when piped) or html (a self-contained report).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
def compare(experiments, run_ids, filter_text, target, mode, ignore, keep, importance, tracking_uri, config_path,
            fmt, out):
    """Compare runs one variable at a time: effects beyond seed noise, and confounded params.

    \b
    For each param, runs that differ only in it (seeds aside) are compared on the target; an effect is
    significant only when it clears the noise band of seed replicates. Params that always changed
    together are reported as confounded. Identifiers (paths, times, names that differ in every run) are
    set aside and listed. A random-forest importance ranking follows as a coarser view.
    """
    import json

    from posthoc.compare import compare as compare_runs
    from posthoc.compare.filter import filter_runs, parse_filter
    from posthoc.diagnose import diagnose
    from posthoc.report.text import comparison_text
    from posthoc.store import expand_run_ids, load_runs

    ids = list(dict.fromkeys(i.strip() for chunk in run_ids for i in chunk.split(",") if i.strip()))
    if not ids and not experiments:
        raise BadInput("give --experiment NAME or --runs ID (see posthoc compare --help)")
    if filter_text is not None:
        parse_filter(filter_text)  # bad syntax fails before the store is read
    config = _load_config(config_path)
    if out is not None:
        _check_out(out, directory_ok=False)
    store = _open(tracking_uri)
    ids = expand_run_ids(store, ids)
    if experiments:
        experiment_ids = list(store.experiment_ids(list(experiments)).values())
        in_experiments = store.run_ids(experiment_ids)
        if ids:
            outside = [i for i in ids if i not in set(in_experiments)]
            if outside:
                raise BadInput(f"run {outside[0]!r} is not an active run of {', '.join(experiments)}; check the id")
        else:
            ids = in_experiments
        if not ids:
            raise BadInput(f"experiment {', '.join(experiments)} has no active runs")
    runs = filter_runs(load_runs(store, ids), filter_text)
    if not runs:
        raise BadInput(f"--filter {filter_text!r} matched none of the {len(ids)} runs")
    if target is not None and not any(target in r.metrics for r in runs):
        keys = sorted({k for r in runs for k in r.metrics})
        raise BadInput(f"no run logged metric {target!r}; logged: {', '.join(keys[:12]) or 'none'}")
    comparison = compare_runs(runs, [diagnose(r, config) for r in runs], target=target, mode=mode, config=config,
                              ignore=ignore, keep=keep, importance=importance)
    fmt = fmt or ("text" if sys.stdout.isatty() and out is None else "json")
    if fmt == "json":
        text = json.dumps(comparison.to_dict(), indent=2, allow_nan=False) + "\n"
    elif fmt == "html":
        from posthoc.report import render_comparison_report

        text = render_comparison_report(comparison.to_dict(), {r.run_id: r for r in runs})
    else:
        text = comparison_text(comparison)
    _write(text, out)


def _demo_sweeps(uri: str, tracking_uri: str | None) -> None:
    """`posthoc demo`'s sweeps: log the sweep experiments (plain and as the HF Trainer logs), then print
    their comparison summaries."""
    from posthoc.compare import compare as compare_runs
    from posthoc.demo.sweeps import build_sweeps
    from posthoc.diagnose import diagnose
    from posthoc.store import load_runs, open_store

    names = ("posthoc-sweeps", "posthoc-sweeps-hf")
    created = build_sweeps(uri, names[0], hf_experiment=names[1],
                           progress=lambda run_name: click.echo(f"  trained {run_name}", err=True))
    click.echo(f"{'reused' if not created else 'logged'} experiments {', '.join(map(repr, names))} in {redact(uri)}", err=True)
    store = open_store(uri)
    for name in names:
        runs = load_runs(store, store.run_ids(list(store.experiment_ids([name]).values())))
        comparison = compare_runs(runs, [diagnose(r) for r in runs])
        click.echo(f"\nposthoc compare --experiment {name}:")
        for line in comparison.summary:
            click.echo(f"  {line}")
    click.echo(f"\nnext: posthoc compare --experiment {names[0]}" + ("" if tracking_uri is None else f" --tracking-uri {redact(uri)}"),
               err=True)


# --- nightly -----------------------------------------------------------------------------------------

@cli.command()
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Experiment to sweep (repeatable). Default: every active experiment.")
@click.option("--since", metavar="DATE", help="Only runs that logged or ended at or after DATE (YYYY-MM-DD[THH:MM], UTC).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for index.html, summary.json, runs/<run_id>.html and the job's state.")
@click.option("--workers", type=click.IntRange(1, 64), help="Processes analyzing and rendering. Default: CPU count.")
@click.option("--write-tags", is_flag=True, help="Set posthoc.status, posthoc.primary, posthoc.version tags on each analyzed run.")
@click.option("--attach", is_flag=True, help="Log each run's report as the artifact posthoc/report.html.")
@click.option("--fail-on", type=click.Choice(list(FAIL_ON)), default="failed", show_default=True,
              help="Exit 1 when a run reported tonight is failed; warning: also warning; inconclusive: also unjudged.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: worker processes on this machine; spark: the same analysis on Spark "
                   "(pip install 'posthoc[spark]' and a Java runtime).")
@click.option("--spark-master", default="local[*]", show_default=True, metavar="URL",
              help="With --engine spark: local[2], spark://HOST:7077, yarn, ...")
@click.option("--spark-source", metavar="SOURCE",
              help="With --engine spark: what Spark reads. Default: the tracking store over JDBC (PostgreSQL, "
                   "MySQL, sqlite); parquet:DIR (a `posthoc export --parquet DIR`); databricks:CATALOG.SCHEMA "
                   "(tables shaped like Databricks' MLflow system tables).")
@store_options
def nightly(experiments, since, out_dir, workers, write_tags, attach, fail_on, engine, spark_master, spark_source,
            tracking_uri, config_path):
    """Analyze runs new or changed since the last night; write a digest, reports and summary.json.

    \b
    State lives in --out: a second run over an unchanged store analyzes nothing. Runs still RUNNING
    are analyzed on what they logged and again the next night. Killed, it resumes where it stopped.
    Nothing is written to the tracking store unless --write-tags or --attach is given.
    With --engine spark every selected run is diagnosed on Spark by the same code; reports are written by
    the executors, so --out must be a folder they can all write (local mode, NFS, /dbfs).
    Exit: 0 done; 1 a run reached --fail-on or a run could not be analyzed (see summary.json "errors");
    2 bad input; 3 store unreachable.
    """
    import time

    from posthoc.nightly import NightlyOptions, parse_since, run_nightly

    options = NightlyOptions(
        out_dir=Path(out_dir), experiments=tuple(dict.fromkeys(experiments)),
        since_ms=parse_since(since) if since else None, workers=workers or os.cpu_count() or 1,
        write_tags=write_tags, attach=attach, fail_on=fail_on,
    )
    _check_out(out_dir, directory_ok=True)
    config = _load_config(config_path)
    analyze = None
    if engine == "spark":
        if any(ch in out_dir for ch in "[]{}*?"):
            raise BadInput(f"--out {out_dir!r}: with --engine spark the folder name must not hold [ ] {{ }} * ? "
                           "(Spark reads them as a file pattern)")
        store, analyze = _spark_engine(tracking_uri, spark_master, spark_source, write_tags or attach)
    else:
        store = _open(tracking_uri)
    tty = sys.stderr.isatty()
    bar = None
    logged = {"fraction": 0.0, "started": time.perf_counter()}

    def on_log(line: str) -> None:
        click.echo(f"posthoc nightly: {line}", err=True)

    def on_progress(done: int, total: int) -> None:
        nonlocal bar
        if tty:
            if bar is None:
                bar = click.progressbar(length=total, label="analyzing", file=sys.stderr)
                bar.__enter__()
            bar.update(1)
        elif done == total or done / total >= logged["fraction"] + 0.1:  # cron: a line per tenth
            logged["fraction"] = done / total
            on_log(f"analyzed {done}/{total} runs ({time.perf_counter() - logged['started']:.1f} s)")

    try:
        result = run_nightly(store, options, config, on_progress=on_progress, on_log=on_log, analyze=analyze)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    summary = result.summary
    status = summary["tonight"]["status"]
    carried = f" (+{summary['carried_over']} from an unfinished earlier job)" if summary["carried_over"] else ""
    on_log(f"analyzed {summary['analyzed_tonight']} runs{carried} ({', '.join(f'{n} {s}' for s, n in sorted(status.items())) or 'none'}), "
           f"{len(summary['new_failures'])} new failure(s), {len(summary['errors'])} error(s) in "
           f"{summary['timings_s']['total']:.1f} s; digest {Path(out_dir) / 'index.html'}")
    for error in summary["errors"]:
        on_log(f"could not analyze {error['run_id']} {error['run_name']!r} ({error['stage']}): {error['error']}")
    sys.exit(result.exit_code)


def _spark_engine(tracking_uri: str | None, master: str, source: str | None, writes: bool):
    """The Spark source standing in for the store, and the Spark analysis step."""
    if writes:
        raise BadInput("--write-tags and --attach work with --engine local only")
    try:
        from posthoc.spark.engine import analyze_on_spark, spark_session
        from posthoc.spark.sources import open_source
    except ImportError as exc:
        raise BadInput(f"--engine spark needs pyspark ({exc.name} is missing): pip install 'posthoc[spark]'") from exc
    from posthoc.store import resolve_tracking_uri

    try:
        spark = spark_session(master)
    except Exception as exc:  # pyspark says "Java gateway process exited" when no JVM can start
        raise BadInput(f"cannot start Spark ({master}): {str(exc).splitlines()[0]}; Spark needs a Java 17+ runtime "
                       "(apt-get install default-jre-headless)") from exc
    uri = resolve_tracking_uri(tracking_uri, os.environ.get("MLFLOW_TRACKING_URI"))
    return open_source(spark, source, uri), analyze_on_spark


# --- export ------------------------------------------------------------------------------------------

@cli.command()
@click.option("--experiment", "-e", "experiments", multiple=True, metavar="NAME",
              help="Export the active runs of this experiment (repeatable). Default: every active experiment.")
@click.option("--parquet", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Folder to write metrics.parquet and runs.parquet into.")
@store_options
def export(experiments, out_dir, tracking_uri, config_path):
    """Write runs as a long metric table, the shape Spark and SQL engines read.

    \b
    DIR/metrics.parquet: run_id, key, step, timestamp, value, is_nan (one row per logged point; NaN and
    Inf kept as floats). DIR/runs.parquet: run_id, experiment_id, run_name, status, start_time,
    end_time, params and tags (maps). Read-only on the tracking store.
    """
    from posthoc.store.longformat import export_parquet

    store = _open(tracking_uri)
    names = list(dict.fromkeys(experiments)) or store.experiment_names()
    ids = store.experiment_ids(names) if names else {}
    run_ids = store.run_ids(list(ids.values())) if ids else []
    done = {"runs": 0}

    def on_batch(runs) -> None:
        done["runs"] += len(runs)
        click.echo(f"posthoc export: {done['runs']}/{len(run_ids)} runs", err=True)

    runs, rows = export_parquet(store, run_ids, {i: n for n, i in ids.items()}, Path(out_dir), on_batch)
    click.echo(f"exported {runs} runs, {rows} metric points to {out_dir}", err=True)


def main():
    cli(prog_name="posthoc")
