"""One world of bad and odd inputs, built once per module: real MLflow stores (sqlite and files) logged by
real training loops, broken copies of their files, odd config files, a server that answers only 503."""

from __future__ import annotations

import http.server
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import QUICK, StoreBuilder
from tests.nightly.conftest import NAN_RUN, tree_digest

CONFIGS = {  # file name → content (pyproject.toml style unless the name says posthoc.toml)
    "ok.toml": '[tool.posthoc.roles]\ntrain_loss = ["objective"]\n',
    "wrong-type.toml": '[tool.posthoc.thresholds.nan_inf]\ngrowth_ratio = "ten"\n',
    "negative.toml": "[tool.posthoc.thresholds.divergence]\nmin_rise_ratio = -0.5\n",
    "nan.toml": "[tool.posthoc.thresholds.divergence]\nmin_rise_ratio = nan\n",
    "float-count.toml": "[tool.posthoc.thresholds.divergence]\nmin_points = 2.5\n",
    "bool.toml": "[tool.posthoc.thresholds.loss_spikes]\nspike_ratio = true\n",
    "unknown-threshold.toml": "[tool.posthoc.thresholds.nan_inf]\ngrowth = 3.0\n",
    "unknown-pattern.toml": "[tool.posthoc.thresholds.nan_ifn]\ngrowth_ratio = 3.0\n",
    "misspelled-role.toml": '[tool.posthoc.roles]\ntrain_los = ["objective"]\n',
    "role-not-list.toml": "[tool.posthoc.roles]\ntrain_loss = 3\n",
    "unknown-section.toml": "[tool.posthoc.threshold.nan_inf]\ngrowth_ratio = 3.0\n",
    "replicate-numbers.toml": "[tool.posthoc]\nreplicate_params = [1, 2]\n",
    "syntax.toml": "[tool.posthoc.roles\ntrain_loss = 1\n",
    "not-utf8.toml": b"[tool.posthoc]\nx = '\xff\xfe'\n",
    "top-level-posthoc.toml": "[thresholds.plateau]\nband = 0.1\n[rolez]\nx = 1\n",
}


def _serve(answer_health: int):
    """A tiny HTTP server on 127.0.0.1: /health answers `answer_health`, everything else 503."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            code = answer_health if self.path.startswith("/health") else 503
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class World:
    tmp: Path
    sqlite: StoreBuilder
    files: StoreBuilder
    places: dict[str, str] = field(default_factory=dict)  # placeholders for the cases: {name}

    def digests(self) -> dict[str, str]:
        """sha256 of every store and input file the cases read: none of them may change."""
        return {name: tree_digest(path) for name, path in self.inputs().items()}

    def inputs(self) -> dict[str, Path]:
        paths = {"sqlite": self.tmp / "mlflow.db", "files": self.tmp / "mlruns", "configs": self.tmp / "configs",
                 "junk": self.tmp / "junk", "empty": self.tmp / "empty"}
        paths.update({name: self.tmp / name for name in ("garbage.db", "empty.db", "notes.txt")})
        return paths


def _corrupt(files: StoreBuilder, experiment: str, how: str) -> str:
    """A real run of `experiment`, then one of its files broken as `how` says; returns the run id."""
    run_id = files.add(f"{how}-bad", QUICK, experiment=experiment)
    files.add(f"{how}-good", QUICK, experiment=experiment)
    run_dir = next(Path(files.uri).glob(f"*/{run_id}"))
    metric = run_dir / "metrics" / "train_loss"
    if how == "torn-line":  # the run is still logging: its last line is half-written
        metric.write_text(metric.read_text() + "1764551234567 0.41")
    elif how == "garbage":
        metric.write_bytes(b"\x00\x01 not a metric file\n")
    elif how == "not-utf8":
        (run_dir / "params" / "lr").write_bytes(b"\xff\xfe0.1")
    elif how == "bad-meta":
        (run_dir / "meta.yaml").write_text("run_id: [unclosed\nstatus: 3\n")
    return run_id


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("bad-inputs")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    sqlite = StoreBuilder(f"sqlite:///{tmp / 'mlflow.db'}")
    sqlite.add("healthy", QUICK, experiment="exp")
    sqlite.add("nan", NAN_RUN, experiment="exp")
    client = sqlite.client
    odd = sqlite.experiment("odd")
    sqlite.experiment("empty-experiment")
    thin = {"foo-bar-only": {"foo": [0.9, 0.7, 0.5], "bar": [1.0, 0.8, 0.6]}, "one-point": {"train_loss": [0.7]},
            "no-metrics": {}}
    for name, metrics in thin.items():
        run_id = client.create_run(odd, run_name=name).info.run_id
        for key, values in metrics.items():
            for step, value in enumerate(values):
                client.log_metric(run_id, key, value, step=step, timestamp=1764550000000 + step)
        client.set_terminated(run_id)
        sqlite.ids[name] = run_id
    files = StoreBuilder(str(tmp / "mlruns"))
    files.add("healthy", QUICK, experiment="exp")
    bad = {how: _corrupt(files, how, how) for how in ("torn-line", "garbage", "not-utf8", "bad-meta")}
    # two runs whose ids share a prefix: copies of a real run under chosen ids (MLflow names run folders by id)
    source = next(Path(files.uri).glob(f"*/{files.ids['healthy']}"))
    twins = ["abcd1234" + "0" * 24, "abcd5678" + "0" * 24]
    for twin in twins:
        copy = source.parent / twin
        shutil.copytree(source, copy)
        meta = (copy / "meta.yaml").read_text().replace(files.ids["healthy"], twin)
        (copy / "meta.yaml").write_text(meta)
    (tmp / "configs").mkdir()
    for name, content in CONFIGS.items():
        path = tmp / "configs" / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (tmp / "junk").mkdir()
    (tmp / "junk" / "notes.md").write_text("not a store\n")
    (tmp / "empty").mkdir()
    (tmp / "garbage.db").write_bytes(b"this is not a sqlite database" * 40)
    (tmp / "empty.db").write_bytes(b"")
    (tmp / "notes.txt").write_text("hello\n")
    (tmp / "readonly-parent-file").write_text("a file, not a directory\n")
    down = _serve(503)
    half = _serve(200)
    world = World(tmp, sqlite, files)
    world.places = {
        "tmp": str(tmp), "db": str(tmp / "mlflow.db"), "sqlite": sqlite.uri, "files": files.uri,
        "cfg": str(tmp / "configs"), "down": f"http://127.0.0.1:{down.server_address[1]}",
        "half": f"http://127.0.0.1:{half.server_address[1]}", "file": str(tmp / "readonly-parent-file"),
        **{f"run_{name.replace('-', '_')}": run_id for name, run_id in sqlite.ids.items()},
        **{f"bad_{how.replace('-', '_')}": run_id for how, run_id in bad.items()},
        "twin_a": twins[0], "twin_b": twins[1],
    }
    yield world
    down.shutdown()
    half.shutdown()
    monkeypatch.undo()
