"""Walking dataset folders: odd files are reported, never silently dropped.

:func:`scan_folder` lists a folder's entries in sorted order and turns the
odd ones into :class:`~cxr.data.index.adapters.layout_registry.LeftOut` rows with a
one-line reason: dangling symbolic links, symbolic-link loops, entries that
cannot be examined. A symbolic link to an image keeps **its own path** (the
index does not resolve it), so its label comes from the folder the link sits
in. OS litter (hidden files, ``Thumbs.db``) is ignored.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

_LITTER = {"thumbs.db", "desktop.ini"}


def is_utf8(path: object) -> bool:
    """Whether ``path`` (str or Path) can be written to a UTF-8 manifest."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes kept by Python as lone surrogates
        return False
    return True


def printable(path: object) -> str:
    """``path`` as text that encodes to UTF-8 (undecodable bytes as ``\\xNN``)."""
    text = str(path)
    if is_utf8(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def is_litter(path: Path) -> bool:
    return path.name.startswith(".") or path.name.lower() in _LITTER


def link_problem(path: Path) -> str:
    """Why a symbolic link cannot be followed ("" when it can, or is no link)."""
    if not path.is_symlink():
        return ""
    try:
        os.stat(path)
    except FileNotFoundError:
        return f"dangling symbolic link (-> {printable(os.readlink(path))})"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot follow symbolic link ({exc.strerror or exc})"
    return ""


def scan_folder(folder: Path) -> Iterator[tuple[Path, str]]:
    """``(entry, problem)`` for every non-litter entry of ``folder``, sorted by name.

    ``problem`` is "" for a usable file or folder, else a one-line reason.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        yield folder, f"cannot list folder ({exc.strerror or exc})"
        return
    for path in entries:
        if is_litter(path):
            continue
        problem = link_problem(path)
        if not problem:
            try:
                path.stat()
            except OSError as exc:
                problem = f"cannot examine file ({exc.strerror or exc})"
        yield path, problem
