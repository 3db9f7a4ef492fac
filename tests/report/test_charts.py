"""Charts that show the evidence: val on its own axis when squashed, axis titles, decade ticks, span labels
above the lines and linked to their findings, recovered NaN stretches shaded alone, every metric charted."""

import re

import numpy as np

from posthoc.demo.loops import train
from posthoc.demo.record import log_history
from posthoc.diagnose import diagnose
from posthoc.report import render_run_report
from posthoc.report.charts import Scale
from posthoc.report.run import x_axis_title
from tests.conftest import QUICK


def _svgs(html: str, size: str = "wide") -> list[str]:
    return re.findall(rf'<svg [^>]*class="chart line {size}".*?</svg>', html, re.DOTALL)


def _title(svg: str) -> str:
    return re.search(r'class="ct">([^<]*)<', svg).group(1)


def test_val_gets_its_own_panel_when_its_rise_is_lost_on_trains_axis(trust):
    f = next(f for f in trust["overfit"].findings if f.pattern == "overfitting")
    html = render_run_report(trust["overfit"])
    titles = [_title(svg) for svg in _svgs(html)]
    assert "train loss (log scale)" in titles and "val loss" in titles and "loss (log scale)" not in titles
    val = next(svg for svg in _svgs(html) if _title(svg) == "val loss")
    ticks = [float(t) for t in re.findall(r'class="yt">([^<]*)<', val)]
    # the val axis spans its own rise, best to final, instead of train's decades
    assert min(ticks) <= f.evidence["final_val"] and max(ticks) - min(ticks) < 2 * (f.evidence["final_val"] - f.evidence["best_val"]) + 0.5


def test_x_axis_has_a_title_with_its_unit(trust):
    for svg in _svgs(render_run_report(trust["plain"])):
        assert '<text x="' in svg and re.search(r'class="at">step</text>', svg)
    assert x_axis_title({"train_loss": "train_loss_epoch"}) == "epoch"
    assert x_axis_title({"train_loss": "loss"}) == "step"


def test_log_ticks_sit_on_round_decades(trust):
    assert [label for _, label in Scale(-11.3, 123.5, True).ticks()] == ["1", "1e50", "1e100"]
    assert [label for _, label in Scale(-6.4, 2.4, True).ticks()] == ["1e-6", "1e-4", "0.01", "1", "100"]
    for svg in _svgs(render_run_report(trust["warmup-blowup"])):
        if "(log scale)" in _title(svg):
            exponents = [round(np.log10(float(t))) for t in re.findall(r'class="yt">([^<]*)<', svg)]
            steps = set(np.diff(exponents))
            assert len(steps) == 1 and all(e % next(iter(steps)) == 0 for e in exponents)


def test_span_labels_are_drawn_above_the_lines_and_link_to_findings(diagnoses):
    html = render_run_report(diagnoses["nan"])
    for svg in _svgs(html) + _svgs(html, "narrow"):
        assert svg.rindex('class="ln"') < svg.index('class="sl"')
        assert re.search(r'<a href="#finding-1"><text [^>]*class="sl">1 nan_inf</text></a>', svg)
    assert 'id="finding-1"' in html


def test_a_nan_stretch_that_recovered_is_shaded_over_its_stretch_only(store):
    history = train(QUICK)
    steps, values = history.metrics["train_loss"]
    values = values.copy()
    values[50:60] = np.nan  # e.g. a loss scaler skipping steps: NaN logged, training goes on
    history.metrics["train_loss"] = (steps, values)
    history.metrics["epoch_time"] = (steps, np.full(len(steps), 0.25))  # a metric without a role
    run_id = log_history(store.client, store.experiment("charts"), history, "recovered")
    store.ids["recovered"] = run_id
    d = diagnose(store.load("recovered"))
    html = render_run_report(d)
    number = next(i for i, f in enumerate(d.findings, 1) if f.pattern == "nan_inf")
    assert f"<title>{number} nan_inf: steps 50–59</title>" in html  # not to the run's last step
    # every logged metric is charted: val accuracy among the role panels, the rest as small charts
    assert "val acc" in [_title(svg) for svg in _svgs(html)]
    assert re.search(r'class="chart line small"[^>]*aria-label="epoch_time"', html)
