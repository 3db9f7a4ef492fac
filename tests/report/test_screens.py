"""Every kind of report on a phone (400 px), a laptop (1280 px) and paper, in a real headless Chromium.

Headless Chromium will not make a window narrower than 500 px, so each report is loaded into an iframe of
the width under test (srcdoc: same origin, so the page script can measure inside it). One browser launch
measures every report at both widths; printing uses Chromium's own --print-to-pdf and pdftoppm (poppler).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from posthoc.cli import cli
from posthoc.demo.loops import TrainConfig
from posthoc.report import common_params, render_comparison_report, render_digest, render_run_report
from posthoc.store import load_runs, open_store
from tests.report.conftest import IMG, SWEEP
from tests.report.helpers import comparison_from_runs
from tests.report.test_browser import CHROMIUM, FLAGS

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is absent: .ci/run installs Debian's `chromium`")
WIDTHS = (400, 1280)
MIN_CHART_TEXT_PX = 9.0
MIN_PAGE_FILL = 1 / 3
RANGE_TEST = TrainConfig(dataset="wine", hidden=16, lr=1e-7, schedule="range_test", range_end_lr=100.0, steps=200,
                         log_val=False, stop_on_nan=True)

# measured inside each frame: overflow, the smallest rendered chart text, words split across two lines
PROBE = """
const frames = [...document.querySelectorAll('iframe')];
function measure(f) {
  const d = f.contentDocument, w = f.contentWindow;
  const texts = [...d.querySelectorAll('svg text')].filter(t => t.getClientRects().length);
  const sizes = texts.map(t => parseFloat(w.getComputedStyle(t).fontSize) * t.getScreenCTM().a);
  const smallest = texts[sizes.indexOf(Math.min(...sizes))];
  const broken = [];
  const walker = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('svg, style') || !node.parentElement.getClientRects().length) continue;
    const re = /[^\\s\\-\\u2013\\u2014/,;:()]+/g;
    for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
      const range = d.createRange(); range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(m[0]);
    }
  }
  let focus = null;
  const radio = d.getElementById('f1');
  if (radio) {
    radio.focus();
    const label = d.querySelector('label[for="f1"]');
    focus = {visible: radio.matches(':focus-visible'), outline: w.getComputedStyle(label).outlineStyle};
  }
  return {name: f.dataset.name, width: f.offsetWidth, scroll: d.documentElement.scrollWidth, inner: w.innerWidth,
          client: d.documentElement.clientWidth, charts: texts.length, min_text: sizes.length ? Math.min(...sizes) : null,
          min_text_in: smallest ? smallest.closest('svg').getAttribute('aria-label') : null, broken: broken.slice(0, 10),
          focus: focus};
}
Promise.all(frames.map(f => new Promise(ok => f.contentDocument && f.contentDocument.readyState === 'complete'
    && f.contentDocument.body && f.contentDocument.body.children.length ? ok() : f.addEventListener('load', ok))))
  .then(() => { document.body.dataset.probe = JSON.stringify(frames.map(measure)); });
"""


def measure_in_frames(pages: dict[str, str], tmp_path: Path) -> list[dict]:
    frames = "".join(
        f'<iframe data-name="{name}" style="border:0;display:block;width:{width}px;height:900px" '
        f'srcdoc="{html_lib.escape(html, quote=True)}"></iframe>'
        for name, html in pages.items() for width in WIDTHS)
    wrapper = tmp_path / "frames.html"
    wrapper.write_text(f"<!DOCTYPE html><html><body style='margin:0'>{frames}<script>{PROBE}</script></body></html>")
    result = subprocess.run([CHROMIUM, *FLAGS, "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile-frames'}", "--window-size=1300,900",
                             "--virtual-time-budget=10000", "--dump-dom", wrapper.as_uri()],
                            capture_output=True, text=True, timeout=180)
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found, result.stderr[-2000:]
    return json.loads(html_lib.unescape(found.group(1)))


def page_fill(html: str, tmp_path: Path, name: str) -> list[float]:
    """Print to PDF as a reader would; per page, how far down the page its last inked row is (0–1)."""
    source, pdf = tmp_path / f"{name}.html", tmp_path / f"{name}.pdf"
    source.write_text(html)
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / ('profile-' + name)}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", source.as_uri()], capture_output=True, timeout=180, check=True)
    subprocess.run(["pdftoppm", "-r", "20", "-gray", str(pdf), str(tmp_path / name)], check=True, timeout=60)
    fills = []
    for page in sorted(tmp_path.glob(f"{name}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1])):
        header, width, height, maxval, raw = page.read_bytes().split(maxsplit=4)
        pixels = np.frombuffer(raw[: int(width) * int(height)], dtype=np.uint8).reshape(int(height), int(width))
        inked = np.flatnonzero((pixels < 235).any(axis=1))
        fills.append((inked[-1] + 1) / int(height) if len(inked) else 0.0)
    return fills


@pytest.fixture(scope="module")
def pages(store, diagnoses, trust, tmp_path_factory) -> dict[str, str]:
    usual = common_params([d.run for d in trust.values()])
    everything = [*diagnoses.values(), *trust.values()]
    names = {d.run.experiment_id: f"experiment {d.run.experiment_id}" for d in everything}
    runs = load_runs(open_store(store.uri), [store.ids[n] for n in SWEEP])
    store.add("finder", RANGE_TEST, experiment="range")  # its report charts loss against a log lr axis
    finder = tmp_path_factory.mktemp("range") / "finder.html"
    CliRunner().invoke(cli, ["analyze", store.ids["finder"], "--tracking-uri", store.uri, "--format", "html",
                             "--out", str(finder)])
    return {
        "run-range": finder.read_text(),
        "run-nan": render_run_report(diagnoses["nan"], index_href="index.html"),
        "run-overfit": render_run_report(trust["overfit"], usual, index_href="index.html"),
        "run-hostile": render_run_report(diagnoses["hostile"]),
        "digest": render_digest(everything, {d.run.run_id: f"{d.run.run_id}.html" for d in everything}, "nightly",
                                "2026-11-25 02:00 UTC", [("deadbeef" * 4, IMG, "store read failed")], names,
                                [{"run_id": d.run.run_id, "before": None, "now": d.status} for d in everything]),
        "compare": render_comparison_report(comparison_from_runs(runs), {r.run_id: r for r in runs}),
    }


def test_no_overflow_readable_charts_and_whole_words(pages, tmp_path):
    results = measure_in_frames(pages, tmp_path)
    assert len(results) == len(pages) * len(WIDTHS)
    for r in results:
        where = f"{r['name']} at {r['width']} px"
        assert r["inner"] == r["width"], where
        assert r["scroll"] <= r["inner"] and r["scroll"] <= r["client"], f"{where}: horizontal overflow {r}"
        if r["name"] != "digest":
            assert r["charts"] >= 20, where  # the charts drawn for this width are visible
            if r["width"] == 400:
                assert r["min_text"] >= MIN_CHART_TEXT_PX, f"{where}: chart text {r['min_text']:.1f} px in {r['min_text_in']}"
        if r["width"] == 1280:
            assert r["broken"] == [], f"{where}: words split across lines: {r['broken']}"
    digest = next(r for r in results if r["name"] == "digest" and r["width"] == 1280)
    assert digest["focus"] == {"visible": True, "outline": "solid"}  # the focused filter shows a ring


def test_printed_run_report_has_no_mostly_empty_page_and_no_stranded_heading(pages, tmp_path):
    for name in ("run-overfit", "run-nan"):
        fills = page_fill(pages[name], tmp_path, name)
        assert len(fills) >= 2
        # the last page holds whatever is left; every other page is at least a third full
        assert min(fills[:-1]) >= MIN_PAGE_FILL, (name, [round(f, 2) for f in fills])
        headings = {re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<h2[^>]*>(.*?)</h2>", pages[name], re.DOTALL)}
        text = subprocess.run(["pdftotext", "-layout", str(tmp_path / f"{name}.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        for page in text.split("\f")[:-1]:
            lines = [line.strip() for line in page.splitlines() if line.strip()]
            assert lines and lines[-1] not in headings, f"{name}: heading {lines[-1]!r} left at the foot of a page"


def test_poppler_is_installed():
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), ".ci/run installs poppler-utils for the print test"
