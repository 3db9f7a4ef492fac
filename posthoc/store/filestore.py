"""Direct read-only reader for MLflow file stores (`./mlruns`).

MLflow 3's own FileStore refuses to open without MLFLOW_ALLOW_FILE_STORE=true and creates `.trash` on open;
the layout is plain text, so we read it ourselves and never write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import yaml

from posthoc.errors import StoreUnreachable
from posthoc.model import Run, Series
from posthoc.store import DEFAULT_WORKSPACE, decode_infinities, unknown_experiments_error, unknown_runs_error

RUN_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
SKIPPED_DIRS = {".trash", "models", "datasets"}


class Unreadable(ValueError):
    """A file of one run that cannot be parsed (torn, garbage, not UTF-8): that run is unreadable, not the store."""


class FileStore:
    notice: str | None = None

    def __init__(self, uri: str, root: Path, workspace: str = DEFAULT_WORKSPACE):
        if root.is_file():
            raise StoreUnreachable(f"no MLflow store at {root.absolute()}: it is a file, not a store directory; "
                                   f"a sqlite store is given as sqlite:///{root}")
        if not root.is_dir():
            raise StoreUnreachable(
                f"no MLflow store at {root.absolute()}: the directory does not exist; check --tracking-uri"
            )
        if next(root.glob("*/meta.yaml"), None) is None:
            raise StoreUnreachable(f"no MLflow store at {root.absolute()}: the directory holds no experiment "
                                   "(no <experiment id>/meta.yaml); check --tracking-uri")
        self.uri = uri
        self.root = root
        self.workspace = workspace  # file stores have only MLflow's default workspace

    def _experiments(self) -> dict[str, dict]:
        out = {}
        for meta_path in sorted(self.root.glob("*/meta.yaml")):
            if meta_path.parent.name in SKIPPED_DIRS:
                continue
            try:
                meta = _read_yaml(meta_path)
            except Unreadable as exc:
                raise StoreUnreachable(f"cannot read experiment {meta_path.parent.name} in {self.root}: {exc}") from exc
            if meta.get("lifecycle_stage", "active") == "active":
                out[str(meta.get("experiment_id", meta_path.parent.name))] = meta
        return out

    def experiment_ids(self, names: list[str]) -> dict[str, str]:
        by_name = {meta.get("name"): eid for eid, meta in self._experiments().items()}
        missing = [n for n in names if n not in by_name or self.workspace != DEFAULT_WORKSPACE]
        if missing:
            raise unknown_experiments_error(missing, self.uri, self.workspace)
        return {n: by_name[n] for n in names}

    def experiment_names(self) -> list[str]:
        experiments = self._experiments() if self.workspace == DEFAULT_WORKSPACE else {}
        return [str(experiments[e].get("name")) for e in sorted(experiments, key=lambda e: (len(e), e))]

    def _run_metas(self, experiment_ids: list[str]) -> list[dict]:
        """Each active run's meta.yaml; a run whose meta.yaml is corrupt is listed (by its folder) as unreadable."""
        metas = []
        for eid in experiment_ids:
            for meta_path in (self.root / eid).glob("*/meta.yaml"):
                try:
                    meta = {**_read_yaml(meta_path), "run_id": meta_path.parent.name, "experiment_id": eid}
                except Unreadable as exc:
                    meta = {"run_id": meta_path.parent.name, "experiment_id": eid, "unreadable": str(exc)}
                if meta.get("lifecycle_stage", "active") == "active":
                    metas.append(meta)
        return sorted(metas, key=lambda m: (_number(m.get("start_time")), str(m.get("run_id"))))

    def run_ids(self, experiment_ids: list[str]) -> list[str]:
        return [str(m["run_id"]) for m in self._run_metas(experiment_ids)]

    def run_versions(self, experiment_ids: list[str]) -> dict[str, tuple[str, int]]:
        out = {}
        for meta in self._run_metas(experiment_ids):
            run_dir = self.root / str(meta["experiment_id"]) / str(meta["run_id"])
            stamps = [int(p.stat().st_mtime_ns // 1_000_000) for p in (run_dir / "metrics").rglob("*") if p.is_file()]
            version = max([*stamps, _number(meta.get("end_time"))])
            out[str(meta["run_id"])] = (RUN_STATUS.get(meta.get("status"), "UNKNOWN"), version)
        return out

    def run_params(self, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
        params = {}
        for meta in self._run_metas(experiment_ids):
            try:
                params[str(meta["run_id"])] = _read_key_files(self.root / str(meta["experiment_id"]) / str(meta["run_id"]) / "params")
            except Unreadable:
                params[str(meta["run_id"])] = {}  # iter_runs reports the run as unreadable
        return params

    def iter_runs(self, run_ids: list[str]) -> Iterator[list[Run]]:
        dirs = {}
        wanted = set(run_ids)
        for run_dir in [*self.root.glob("*/*"), *self.root.glob(".trash/*/*")]:  # by id, as MLflow finds them
            if run_dir.name in wanted and (run_dir / "meta.yaml").is_file():
                dirs[run_dir.name] = run_dir
        missing = [r for r in run_ids if r not in dirs]
        if missing:
            raise unknown_runs_error(missing, self.uri)
        for start in range(0, len(run_ids), 100):
            yield [_read_run(dirs[r]) for r in run_ids[start : start + 100]]


def _number(value) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _read_yaml(path: Path) -> dict:
    try:
        meta = yaml.load(path.read_bytes().decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{path.name} is not UTF-8 text") from exc
    except yaml.MarkedYAMLError as exc:
        where = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise Unreadable(f"{path.name} is not valid YAML{where} ({exc.problem})") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise Unreadable(f"cannot read {path.name}: {exc}") from exc
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise Unreadable(f"{path.name} is not a YAML mapping")
    return meta


def _read_key_files(folder: Path) -> dict[str, str]:
    """MLflow stores a key with slashes as nested folders: `train/loss` → metrics/train/loss."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in folder.rglob("*"):
        if path.is_file():
            key = path.relative_to(folder).as_posix()
            try:
                out[key] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Unreadable(f"{folder.name}/{key} is not UTF-8 text") from exc
    return out


def _parse_metric(key: str, text: str) -> Series:
    """MLflow's metric file: one `timestamp value step` line per point."""
    try:
        table = np.array(text.split(), dtype=np.float64).reshape(-1, 3)
    except ValueError:
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            try:
                if len(fields) != 3:
                    raise ValueError
                [float(f) for f in fields]
            except ValueError:
                shown = line if len(line) <= 40 else line[:40] + "…"
                raise Unreadable(f"metrics/{key} line {number} is not 'timestamp value step': {shown!r}") from None
        raise Unreadable(f"metrics/{key} is not 'timestamp value step' lines") from None
    # ±max float is ±Inf, as on SQL stores, which cannot tell them apart (docs/contracts.md)
    return Series.from_points(key, table[:, 2], decode_infinities(table[:, 1]), table[:, 0])


def _read_run(run_dir: Path) -> Run:
    """The run as logged, or, when one of its files cannot be parsed, an empty run that says why."""
    try:
        meta = _read_yaml(run_dir / "meta.yaml")
        metrics = {key: _parse_metric(key, text) for key, text in _read_key_files(run_dir / "metrics").items()}
        tags = _read_key_files(run_dir / "tags")
        params = _read_key_files(run_dir / "params")
    except Unreadable as exc:
        return Run(run_dir.name, "", run_dir.parent.name, "UNKNOWN", None, None, {}, {}, {}, unreadable=str(exc))
    return Run(
        run_id=str(meta.get("run_id", run_dir.name)),
        run_name=str(meta.get("run_name") or tags.get("mlflow.runName", "")),
        experiment_id=str(meta.get("experiment_id", run_dir.parent.name)),
        status=RUN_STATUS.get(meta.get("status"), str(meta.get("status"))),
        start_time=meta.get("start_time"),
        end_time=meta.get("end_time"),
        params=params,
        tags=tags,
        metrics=metrics,
    )
