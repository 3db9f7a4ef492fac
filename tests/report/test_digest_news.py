"""The index and nightly digest: last logged value, experiment column and filter, what is new tonight, a link
back from each run report, best/final validation values, focusable filters; `--out DIR/` for one run."""

import json
import re

import numpy as np
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.report import render_digest
from tests.conftest import QUICK, StoreBuilder
from tests.nightly.conftest import NAN_RUN, bump, nightly


def _rows(html: str) -> dict[str, str]:
    table = html[html.index('<table id="runs"'):]
    return {re.search(r'class="run">(?:<a [^>]*>)?([^<]*)<', row).group(1): row for row in table.split('<tr class="row')[1:]}


def test_last_is_the_last_logged_value_and_healthy_runs_show_their_val(diagnoses):
    html = render_digest([diagnoses["nan"], diagnoses["healthy"]], {}, "t", "now")
    rows = _rows(html)
    assert re.search(r'class="mono nowrap last" data-label="last train loss">NaN<', rows["nan"])
    val = diagnoses["healthy"].run.metrics["val_loss"]
    best = f"{float(np.min(val.values)):.4g}"
    assert f"val_loss best {best} (step {int(val.steps[np.argmin(val.values)])}), final " in rows["healthy"]


def test_experiment_column_and_filter(diagnoses, trust):
    report, other = diagnoses["healthy"].run.experiment_id, trust["plain"].run.experiment_id
    html = render_digest([diagnoses["healthy"], trust["plain"], trust["lr-jump"]], {}, "t", "now",
                         experiments={report: "report", other: "trust <b>"})
    rows = _rows(html)
    assert '<td class="experiment" data-label="experiment">trust &lt;b&gt;</td>' in rows["plain"]
    assert '<label for="e2">trust &lt;b&gt; (2)</label>' in html and '<label for="e1">report (1)</label>' in html
    assert "#e2:checked ~ table tr.row:not(.e2) { display: none; }" in html
    assert re.match(r' [^"]*\be2"', rows["plain"]) and re.match(r' [^"]*\be1"', rows["healthy"])
    assert "#e1:focus-visible ~ .filters label[for=\"e1\"] { outline: 3px solid" in html  # keyboard focus shows


def test_news_groups_failures_recoveries_and_changes(diagnoses, trust):
    changes = [{"run_id": trust["plain"].run.run_id, "before": "failed", "now": "healthy"},
               {"run_id": diagnoses["nan"].run.run_id, "before": None, "now": "failed"},
               {"run_id": trust["stall"].run.run_id, "before": "healthy", "now": "warning"}]
    html = render_digest([diagnoses["nan"], trust["plain"], trust["stall"]], {}, "t", "now", changes=changes)
    news = html[html.index('id="new-tonight"'):html.index('<table id="runs"')]
    assert news.index("New failures (1)") < news.index("Newly healthy (1)") < news.index("Changed status (1)")
    assert "new → <b>FAILED</b>: <b>nan_inf</b>" in news
    assert "FAILED → <b>HEALTHY</b>" in news and "HEALTHY → <b>WARNING</b>: <b>plateau</b>" in news
    assert "New tonight" not in render_digest([diagnoses["nan"]], {}, "t", "now")  # no previous night: no section


def test_nightly_digest_says_what_is_new_tonight(tmp_path):
    builder = StoreBuilder(f"sqlite:///{tmp_path / 'mlflow.db'}")
    ok, bad = builder.add("ok", QUICK), builder.add("bad", NAN_RUN)
    out = tmp_path / "night"
    assert nightly(builder.uri, out, "--experiment", "tests").exit_code == 1
    first = (out / "index.html").read_text()
    news = first[first.index('id="new-tonight"'):first.index('<table id="runs"')]
    assert "New failures (1)" in news and f'href="runs/{bad}.html">bad</a>' in news
    assert '<a href="../index.html" id="index-link">' in (out / "runs" / f"{ok}.html").read_text()

    bump(builder, ok, value=float("nan"))  # night 2: "ok" resumed and logged NaN; "bad" did not change
    assert nightly(builder.uri, out, "--experiment", "tests").exit_code == 1
    second = (out / "index.html").read_text()
    news = second[second.index('id="new-tonight"'):second.index('<table id="runs"')]
    assert "New failures (1)" in news and "ok</a>" in news and "bad</a>" not in news
    assert "HEALTHY → <b>FAILED</b>" in news
    changes = json.loads((out / "summary.json").read_text())["status_changes"]
    assert [(c["run_name"], c["before"], c["now"]) for c in changes] == [("ok", "healthy", "failed")]


def test_out_dir_with_a_slash_for_one_run_writes_a_folder(tmp_path):
    builder = StoreBuilder(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = builder.add("one", QUICK)
    result = CliRunner().invoke(cli, ["analyze", run_id, "--tracking-uri", builder.uri, "--format", "html",
                                      "--out", f"{tmp_path / 'rep'}/"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep").is_dir() and sorted(p.name for p in (tmp_path / "rep").iterdir()) == [f"{run_id}.html", "index.html"]
    assert result.stderr.strip() == f"wrote 1 report and {tmp_path / 'rep' / 'index.html'}"
    assert 'href="index.html" id="index-link"' in (tmp_path / "rep" / f"{run_id}.html").read_text()
    # the index names the run's experiment (asked by run id, not by --experiment), never its numeric id
    assert '<td class="experiment" data-label="experiment">tests</td>' in (tmp_path / "rep" / "index.html").read_text()
