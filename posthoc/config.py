"""Settings: documented defaults, overridden by `[tool.posthoc]` in pyproject.toml, posthoc.toml or --config.

Example (pyproject.toml):

    [tool.posthoc.roles]
    train_loss = ["my_train_objective"]     # tried before the default aliases

    [tool.posthoc.thresholds.overfitting]
    min_rise = 0.2
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from posthoc.errors import BadInput


@dataclass(frozen=True)
class Config:
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    thresholds: dict[str, dict] = field(default_factory=dict)
    replicate_params: tuple[str, ...] = ("seed", "random_state", "random_seed", "rng_seed")
    ignore_params: tuple[str, ...] = ()  # never compared: identifiers the automatic guess misses
    source: str | None = None

    def thresholds_for(self, pattern: str, defaults):
        """The detector's Thresholds dataclass with this project's overrides applied."""
        overrides = self.thresholds.get(pattern, {})
        known = {f.name for f in dataclasses.fields(defaults)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise BadInput(
                f"unknown threshold(s) {', '.join(unknown)} for {pattern} in {self.source}; "
                f"known: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(defaults, **overrides)


def load_config(path: str | None = None, cwd: str | Path = ".") -> Config:
    """Read --config if given, else posthoc.toml, else pyproject.toml's [tool.posthoc] in `cwd`."""
    cwd = Path(cwd)
    if path is not None:
        candidates = [Path(path)]
        if not candidates[0].is_file():
            raise BadInput(f"config file {path} not found")
    else:
        candidates = [cwd / "posthoc.toml", cwd / "pyproject.toml"]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot parse {candidate}: {exc}") from exc
        section = data.get("tool", {}).get("posthoc", data if candidate.name == "posthoc.toml" else None)
        if section is None:
            continue
        return _from_section(section, str(candidate))
    return Config()


def _from_section(section: dict, source: str) -> Config:
    roles = section.get("roles", {})
    thresholds = section.get("thresholds", {})
    if not isinstance(roles, dict) or not all(isinstance(v, (list, str)) for v in roles.values()):
        raise BadInput(f"[tool.posthoc.roles] in {source} must map a role to a list of metric names")
    if not isinstance(thresholds, dict) or not all(isinstance(v, dict) for v in thresholds.values()):
        raise BadInput(f"[tool.posthoc.thresholds] in {source} must hold one table per pattern")
    replicate = section.get("replicate_params", Config.replicate_params)
    if isinstance(replicate, str):  # `replicate_params = "seed"` means one param, not four letters
        replicate = [replicate]
    ignore = section.get("ignore_params", [])
    if isinstance(ignore, str):
        ignore = [ignore]
    return Config(
        roles={role: tuple([names] if isinstance(names, str) else names) for role, names in roles.items()},
        thresholds=thresholds,
        replicate_params=tuple(replicate),
        ignore_params=tuple(ignore),
        source=source,
    )
