"""Checks that every CLI option is declared once (tests/test_cli_options.py uses these).

``audit(app)`` walks every command of a typer app and reports options that are not
built by ``cxr.commands.options`` (``option`` for a config field, ``command_option``
otherwise), field options whose parameter could shadow YAML values or whose type
disagrees with the field, command-only options that duplicate a config field, and help
texts that write a default by hand. ``help_problems`` reads a rendered ``--help`` page
and reports lost defaults, lost help words, Python type labels and markup.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.main import get_command
from typer.models import OptionInfo
from typer.utils import get_params_from_function

from cxr.commands.options import (
    COMMAND_ONLY_ATTR,
    FIELD_ATTR,
    default_text,
    field_default,
    field_of,
    option_names,
)

HAND_DEFAULT = re.compile(r"\(default\b|\bdefault:|\[\w[^\]]*\]\.?$", re.IGNORECASE)


def walk(app: typer.Typer) -> Iterator[tuple[list[str], Any]]:
    """(path, click command) for every command and group below the root."""

    def rec(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from rec(sub, [*path, name])

    yield from rec(get_command(app), [])


def declarations(cmd: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameter name -> typer OptionInfo, parameter name -> annotation) of a command."""
    callback = getattr(cmd, "callback", None)
    if callback is None:
        return {}, {}
    params = get_params_from_function(inspect.unwrap(callback))
    infos = {n: m.default for n, m in params.items() if isinstance(m.default, OptionInfo)}
    return infos, {n: m.annotation for n, m in params.items()}


def _base(annotation: Any) -> Any:
    """``int | None`` -> int, ``list[Path]`` -> list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _base(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return origin if origin is not None else annotation


_COMPATIBLE: dict[Any, tuple[Any, ...]] = {
    int: (int,),
    float: (float,),
    bool: (bool,),
    str: (str, Path),
    tuple: (str, list),  # a comma list, or a repeatable option
    list: (str, list),
}


def _expected_field_default(cls: type, name: str, info: Any) -> str | None:
    field = field_of(cls, name)
    kind = _base(typing.get_type_hints(cls)[name])
    if kind is bool:
        decls = info.param_decls or ()
        two_way = any("/" in d for d in decls)
        return default_text(field_default(field), flag=option_names(field)[0] if two_way else None)
    return default_text(field_default(field))


def audit(app: typer.Typer) -> list[str]:
    """Every declaration problem of every command, one line each."""
    problems: list[str] = []
    for path, cmd in walk(app):
        where = "cxr " + " ".join(path) if path else "cxr"
        decl, annotations = declarations(cmd)
        classes = {getattr(i, FIELD_ATTR)[0] for i in decl.values() if hasattr(i, FIELD_ATTR)}
        for pname, info in decl.items():
            target = getattr(info, FIELD_ATTR, None)
            label = f"{where}: parameter {pname!r}"
            help_text = (info.help or "").replace("\\[", "[")
            suffix = re.search(r"\[default: ([^\]]*)\]$", help_text)
            body = help_text[: suffix.start()] if suffix else help_text
            if HAND_DEFAULT.search(body):
                problems.append(f"{label}: help writes a default by hand: {body!r}")
            if target is None and not getattr(info, COMMAND_ONLY_ATTR, False):
                problems.append(
                    f"{label} uses typer.Option directly; declare it with "
                    "cxr.commands.options.option (a config field) or command_option"
                )
                continue
            if target is None:
                for cls in classes:
                    if pname in {f.name for f in dataclasses.fields(cls)}:
                        problems.append(
                            f"{label} is command-only but {cls.__name__} has a field "
                            f"{pname!r}: declare it with option({cls.__name__}, {pname!r})"
                        )
                continue
            cls, fname = target
            if info.default is not None and info.default is not ...:  # ...: a required option
                problems.append(
                    f"{label}: a field option must default to None (not given), "
                    f"got {info.default!r}; {cls.__name__}.{fname} holds the default"
                )
            kind = _base(typing.get_type_hints(cls)[fname])
            got = _base(annotations.get(pname))
            if got not in _COMPATIBLE.get(kind, (kind,)):
                problems.append(
                    f"{label}: annotated {got!r} but {cls.__name__}.{fname} is {kind!r}"
                )
            shown = None if info.default is ... else _expected_field_default(cls, fname, info)
            if (suffix.group(1) if suffix else None) != shown:
                problems.append(
                    f"{label}: shows default {suffix.group(1) if suffix else None!r}, "
                    f"{cls.__name__}.{fname} is {shown!r}"
                )
    return problems


# ------------------------------------------------------------- rendered help
TYPE_LABEL = re.compile(
    r"<(?:int|float|str|bool|path|file|dict|text|list\[[^\]]*\]|tuple\[[^\]]*\]|[A-Z]\w*)>"
)
BRACED = re.compile(r"\{[a-z_]+\}")
MARKUP = re.compile(r"\\\[|\[/?(?:bold|italic|dim|red|green|yellow|blue|cyan|magenta|link)\b")
ROW_START = re.compile(r"^│ (?:[* ]  )?(--[a-z][\w-]*…?)")


def _rows(text: str) -> dict[str, str]:
    """Option name -> the text of its row in the Options panel (continuation lines joined)."""
    rows: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.startswith("│"):
            current = None
            continue
        start = ROW_START.match(line)
        inner = line.strip("│ ")
        if start:
            current = start.group(1)
            rows[current] = inner
        elif current is not None:
            rows[current] += " " + inner
    return rows


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def expected_help(param: Any, ctx_default: Any) -> str:
    """The help a user should read for a click option: declared text plus its default."""
    text = (param.help or "").replace("\\[", "[")
    if param.show_default is not False and ctx_default is not None:
        flag = param.opts[0] if param.secondary_opts else None
        shown = default_text(ctx_default, flag=flag)
        if shown is not None and not (isinstance(ctx_default, bool) and flag is None):
            text += f" [default: {shown}]"
    return text


def help_problems(cmd: Any, where: str, text: str) -> list[str]:
    """Problems in one rendered ``--help`` page of ``cmd``."""
    problems = [f"{where}: Python type label {m.group(0)!r}" for m in TYPE_LABEL.finditer(text)]
    problems += [f"{where}: braced usage name {m.group(0)!r}" for m in BRACED.finditer(text)]
    problems += [f"{where}: markup left in the text {m.group(0)!r}" for m in MARKUP.finditer(text)]
    rows = _rows(text)
    for param in cmd.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        name = param.opts[0]
        row = rows.get(name) or next(  # a long name is cut to "--synthetic-ratio,--with-sy…"
            (r for key, r in rows.items() if key.endswith("…") and name.startswith(key[:-1])), None
        )
        if row is None:
            problems.append(f"{where}: {name} not found in --help")
            continue
        want = expected_help(param, param.default)
        if _squash(want) not in _squash(row):
            problems.append(f"{where}: {name} should read {want!r}, reads {row!r}")
        if row.count("[default:") > 1:
            problems.append(f"{where}: {name} shows its default twice: {row!r}")
    return problems
