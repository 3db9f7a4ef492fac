"""Self-contained HTML reports: one run, a comparison, a nightly digest. Strings in, files out atomically.

Templates live in the repository's templates/ (shipped as the package posthoc.templates) with autoescape on; contexts are built here as plain
strings and preformatted numbers, plus SVG that charts.py drew with every text escaped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from posthoc.model import Diagnosis, Run
from posthoc.report.run import build_run_context, common_params

__all__ = ["common_params", "render_comparison_report", "render_digest", "render_run_report", "write_report"]


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("posthoc.templates"))),
        autoescape=True,  # every run name, param, tag and metric key is untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, context: dict) -> str:
    from posthoc import __version__

    return _environment().get_template(template).render({"version": __version__, **context})


def render_run_report(diagnosis: Diagnosis, experiment_params: dict[str, str] | None = None,
                      index_href: str | None = None) -> str:
    """One run: status banner, primary cause, charts, findings, checklist, params (differences marked).

    `index_href`: the relative link back to the digest when the report is one of a set."""
    return _render("run.html", build_run_context(diagnosis, experiment_params, index_href))


def render_comparison_report(comparison: dict, runs: dict[str, Run]) -> str:
    """compare's JSON contract as one-variable tables with noise bands, small multiples and importance."""
    from posthoc.report.comparison import build_comparison_context

    return _render("compare.html", build_comparison_context(comparison, runs))


def render_digest(diagnoses: list[Diagnosis], hrefs: dict[str, str], title: str, generated_at: str,
                  failures: list[tuple[str, str, str]] = (), experiments: dict[str, str] | None = None,
                  changes: list[dict] | None = None) -> str:
    """One row per run, worst first, filterable by pattern and experiment without scripts; failures are
    (id, name, message); experiments maps id → name; changes ([{run_id, before, now}]) fill "new tonight"."""
    from posthoc.report.digest import build_digest_context

    return _render("digest.html", build_digest_context(diagnoses, hrefs, title, generated_at, failures, experiments,
                                                       changes))


def write_report(path, html: str) -> None:
    """Temp file then rename: an existing report is never left half-written."""
    from posthoc.atomic import write_atomic

    write_atomic(Path(path), html)


def report_file_name(run_id: str) -> str:
    """A run's report file name: the id with anything unsafe in a path replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id) + ".html"
