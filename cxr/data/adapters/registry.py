"""Registry of dataset layouts: ``@register_adapter(name)``, build by name, auto-detect.

Modelled on timm's ``@register_model`` / ``create_model``: an adapter class
registers itself by decorator, is looked up by name, and an unknown name fails
with the list of valid ones. Each adapter turns one published folder layout
into a stream of :class:`Candidate` rows (an image file with its patient,
label and metadata), :class:`LeftOut` rows (metadata rows or files it refuses,
with the reason) and :class:`Notice` messages (caveats for the summary, e.g.
"no patient ids in this layout"). Decoding images is not the adapter's job:
:mod:`cxr.data.index` does it once for all layouts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from cxr.errors import CxrError


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


class Adapter:
    """Base class: subclasses set ``name`` (by the decorator) and implement both methods."""

    name: ClassVar[str] = ""
    #: one line for ``--help`` and error messages
    description: ClassVar[str] = ""
    #: lower runs first in auto-detection (specific metadata files before generic folders)
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, root: Path) -> bool:
        raise NotImplementedError

    @classmethod
    def records(cls, root: Path, *, keep_published_split: bool = False) -> Iterator[Record]:
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


def detect_adapter(root: Path) -> type[Adapter]:
    """The first registered layout (in priority order) that recognises ``root``."""
    if not root.exists():
        raise LayoutError(f"dataset root not found: {root}")
    if not root.is_dir():
        raise LayoutError(f"dataset root is not a folder: {root}")
    for name in list_adapters():
        if _ADAPTERS[name].detect(root):
            return _ADAPTERS[name]
    raise LayoutError(
        f"{root}: no known dataset layout recognised (known formats: {', '.join(list_adapters())}; "
        "pass --format to choose one)"
    )


def adapter_descriptions() -> dict[str, str]:
    return {n: _ADAPTERS[n].description for n in list_adapters()}


# ------------------------------------------------------------ shared helpers
def is_listable_file(path: Path) -> bool:
    """A regular, non-hidden file worth decoding (OS litter such as Thumbs.db is not)."""
    return path.is_file() and not path.name.startswith(".") and path.name.lower() != "thumbs.db"


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
        for path in sorted(folder.iterdir()):
            if is_listable_file(path) and path not in listed:
                yield LeftOut(str(path), f"not listed in {metadata_name}")
