"""`posthoc analyze --format html`: one report per run, a digest index for several, one-line errors."""

import re

from click.testing import CliRunner

from posthoc.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_one_run_to_a_file(store, tmp_path):
    out = tmp_path / "report.html"
    result = run("analyze", store.ids["nan"], "--tracking-uri", store.uri, "--format", "html", "--out", str(out))
    assert result.exit_code == 1  # failed run, default --fail-on
    html = out.read_text()
    assert 'class="banner failed"' in html and "first_bad_step" in html and store.ids["nan"] in html


def test_one_run_to_stdout(store):
    result = run("analyze", store.ids["healthy"], "--tracking-uri", store.uri, "--format", "html")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>") and 'class="banner healthy"' in result.stdout


def test_experiment_to_a_directory(store, tmp_path):
    out = tmp_path / "reports"
    result = run("analyze", "--experiment", "sweep", "--tracking-uri", store.uri, "--format", "html", "--out", str(out),
                 "--fail-on", "never")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 5 and "index.html" in names
    index = (out / "index.html").read_text()
    links = re.findall(r'<a href="([0-9a-f]{32}\.html)">', index)
    assert sorted(links) == sorted(n for n in names if n != "index.html")
    lr05 = next((out / n).read_text() for n in links if "lr0.5-s0" in (out / n).read_text())
    assert '<tr class="differs"><td class="mono">lr</td><td class="mono">0.5</td><td class="mono">0.05</td>' in lr05


def test_several_runs_need_a_directory(store):
    result = run("analyze", store.ids["healthy"], store.ids["nan"], "--tracking-uri", store.uri, "--format", "html")
    assert result.exit_code == 2
    assert result.stderr == "posthoc: error: --format html with several runs writes one report per run: give --out DIR (a directory)\n"
