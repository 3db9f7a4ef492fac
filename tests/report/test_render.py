"""Rendering on real runs: untrusted text stays text, the content the issue asks for is there."""

import dataclasses
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from posthoc.diagnose import diagnose
from posthoc.errors import PosthocError
from posthoc.model import Finding, Series
from posthoc.numbers import short
from posthoc.report import (
    common_params,
    render_comparison_report,
    render_digest,
    render_run_report,
    write_report,
)
from posthoc.report.charts import downsample, value_scale
from posthoc.store import load_runs, open_store
from tests.report.conftest import IMG, SCRIPT, SWEEP
from tests.report.helpers import comparison_from_runs

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


class Tags(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No payload survives as markup: parsed as a browser would, no script, img or on* attribute exists."""
    assert SCRIPT not in html and IMG not in html
    tags = Tags(html).tags
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object", "embed", "link")]
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html


def test_hostile_run_renders_as_text(store, diagnoses):
    html = render_run_report(diagnoses["hostile"])
    assert_inert(html)
    assert ESCAPED_SCRIPT in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html  # the tag value, the param value and the name
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3
    assert "still RUNNING" in html


def test_hostile_metric_key_is_escaped_in_the_chart(diagnoses):
    run = diagnoses["nan"].run
    key = SCRIPT + IMG
    metrics = {key if k == "train_loss" else k: dataclasses.replace(s, key=key if k == "train_loss" else k)
               for k, s in run.metrics.items()}
    html = render_run_report(diagnose(dataclasses.replace(run, metrics=metrics)))
    assert_inert(html)
    assert f"{ESCAPED_SCRIPT}&#34;&gt;&lt;img" in html  # chart panel title and NaN marker title


def test_failed_run_report(store, diagnoses):
    runs = load_runs(open_store(store.uri), [store.ids[n] for n in ("healthy", "nan", "blowup", "hostile")])
    html = render_run_report(diagnoses["nan"], common_params(runs))
    assert 'class="banner failed"' in html and "FAILED" in html and "✖" in html
    primary = html.index('id="primary"')
    assert primary < html.index('id="charts"') < html.index('id="checklist"') < html.index('id="params"')
    assert "first_bad_step</td><td class=\"mono\">60<" in html[primary:html.index('id="charts"')]
    assert "1 nan_inf" in html  # the shaded, labeled span
    assert "train loss: NaN from step 60" in html  # NaN marker on the chart
    assert re.search(r"single-batch overfit test.*?cannot tell</td><td>not checked: the experiment", html, re.DOTALL)
    assert re.search(r"loss stays finite</td>\s*<td class=\"state\">✖ contradicted</td><td>nan_inf at steps 60–119", html)
    assert "inputs and labels are clean" in html and "nan_inf at steps 60" in html.split("inputs and labels")[1][:300]
    for role, key in diagnoses["nan"].roles.items():
        assert f"<td>{role}</td><td class=\"mono\">{key}</td>" in html


def test_differing_params_are_marked(store, diagnoses):
    runs = load_runs(open_store(store.uri), [store.ids[n] for n in ("healthy", "nan", "blowup", "hostile")])
    usual = common_params(runs)
    assert usual["lr"] == "0.05" and usual["depth"] == "1" and usual["corrupt_steps"] == "()"
    html = render_run_report(diagnoses["hostile"], usual)
    assert '<tr class="differs"><td class="mono">lr</td><td class="mono">0.07</td><td class="mono">0.05</td>' in html
    assert '<tr><td class="mono">depth</td>' in html  # the same as usual: not marked
    assert "(1 differ from the experiment" in html  # `comment` is logged by this run only


def test_healthy_and_log_scale(diagnoses):
    healthy = render_run_report(diagnoses["healthy"])
    assert 'class="banner healthy"' in healthy and "HEALTHY" in healthy and "no warning or critical finding" in healthy
    assert re.search(r"training loss goes down</td>\s*<td class=\"state\">✔ confirmed</td><td>median train_loss", healthy)
    assert "(log scale)" not in healthy.split("grad norm")[0]
    blowup = render_run_report(diagnoses["blowup"])
    assert ">train loss (log scale)<" in blowup  # val moves over 4% of that axis: its own panel


def test_downsampling_keeps_spike_and_nan():
    steps = np.arange(100_000)
    values = np.exp(-steps / 30_000) + 0.01 * np.sin(steps)
    values[54_321] = 250.0
    values[77_777:77_790] = np.nan
    values[90_001] = np.inf
    p = downsample(steps, values, buckets=400)
    assert len(p.steps) <= 800
    assert p.values.max() == 250.0 and p.steps[p.values.argmax()] == 54_321
    assert p.bad["nan"][0].tolist() == [77_777] and p.bad["nan"][1].tolist() == [77_789]
    assert p.bad["posinf"][0].tolist() == [90_001]
    assert p.breaks.sum() == 2  # the line breaks across both non-finite stretches


def test_downsampling_a_real_history(diagnoses):
    series: Series = diagnoses["nan"].run.metrics["train_loss"]
    p = downsample(series.steps, series.values, buckets=10)
    finite = series.values[np.isfinite(series.values)]
    assert p.values.max() == finite.max() and p.values.min() == finite.min()
    assert p.bad["nan"][0].tolist() == [60] and p.bad["nan"][1].tolist() == [119]


def test_comparison_report(store):
    runs = load_runs(open_store(store.uri), [store.ids[n] for n in SWEEP])
    comparison = comparison_from_runs(runs)
    html = render_comparison_report(comparison, {r.run_id: r for r in runs})
    assert_inert(html)
    value = comparison["comparisons"][0]["values"][0]
    outcome = value["outcome"]
    assert f"{short(outcome['mean'], 3)} ± {short(outcome['std'], 3)} (n={outcome['n']})" in html
    assert all(f'<span class="chip">{name}</span>' in html for name in SWEEP)
    assert html.count('class="chart line overlay wide"') == 1  # every lr value on one axis (and a narrow copy)
    assert "seed noise band" in html and 'id="importance"' in html and "only 2 seeds per value" in html
    assert comparison["summary"] in html


def test_comparison_with_hostile_text(diagnoses):
    run = diagnoses["hostile"].run
    comparison = {"experiment_id": SCRIPT, "target": IMG, "summary": SCRIPT, "warnings": [IMG],
                  "comparisons": [{"param": SCRIPT, "values": [{"value": IMG, "run_ids": [run.run_id],
                                   "outcome": {"mean": None, "std": "inf", "n": 1}, "patterns": {SCRIPT: 1}}],
                                   "effect": None, "noise": None, "significant": False, "confounded": True,
                                   "confounders": [IMG]}],
                  "importance": [{"param": IMG, "importance": 0.3, "correlation": "nan"}]}
    html = render_comparison_report(comparison, {run.run_id: run})
    assert_inert(html)
    assert ESCAPED_SCRIPT in html and "confounded" in html


def test_digest(store, diagnoses):
    ordered = [diagnoses[n] for n in ("healthy", "hostile", "nan")]
    hrefs = {d.run.run_id: f"{d.run.run_id}.html" for d in ordered}
    hrefs[diagnoses["hostile"].run.run_id] = "javascript:alert(1)"
    html = render_digest(ordered, hrefs, SCRIPT, "2026-11-25 02:00 UTC", [("abc123", SCRIPT, IMG)])
    assert_inert(html)
    assert "javascript:" not in html
    nan_id, healthy_id = diagnoses["nan"].run.run_id, diagnoses["healthy"].run.run_id
    assert html.index(nan_id) < html.index(healthy_id)  # worst first
    assert f'<a href="{nan_id}.html">nan</a>' in html
    assert html.count('svg" class="spark"') == 3
    rows = {row.split("</a>")[0].rsplit(">", 1)[-1]: row for row in html.split('<tr class="row')[1:]}
    assert 'class="bad"' in rows["nan"] and 'class="bad"' not in rows["healthy"]  # sparkline marks the NaN stretch
    assert '<label for="f1">healthy (2)</label>' in html and '<label for="f2">nan_inf (1)</label>' in html
    assert "#f2:checked ~ table tr.row:not(.p2)" in html
    assert re.search(r'<tr class="row p2 e1"', html) and html.count('class="row p1 e1"') == 2
    assert "Could not be analyzed (1)" in html and "abc123" in html


def test_write_report_is_atomic(tmp_path, diagnoses, monkeypatch):
    path = tmp_path / "report.html"
    write_report(path, render_run_report(diagnoses["healthy"]))
    before = path.read_text()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(PosthocError, match="cannot write .*report.html: No space left on device"):  # exit 1
        write_report(path, render_run_report(diagnoses["nan"]))
    assert path.read_text() == before and "HEALTHY" in before
    assert [p.name for p in Path(tmp_path).iterdir()] == ["report.html"]  # no temp file left behind


def test_any_finding_renders_generically(diagnoses):
    """Detectors land in parallel: a finding of another pattern renders from its fields alone."""
    spike = Finding("loss_spikes", "warning", 0.8, "train_loss", 40, 44,
                    {"spike_steps": [40, 44], "max_ratio": float("inf"), "baseline": None, "by_metric": {"a": 1.5}},
                    "train_loss jumped 3x at steps 40 and 44 and recovered", ("lower lr", SCRIPT))
    d = dataclasses.replace(diagnoses["healthy"], status="warning", primary="loss_spikes", findings=(spike,))
    html = render_run_report(d)
    assert_inert(html)
    assert 'class="banner warning"' in html and "WARNING" in html and "▲" in html
    assert "primary cause: <b id=\"primary-pattern\">loss_spikes</b> (warning, confidence 0.80, steps 40–44)" in html
    assert "1 loss_spikes" in html  # labeled span on the charts
    for key, value in (("spike_steps", "40, 44"), ("max_ratio", "+Inf"), ("baseline", "—"), ("by_metric", "a: 1.5")):
        assert f'<td class="mono">{key}</td><td class="mono">{value}</td>' in html
    assert re.search(r"loss curve is stable.*?✖ contradicted</td><td>loss_spikes at steps 40–44", html, re.DOTALL)
    assert f"<li>{ESCAPED_SCRIPT}</li>" in html


def test_value_scale_goes_log_across_decades():
    assert value_scale([np.array([1e-3, 1.0, 50.0])]).log
    assert not value_scale([np.array([0.5, 1.0, 2.0])]).log
    assert not value_scale([np.array([-1.0, 1e3])]).log
    scale = value_scale([np.array([np.nan, np.inf, 1e-6, 1e2])])
    assert scale.log and [label for _, label in scale.ticks()] == ["1e-6", "1e-4", "0.01", "1", "100"]
