"""The wheel, not the checkout: built from a copy of the sources, installed in a fresh venv outside the repo,
it must carry every subpackage and the top-level templates/ and render a real HTML report."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"  # building in the checkout would leave build/ and *.egg-info in the repo
    for name in ("posthoc", "templates"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-2000:]  # needs the test extra: build, setuptools>=68, wheel
    return next((tmp_path / "dist").glob("posthoc-*.whl"))


def test_wheel_ships_every_package_and_template_and_renders_a_report(tmp_path, sqlite_store):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(REPO)) for p in (REPO / "posthoc").rglob("__init__.py")}
    assert {f"{p}/__init__.py" for p in packages} <= names
    templates = {f"posthoc/templates/{p.name}" for p in (REPO / "templates").iterdir() if p.suffix in (".html", ".css")}
    assert templates and templates <= names

    venv = tmp_path / "venv"  # the checkout's editable install stays visible, so the test checks which one runs
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True)
    where = subprocess.run([str(python), "-c", "import posthoc; print(posthoc.__file__)"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where

    run_id = sqlite_store.add("healthy")
    out = tmp_path / "report.html"
    result = subprocess.run([str(venv / "bin" / "posthoc"), "analyze", run_id, "--tracking-uri", sqlite_store.uri,
                             "--format", "html", "--out", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "'healthy'" not in html and "healthy" in html
    assert "<style>" in html and "<script" not in html
