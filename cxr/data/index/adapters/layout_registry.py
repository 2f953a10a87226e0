"""Registry of dataset layouts: ``@register_adapter(name)``, build by name, auto-detect.

Modelled on timm's ``@register_model`` / ``create_model``: an adapter class
registers itself by decorator, is looked up by name, and an unknown name fails
with the list of valid ones. Each adapter turns one published folder layout
into a stream of :class:`Candidate` rows (an image file with its patient,
label and metadata), :class:`LeftOut` rows (metadata rows or files it refuses,
with the reason) and :class:`Notice` messages (caveats for the summary, e.g.
"no patient ids in this layout"). Decoding images is not the adapter's job:
:mod:`cxr.data.index.indexer` does it once for all layouts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from cxr.data.index.adapters.folder_scan import is_litter, is_utf8, printable, scan_folder
from cxr.runtime.errors import ConfigError, CxrError

__all__ = ["is_utf8", "printable"]


class LayoutError(CxrError):
    """A dataset root is missing, unrecognised, or its metadata file is unusable."""


@dataclass(frozen=True)
class Candidate:
    """One image found by an adapter (patient id not yet prefixed by the dataset)."""

    image_path: Path
    patient_id: str
    label: str
    label_detail: str = ""
    view: str = ""
    offset_days: float | None = None
    split: str = ""  # the published split, only with keep_published_split
    lung_mask_path: Path | None = None
    lung_mask_source: str = ""  # manual | dataset-model | phantom (cxr.data.manifest)
    lesion_mask_path: Path | None = None
    lesion_mask_source: str = ""
    severity_extent: float | None = None  # expert extent score, 0-8
    severity_opacity: float | None = None  # expert opacity score, 0-6


@dataclass(frozen=True)
class LeftOut:
    """A file or metadata row the adapter leaves out, with a short reason."""

    path: str
    reason: str


@dataclass(frozen=True)
class Notice:
    """A caveat about the collection, shown in the summary (e.g. a leakage risk)."""

    message: str


Record = Candidate | LeftOut | Notice


@dataclass(frozen=True)
class LayoutOptions:
    """User choices that adapters honour (``cxr data index --class-map``)."""

    #: normalised folder name (see ``folder_per_class.normalise``) -> (label, label_detail)
    class_map: Mapping[str, tuple[str, str]] = field(default_factory=dict)


DEFAULT_OPTIONS = LayoutOptions()


class Adapter:
    """Base class: subclasses set ``name`` (by the decorator) and implement both methods."""

    name: ClassVar[str] = ""
    #: one line for ``--help`` and error messages
    description: ClassVar[str] = ""
    #: lower runs first in auto-detection (specific metadata files before generic folders)
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        raise NotImplementedError

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        raise NotImplementedError


_ADAPTERS: dict[str, type[Adapter]] = {}
A = TypeVar("A", bound=type[Adapter])


def register_adapter(name: str) -> Callable[[A], A]:
    """Class decorator: register a layout under ``name`` (lower-case, dashes)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"adapter name must be lower-case letters, digits and dashes: {name!r}")

    def deco(cls: A) -> A:
        if name in _ADAPTERS and _ADAPTERS[name] is not cls:
            raise ValueError(f"adapter {name!r} registered twice")
        cls.name = name
        _ADAPTERS[name] = cls
        return cls

    return deco


def list_adapters() -> list[str]:
    """Registered layout names, in auto-detection order."""
    return [a.name for a in sorted(_ADAPTERS.values(), key=lambda a: (a.priority, a.name))]


def get_adapter(name: str) -> type[Adapter]:
    """The adapter registered as ``name``; an unknown name lists the valid ones."""
    key = name.strip().lower()
    if key not in _ADAPTERS:
        raise LayoutError(f"unknown dataset format {name!r} (valid: {', '.join(list_adapters())})")
    return _ADAPTERS[key]


def _detect(root: Path, options: LayoutOptions) -> type[Adapter] | None:
    for name in list_adapters():
        try:
            if _ADAPTERS[name].detect(root, options):
                return _ADAPTERS[name]
        except OSError:
            continue
    return None


def detect_adapter(root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> type[Adapter]:
    """The first registered layout (in priority order) that recognises ``root``."""
    return pick_layout(root, None, options, descend=False)[1]


def pick_layout(
    root: Path, fmt: str | None = None, options: LayoutOptions = DEFAULT_OPTIONS, *,
    descend: bool = True,
) -> tuple[Path, type[Adapter], str]:
    """(dataset folder, adapter, note) for ``root``.

    A root that is not a dataset itself but holds exactly one dataset folder
    one level down (an unpacked archive's wrapper folder) is descended into,
    with a note; several such folders are named in the error.
    """
    if not root.exists():
        raise LayoutError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise LayoutError(f"dataset root is not a folder: {root}")
    wanted = get_adapter(fmt) if fmt else None
    found = _detect(root, options)
    if found is not None and (wanted is None or found is wanted):
        return root, found, ""
    if wanted is not None and (not descend or wanted.detect(root, options)):
        return root, wanted, ""
    subs: list[tuple[Path, type[Adapter]]] = []
    if descend:
        for sub, problem in scan_folder(root):
            if problem or not sub.is_dir():
                continue
            hit = _detect(sub, options)
            if hit is not None and (wanted is None or hit is wanted):
                subs.append((sub, hit))
    if len(subs) == 1:
        sub, adapter = subs[0]
        return sub, adapter, f"dataset found one level down, in {sub.name}/ ({adapter.name})"
    if len(subs) > 1:
        names = ", ".join(f"{s.name}/ ({a.name})" for s, a in subs)
        raise LayoutError(
            f"{root}: holds several datasets one level down: {names}; give each folder as its "
            "own root"
        )
    if wanted is not None:
        return root, wanted, ""
    raise LayoutError(
        f"{root}: no known dataset layout recognised here or one level down (known formats: "
        f"{', '.join(list_adapters())}; pass --format to choose one)"
    )


def adapter_descriptions() -> dict[str, str]:
    return {n: _ADAPTERS[n].description for n in list_adapters()}


# ------------------------------------------------------------ shared helpers
def is_listable_file(path: Path) -> bool:
    """A regular, non-hidden file worth decoding (OS litter such as Thumbs.db is not)."""
    return path.is_file() and not is_litter(path)


def compile_patient_regex(pattern: str | None) -> re.Pattern[str] | None:
    """``--patient-regex``, compiled; a bad expression is a one-line ConfigError."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"--patient-regex {pattern!r} is not a regular expression ({exc})"
        ) from None


def patient_from_regex(pattern: re.Pattern[str], name: str) -> str | None:
    """The ``patient`` group (else the first group, else the match) of ``name``, or ``None``."""
    m = pattern.search(name)
    if m is None:
        return None
    if "patient" in pattern.groupindex:
        value = m.group("patient")
    elif pattern.groups:
        value = m.group(1)
    else:
        value = m.group(0)
    return value or None


def read_table(path: Path) -> Any:
    """A metadata CSV as strings with stripped, lower-case column names."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise LayoutError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def require_columns(df: Any, path: Path, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LayoutError(
            f"{path}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, df.columns))})"
        )


def csv_columns(path: Path) -> set[str]:
    """Lower-case header names of a CSV, cheaply (empty set if unreadable)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            header = next(csv.reader(fh), [])
    except OSError:
        return set()
    return {h.strip().lower() for h in header}


def parse_offset(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN -> None


def unlisted_files(folders: set[Path], listed: set[Path], metadata_name: str) -> Iterator[LeftOut]:
    """Files in the image folders that the metadata file does not mention."""
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        for path, problem in scan_folder(folder):
            if problem:
                yield LeftOut(str(path), problem)
            elif path.is_file() and path not in listed:
                yield LeftOut(str(path), f"not listed in {metadata_name}")
