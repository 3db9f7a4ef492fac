"""Each kind of report in a real headless Chromium: rendered DOM, drawn charts, no network request.

Skips only when Chromium is absent (CI installs Debian's `chromium` in .ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from posthoc.report import (
    render_comparison_report,
    render_digest,
    render_run_report,
    write_report,
)
from posthoc.store import load_runs, open_store
from tests.report.conftest import IMG, SCRIPT, SWEEP
from tests.report.helpers import comparison_from_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is absent: install Debian's `chromium` package "
                                "(.ci/run does) to run the real-browser report tests")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
BLUE = np.array([0x00, 0x72, 0xB2]) / 255  # the first series colour (Okabe-Ito blue)
# Chromium's own background services still phone home despite the flags; only the page's requests count
BROWSER_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(/|:|$)")


@dataclass
class Page:
    dom: str
    pixels: np.ndarray  # RGB floats in [0, 1]
    requests: list[str]  # URLs the page itself asked for


def browse(html: str, tmp_path: Path, name: str) -> Page:
    """One browser launch: write the report, dump the DOM after load, screenshot it, log the network."""
    from matplotlib import image

    path, png, netlog = tmp_path / f"{name}.html", tmp_path / f"{name}.png", tmp_path / f"{name}.netlog.json"
    write_report(path, html)
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / ('profile-' + name)}", f"--log-net-log={netlog}",
         "--dump-dom", f"--screenshot={png}", "--window-size=1200,1600", path.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0 and png.exists(), result.stderr[-2000:]
    urls = re.findall(r'"url":"([^"]*)"', netlog.read_text()) if netlog.exists() else []
    return Page(result.stdout, image.imread(png)[..., :3], [u for u in urls if not BROWSER_HOSTS.match(u)
                                                             and not u.startswith(("file:", "data:", "about:"))])


def blue_columns(pixels: np.ndarray) -> tuple[int, int]:
    """How many pixels are the series blue, and how many screen columns they cover."""
    hit = np.abs(pixels - BLUE).max(axis=2) < 0.12
    return int(hit.sum()), int(hit.any(axis=0).sum())


def test_run_report_in_chromium(store, diagnoses, tmp_path):
    page = browse(render_run_report(diagnoses["nan"]), tmp_path, "run")
    assert page.requests == []
    banner = re.search(r'<div class="banner failed" id="status".*?</div>', page.dom, re.DOTALL).group(0)
    assert "FAILED" in banner and "nan_inf" in banner
    # loss, grad norm, lr and val accuracy, each drawn wide (shown here) and narrow (for phones)
    assert page.dom.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart line wide"') == 4
    assert page.dom.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart line narrow"') == 4
    assert "train loss: NaN from step 60" in page.dom
    count, columns = blue_columns(page.pixels)
    assert count > 500 and columns > 400  # the loss, grad-norm and lr lines are drawn across the plot width
    orange = np.abs(page.pixels - np.array([0xD5, 0x5E, 0x00]) / 255).max(axis=2) < 0.1
    assert orange.sum() > 100  # NaN markers and the span's edge


def test_hostile_names_stay_text_in_chromium(store, diagnoses, tmp_path):
    page = browse(render_run_report(diagnoses["hostile"]), tmp_path, "hostile")
    assert page.requests == []
    name = re.search(r'<h1 id="run-name">(.*?)</h1>', page.dom, re.DOTALL).group(1)
    assert name == "&lt;script&gt;alert(1)&lt;/script&gt;\"&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert "<img" not in page.dom and page.dom.count("<script") == 0
    assert "still RUNNING" in page.dom


def test_comparison_report_in_chromium(store, tmp_path):
    runs = load_runs(open_store(store.uri), [store.ids[n] for n in SWEEP])
    page = browse(render_comparison_report(comparison_from_runs(runs), {r.run_id: r for r in runs}), tmp_path, "compare")
    assert page.requests == []
    assert re.search(r'<span class="mono param">lr</span>', page.dom)
    assert page.dom.count('class="chart line overlay wide"') == 1 and 'class="band"' in page.dom
    assert all(name in page.dom for name in SWEEP)
    count, columns = blue_columns(page.pixels)
    assert count > 300 and columns > 300  # overlay curves, noise dots, importance bars


def _digest(diagnoses) -> str:
    ordered = [diagnoses[n] for n in ("healthy", "nan", "blowup", "hostile")]
    return render_digest(ordered, {d.run.run_id: f"{d.run.run_id}.html" for d in ordered}, "nightly " + SCRIPT,
                         "2026-11-25 02:00 UTC", [("deadbeef", IMG, "store read failed")])


def test_digest_in_chromium(store, diagnoses, tmp_path):
    page = browse(_digest(diagnoses), tmp_path, "digest")
    assert page.requests == []
    rows = re.findall(r'<tr class="row ([^"]*)" data-status="(\w+)"', page.dom)
    assert [status for _, status in rows] == ["failed", "healthy", "healthy", "healthy"]  # worst first
    assert page.dom.count('svg" class="spark"') == 4
    assert "&lt;script&gt;" in page.dom and "deadbeef" in page.dom
    count, columns = blue_columns(page.pixels)
    assert count > 100 and columns > 80  # sparklines drawn


def test_digest_filter_works_without_scripts(store, diagnoses, tmp_path):
    """The report has no script; this test copy adds one that clicks a filter and records what stays visible."""
    html = _digest(diagnoses)
    index = re.search(r'<label for="f(\d+)">nan_inf \(', html).group(1)
    probe = (f"<script>document.querySelector('label[for=f{index}]').click();"
             "document.querySelectorAll('tr.row').forEach(r => r.dataset.visible = getComputedStyle(r).display != 'none');"
             "</script>")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", probe + "</body>")
    page = browse(html, tmp_path, "digest-filter")
    rows = re.findall(r'<tr class="row [^"]*" data-status="(\w+)" data-visible="(\w+)"', page.dom)
    assert rows == [("failed", "true"), ("healthy", "false"), ("healthy", "false"), ("healthy", "false")]
