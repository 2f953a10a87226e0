"""One declaration per CLI option: typer options built from config-field metadata.

A config field declared with :func:`cxr.config.setting` carries its help text and
any extra CLI spelling; :func:`option` turns it into the typer option of a command,
with the dataclass default appended to the help as ``[default: X]`` (the same text
typer prints for a command-only option's own default). :func:`overrides` then reads
the values the user passed back into field names, so no command lists its options a
second time. Options that are not config fields (``--config``, ``--out`` of a
classify run, ``--resume`` ...) are declared with :func:`command_option`.

A command looks like this::

    def classify(
        *,
        out: Annotated[Path, command_option(help="Run directory.")],
        epochs: Annotated[int | None, option(ClassifyConfig, "epochs")] = None,
    ) -> None:
        cfg = build_config(ClassifyConfig, None, **overrides(classify, locals(), ClassifyConfig))

Field options default to ``None`` ("not given", so a ``--config`` YAML value survives);
the help shows the dataclass default instead. ``CxrTyper`` (use it for every command
group) labels every parameter's type the way click does (``INTEGER``, ``FLOAT``,
``PATH...``) and keeps typer's Python-type labels (``<list[Path]>``) out of ``--help``.
tests/test_cli_options.py walks every command and fails on an option that is neither.

Importing this module must stay cheap (``cxr --help``): typer, rich.markup and the
stdlib only.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup

FIELD_ATTR = "cxr_field"  # (config class, field name) on an OptionInfo built by option()
COMMAND_ONLY_ATTR = "cxr_command_only"  # True on an OptionInfo built by command_option()


def option_names(field: dataclasses.Field[Any]) -> list[str]:
    """The option's spellings: ``--<field-name>``, or the documented ``cli`` spelling that
    replaces it, then the field's old names (``aliases``) that still work."""
    names = list(field.metadata.get("cli", ())) or ["--" + field.name.replace("_", "-")]
    names += ["--" + a.replace("_", "-") for a in field.metadata.get("aliases", ())]
    return list(dict.fromkeys(names))


def default_text(value: Any, *, flag: str | None = None) -> str | None:
    """How a default reads in ``--help``; ``None`` when there is nothing to show.

    Lists read ``a, b`` (as typer shows list defaults; comma-separated input may have
    spaces, and a narrow terminal can wrap them); a two-way flag reads as the spelling
    in effect (typer's own convention); an empty string or list shows no default.
    """
    if isinstance(value, bool):
        if flag is None:
            return None
        return flag.lstrip("-") if value else "no-" + flag.lstrip("-")
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value) or None
    if value is None or value == "":
        return None
    return str(value)


def field_of(cls: type, name: str) -> dataclasses.Field[Any]:
    """The dataclass field ``cls.name``, or a TypeError naming the valid ones."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise TypeError(f"{cls.__name__} has no field {name!r} (valid: {', '.join(fields)})")
    return fields[name]


def field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # typer evaluates each command's annotations twice, so option() runs ~500 times per
    # `cxr --help`; resolving a dataclass's string annotations once keeps that cheap
    return typing.get_type_hints(cls)


def _field_kind(cls: type, name: str) -> Any:
    hint = _hints(cls)[name]
    origin = typing.get_origin(hint)
    return origin if origin is not None else hint


def option(cls: type, name: str, *, flag_only: bool = False, required: bool = False) -> Any:
    """The typer option for config field ``cls.name``: names, help and default from its metadata.

    Bool fields become ``--name/--no-name`` flags (``flag_only``: just the names, for
    switches that are only ever turned on). Use with a ``None`` parameter default, or
    ``required=True`` and no parameter default for an option the command cannot run
    without (its field default is then not shown).
    """
    field = field_of(cls, name)
    if "help" not in field.metadata:
        raise TypeError(
            f"{cls.__name__}.{name} has no help: declare it with cxr.config.setting(...)"
        )
    names = option_names(field)
    kind = _field_kind(cls, name)
    metavar = field.metadata.get("metavar")
    if kind is bool:
        if flag_only and field_default(field) is not False:
            raise TypeError(f"{cls.__name__}.{name}: flag_only needs a False default")
        shown = default_text(field_default(field), flag=None if flag_only else names[0])
        off = "--no-" + names[0].removeprefix("--")
        decls = names if flag_only else [f"{names[0]}/{off}", *names[1:]]
    else:
        shown = default_text(field_default(field))
        decls = names
        if metavar is None and kind in (tuple, list):
            metavar = "LIST"
    text = _help(field.metadata["help"], None if required else shown)
    info = typer.Option(*decls, help=text, metavar=metavar, show_default=False)
    setattr(info, FIELD_ATTR, (cls, name))
    return info


def _help(text: str, shown: str | None) -> str:
    """Help text with markup escaped and the default as ``[default: X]``."""
    return escape(text) + ("" if shown is None else f" \\[default: {escape(shown)}]")


def command_option(
    *decls: str,
    help: str,
    metavar: str | None = None,
    shown_default: str | None = None,
    **kwargs: Any,
) -> Any:
    """A typer option that is not a config field (``--config``, ``--resume``, ``--out`` ...).

    Its default is the parameter's own (``= 17``), shown by typer as ``[default: 17]``;
    when the parameter defaults to ``None`` and the command computes the value, say what
    it is in words with ``shown_default`` (``"DIR/report.html"``), shown the same way.
    """
    if shown_default is not None:
        kwargs["show_default"] = False
    info = typer.Option(*decls, help=_help(help, shown_default), metavar=metavar, **kwargs)
    setattr(info, COMMAND_ONLY_ATTR, True)
    return info


def declared_fields(func: Callable[..., Any]) -> dict[str, tuple[type, str]]:
    """Parameter name -> (config class, field) for every option() parameter of ``func``."""
    hints = typing.get_type_hints(func, include_extras=True)
    found: dict[str, tuple[type, str]] = {}
    for pname, hint in hints.items():
        for meta in getattr(hint, "__metadata__", ()):
            target = getattr(meta, FIELD_ATTR, None)
            if target is not None:
                found[pname] = target
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def overrides(func: Callable[..., Any], values: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """Field overrides for ``cls`` from a command's arguments (pass ``locals()``).

    Only parameters declared with ``option(cls, ...)`` count, and only those given
    (not ``None``); paths become strings and lists tuples, as the dataclasses hold them.
    """
    out: dict[str, Any] = {}
    for pname, (owner, field) in declared_fields(func).items():
        if owner is cls and values.get(pname) is not None:
            out[field] = _plain(values[pname])
    return out


# ---------------------------------------------------------------- type labels
_LABELS: dict[Any, str] = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH", bool: ""}


def type_label(annotation: Any) -> tuple[str, bool]:
    """click-style label of an annotation and whether it takes several values."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return type_label(inner[0]) if len(inner) == 1 else ("TEXT", False)
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return (type_label(args[0])[0] if args else "TEXT"), True
    return _LABELS.get(annotation, "TEXT"), False


def _relabel(param: Any) -> None:
    """Give a click parameter a click-style type label (instance-level; typer >= 0.29)."""
    if getattr(param, "_cxr_labelled", False):
        return
    param._cxr_labelled = True
    descriptor = getattr(param, "type_descriptor", None)
    label, many = type_label(getattr(descriptor, "annotation", str))
    if isinstance(param, TyperArgument):
        shown = param.metavar or (label + ("..." if many else ""))
        name = (param.metavar or param.name or "ARG").upper()
        usage = (name if param.required else f"[{name}]") + ("..." if many else "")
        # typer builds these from the Python annotation; no public hook to relabel them
        param.display_type_rich = lambda ctx: shown  # type: ignore[method-assign]
        param._usage_display_name = lambda: usage  # type: ignore[method-assign]
    elif param.metavar is None:
        param.metavar = "" if getattr(param, "is_flag", False) else label


class CxrCommand(TyperCommand):
    """A typer command whose parameters carry click-style type labels."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for p in params:
            _relabel(p)
        return params


class CxrGroup(TyperGroup):
    """A typer group whose own options (a callback's) carry click-style type labels."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        for p in params:
            _relabel(p)
        return params


class CxrTyper(typer.Typer):
    """``typer.Typer`` whose groups and commands use :class:`CxrGroup` / :class:`CxrCommand`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", CxrGroup)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:
        if kwargs.get("cls") is None:
            kwargs["cls"] = CxrCommand
        return super().command(name, **kwargs)
