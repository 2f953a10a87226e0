"""Config machinery: YAML -> frozen dataclass -> CLI overrides -> saved in the run dir.

Every stage has one frozen dataclass. Its field defaults are the built-in
defaults; ``configs/<stage>.yaml`` mirrors them (a test keeps the two in step).
Resolution order, later wins:

1. the dataclass defaults,
2. a YAML file (``--config``), which may set any subset of fields,
3. CLI options that the user actually passed (``None`` means "not given").

The resolved config is written as ``config.yaml`` in every run directory so a
run can be reproduced from its folder alone.

Unknown keys and wrong types fail with a message naming the key.

A field the CLI exposes is declared with :func:`setting`, which records its help
text (and any extra CLI spelling) as field metadata; ``cxr.commands.options``
builds the typer option from it, so an option's default and help are written once,
here. This module stays cheap to import (no yaml until a file is read or written)
because ``cxr --help`` reads these declarations.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text

T = TypeVar("T")


def setting(
    default: Any,
    help: str,
    *,
    cli: str | tuple[str, ...] = (),
    metavar: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A config field that the CLI exposes: ``epochs: int = setting(20, "Maximum epochs.")``.

    ``help`` is the option's help text (the CLI appends the default; do not write it
    here); ``cli`` is a documented spelling used instead of ``--<field-name>`` (e.g.
    ``--with-synthetic`` for ``synthetic_ratio``); ``metavar`` overrides the type label;
    ``aliases`` are old key names still accepted in YAML files and on the command line.
    """
    meta: dict[str, Any] = {"help": help, "cli": (cli,) if isinstance(cli, str) else cli}
    if metavar is not None:
        meta["metavar"] = metavar
    if aliases:
        meta["aliases"] = aliases
    if isinstance(default, (dict, list)):
        copy = type(default)
        return dataclasses.field(default_factory=lambda: copy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check and convert a YAML/CLI value to the annotated field type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    return value


def build_config(cls: type[T], yaml_path: str | Path | None = None, **overrides: Any) -> T:
    """Resolve a stage config: dataclass defaults <- YAML file <- overrides.

    Overrides whose value is ``None`` are ignored (the CLI uses ``None`` for
    "option not given"), so YAML values survive unless the user overrides them.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    # old key names a field still accepts (setting(..., aliases=...))
    renamed = {a: f.name for f in dataclasses.fields(cls) for a in f.metadata.get("aliases", ())}
    values: dict[str, Any] = {}
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        for key, val in loaded.items():
            key = renamed.get(key, key)
            if key not in names:
                raise ConfigError(
                    f"config file {path}: unknown key '{key}' for {cls.__name__} "
                    f"(valid: {', '.join(sorted(names))})"
                )
            values[key] = _coerce(val, hints[key], key)
    for key, val in overrides.items():
        key = renamed.get(key, key)
        if val is None:
            continue
        if key not in names:
            raise ConfigError(f"unknown option '{key}' for {cls.__name__}")
        values[key] = _coerce(val, hints[key], key)
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict (tuples become lists) suitable for YAML/JSON."""
    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def save_config(cfg: Any, run_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config into a run directory (atomically)."""
    import yaml

    out = Path(run_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return out


def load_saved_config(cls: type[T], run_dir: str | Path, name: str = "config.yaml") -> T:
    """Reload the config saved by :func:`save_config`."""
    return build_config(cls, Path(run_dir) / name)
