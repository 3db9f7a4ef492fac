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
    source: str | None = None  # the file the settings came from, for messages
    prefix: str = "tool.posthoc"  # where they sit in it: "tool.posthoc" in pyproject.toml, "" at a file's top

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
    """Read --config if given, else posthoc.toml, else pyproject.toml's [tool.posthoc] in `cwd`.

    Structure and types are checked here; role and pattern names by diagnose.check_config."""
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
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise BadInput(f"cannot parse {candidate}: {exc}") from exc
        tool = data.get("tool")
        if isinstance(tool, dict) and "posthoc" in tool:
            return _from_section(tool["posthoc"], str(candidate), "tool.posthoc")
        if candidate.name != "pyproject.toml":  # posthoc.toml and --config files may skip [tool.posthoc]
            return _from_section({k: v for k, v in data.items() if k != "tool"}, str(candidate), "")
    return Config()


SECTIONS = ("roles", "thresholds", "replicate_params", "ignore_params")


def key_path(prefix: str, *keys: str) -> str:
    """tool.posthoc.thresholds.nan_inf.growth_ratio: the key as the user wrote it in the TOML file."""
    return ".".join(k for k in (prefix, *keys) if k)


def unknown_key(source: str, path: str, name: str, known) -> BadInput:
    """One line naming the unknown key, the likely intended one, and the keys that exist there."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return BadInput(f"{source}: unknown key {path}{hint}; known: {', '.join(known)}")


def _from_section(section, source: str, prefix: str) -> Config:
    if not isinstance(section, dict):
        raise BadInput(f"{source}: {prefix or 'the file'} must be a table of settings")
    for key in section:
        if key not in SECTIONS:
            raise unknown_key(source, key_path(prefix, key), key, SECTIONS)
    roles = section.get("roles", {})
    thresholds = section.get("thresholds", {})
    if not isinstance(roles, dict):
        raise BadInput(f"{source}: {key_path(prefix, 'roles')} must be a table mapping a role to metric names")
    for role, names in roles.items():
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise BadInput(f'{source}: {key_path(prefix, "roles", role)} must be a list of metric names, '
                           f'e.g. {role} = ["my_metric"]')
    if not isinstance(thresholds, dict):
        raise BadInput(f"{source}: {key_path(prefix, 'thresholds')} must hold one table per pattern")
    for pattern, table in thresholds.items():
        if not isinstance(table, dict):
            raise BadInput(f"{source}: {key_path(prefix, 'thresholds', pattern)} must be a table of thresholds, "
                           f"e.g. [{key_path(prefix, 'thresholds', pattern)}]")
    replicate = section.get("replicate_params", Config.replicate_params)
    if isinstance(replicate, str):  # `replicate_params = "seed"` means one param, not four letters
        replicate = [replicate]
    ignore = section.get("ignore_params", [])
    if isinstance(ignore, str):
        ignore = [ignore]
    for key, names in (("replicate_params", replicate), ("ignore_params", ignore)):
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
            raise BadInput(f'{source}: {key_path(prefix, key)} must be a list of param names, e.g. {key} = ["seed"]')
    return Config(
        roles={role: tuple([names] if isinstance(names, str) else names) for role, names in roles.items()},
        thresholds=thresholds,
        replicate_params=tuple(replicate),
        ignore_params=tuple(ignore),
        source=source,
        prefix=prefix,
    )
