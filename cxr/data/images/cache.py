"""The preprocessed uint8 image cache: every image decoded and resized once, ever.

Decoding a 1-4 Mpx PNG/DICOM and resizing it costs milliseconds per image per
epoch; reading a preprocessed ``uint8`` square from a memory-mapped array
costs microseconds (see ``benchmarks/cache_vs_decode.py`` and
``docs/benchmarks.md``).

**Content-addressed store.** Pixels are kept per image, keyed by the image's
content (``content_hash``: sha256 of the file bytes), in one store per
geometry: ``<cache_dir>/px<S>-<mode>/``

* ``pixels.u8``: raw ``S x S`` uint8 rows, appended, memory-mapped read-only;
* ``keys.txt``: one content hash per line, line ``k`` = row ``k``.

A manifest is mapped onto the store row by row (:class:`ImageCache`), so a
subset, a re-split or a merge of indexed manifests reuses every image already
there, and a build decodes only the images that are missing. Identical files
share one row.

**Atomic and resumable.** A build appends the rows of a chunk to
``pixels.u8`` and fsyncs them *before* appending their keys to ``keys.txt``
(fsynced too); a key therefore never names a row that is not on disk. A
killed build leaves at most unnamed bytes at the end of ``pixels.u8`` (cut off
by the next build) or a torn last line of ``keys.txt`` (ignored); the next
build resumes with the images still missing. A file lock (``fcntl``)
serialises builders of one store; readers need none, since rows are never
rewritten.

**Disk space.** Before growing the store, the build checks that the free
space of its file system holds the missing rows (plus a margin) and stops
with a one-line error otherwise; rows are written with ``write``, never
through a writable memory map, so a full disk is an ``OSError`` reported as
such, never a ``SIGBUS``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.data.images.preprocess import check_resize
from cxr.runtime.errors import ConfigError, CxrError, ImageReadError, ManifestError
from cxr.runtime.runguard import child_init, safe_point

if TYPE_CHECKING:
    import pandas as pd

    from cxr.config import CacheConfig

CHUNK_ROWS = 16
SPACE_MARGIN = 2**20  # bytes kept free beyond the rows a build adds


class CacheSpaceError(CxrError):
    """The cache's file system lacks the space (or write access) to add the missing rows."""


def row_fingerprints(df: pd.DataFrame) -> np.ndarray:
    """uint64 per row from (image_path, content_hash): ties cache rows to manifest rows."""
    out = np.empty(len(df), dtype=np.uint64)
    pairs = zip(df["image_path"].astype(str), df["content_hash"].astype(str), strict=True)
    for i, (p, c) in enumerate(pairs):
        digest = hashlib.blake2b(f"{p}\0{c}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


class RowView:
    """Manifest-row view of the store: ``view[i]`` is manifest row ``i``'s ``(S, S)`` image."""

    def __init__(self, store: np.memmap, rows: np.ndarray) -> None:
        self._store, self._rows = store, rows

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self._store.shape
        return (len(self._rows), int(s[1]), int(s[2]))

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._store.dtype

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self._store[self._rows[index]])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self._store[self._rows])
        return out if dtype is None else out.astype(dtype)


@dataclass
class ImageCache:
    """A manifest mapped onto a store; ``images`` reads manifest rows (uint8, read-only).

    Pickling (DataLoader workers) drops the open memmap; each process reopens
    the file lazily on first access, so no image data crosses process borders.
    """

    path: Path  # the store's pixels.u8
    key: str  # the store's name (px<S>-<mode>)
    image_size: int
    resize_mode: str
    n: int  # manifest rows
    row_ids: np.ndarray  # row_fingerprints of the manifest
    store_rows: np.ndarray  # store row of each manifest row
    store_size: int  # rows of the store visible to this cache
    reused: bool = False
    decoded: int = 0  # images decoded by the build that returned this cache
    build_seconds: float = 0.0
    _store: np.memmap | None = field(default=None, repr=False, compare=False)

    @property
    def store(self) -> np.memmap:
        if self._store is None:
            s = self.image_size
            self._store = np.memmap(self.path, dtype=np.uint8, mode="r",
                                    shape=(self.store_size, s, s))
        return self._store

    @property
    def images(self) -> RowView:
        return RowView(self.store, self.store_rows)

    def __len__(self) -> int:
        return self.n

    def batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Manifest rows ``indices`` as a new ``uint8`` array ``(len(indices), S, S)``."""
        return np.asarray(self.store[self.store_rows[np.asarray(indices, dtype=np.int64)]])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_store"] = None
        return state


@dataclass
class _Store:
    folder: Path
    size: int

    @property
    def pixels(self) -> Path:
        return self.folder / "pixels.u8"

    @property
    def keys_file(self) -> Path:
        return self.folder / "keys.txt"

    @property
    def row_bytes(self) -> int:
        return self.size * self.size

    def keys(self) -> list[str]:
        """Complete lines of keys.txt whose rows are on disk (a torn tail is ignored)."""
        try:
            text = self.keys_file.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        lines = text.split("\n")[:-1]  # the last element is "" or a torn line
        try:
            on_disk = self.pixels.stat().st_size // self.row_bytes
        except FileNotFoundError:
            on_disk = 0
        return lines[:on_disk]


def store_name(image_size: int, resize_mode: str) -> str:
    return f"px{image_size}-{resize_mode}"


def image_keys(df: pd.DataFrame) -> list[str]:
    """Content key per row: ``content_hash``, or the file's sha256 when the manifest lacks it."""
    from cxr.runtime.files import sha256_file

    keys = []
    for path, digest in zip(df["image_path"].astype(str), df["content_hash"].astype(str),
                            strict=True):
        if not digest:
            try:
                digest = sha256_file(path)
            except OSError as exc:
                raise ImageReadError(path, f"cannot read file ({exc.strerror or exc})") from None
        keys.append(digest)
    return keys


def _mapped(df: pd.DataFrame, store: _Store, keys: list[str], known: list[str],
            size: int, mode: str, reused: bool) -> ImageCache | None:
    where = {k: i for i, k in enumerate(known)}
    if any(k not in where for k in keys):
        return None
    rows = np.fromiter((where[k] for k in keys), dtype=np.int64, count=len(keys))
    return ImageCache(store.pixels, store_name(size, mode), size, mode, len(df),
                      row_fingerprints(df), rows, len(known), reused=reused)


def open_cache(
    df: pd.DataFrame,
    *,
    image_size: int,
    resize_mode: str = "pad",
    cache_dir: str | Path = ".cxr-cache",
) -> ImageCache | None:
    """The cache of this manifest and geometry when the store holds every image, else ``None``."""
    store = _Store(Path(cache_dir) / store_name(image_size, resize_mode), image_size)
    known = store.keys()
    if not known:
        return None
    return _mapped(df, store, image_keys(df), known, image_size, resize_mode, reused=True)


def _decode_chunk(
    rows: list[tuple[int, str]], size: int, mode: str
) -> tuple[list[int], np.ndarray, tuple[str, str] | None]:
    """Worker: decode + resize ``rows``; an unreadable file is returned, not raised
    (ImageReadError's two-argument constructor does not survive pickling)."""
    import cv2

    from cxr.data.images.preprocess import load_preprocessed

    cv2.setNumThreads(1)
    out = np.empty((len(rows), size, size), dtype=np.uint8)
    for k, (_, path) in enumerate(rows):
        try:
            out[k] = load_preprocessed(path, size, mode)
        except ImageReadError as exc:
            return [i for i, _ in rows[:k]], out[:k], (exc.path, exc.reason)
        except (OSError, ValueError) as exc:
            return [i for i, _ in rows[:k]], out[:k], (path, str(exc))
    return [i for i, _ in rows], out, None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # non-POSIX: no cross-process lock
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_chunks(
    chunks: list[list[tuple[int, str]]], size: int, mode: str, workers: int
) -> Iterator[tuple[list[int], np.ndarray, tuple[str, str] | None]]:
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield _decode_chunk(chunk, size, mode)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=child_init)  # the workers die with this process
    try:
        futures = [pool.submit(_decode_chunk, c, size, mode) for c in chunks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _space_error(folder: Path, exc: OSError) -> CacheSpaceError:
    why = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
    return CacheSpaceError(f"cannot grow the image cache in {folder}: {why}; free space or "
                           "choose another --cache-dir, then rerun (finished images are kept)")


def check_space(folder: Path, needed: int) -> None:
    """Fail with a one-line message unless ``folder``'s file system has ``needed`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed + SPACE_MARGIN:
        raise CacheSpaceError(
            f"not enough free space for the image cache in {folder}: {needed / 2**20:.1f} MiB "
            f"needed (+{SPACE_MARGIN // 2**20} MiB margin), {free / 2**20:.1f} MiB free; free "
            "space or choose another --cache-dir"
        )


def _append(store: _Store, known: list[str], keys: list[str], arr: np.ndarray) -> None:
    """Append rows, fsync, then append their keys, fsync: a key never precedes its pixels."""
    with open(store.pixels, "ab") as fh:
        fh.write(np.ascontiguousarray(arr).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    with open(store.keys_file, "a", encoding="ascii") as fh:
        fh.write("".join(f"{k}\n" for k in keys))
        fh.flush()
        os.fsync(fh.fileno())
    known.extend(keys)


def build_cache(
    df: pd.DataFrame,
    *,
    image_size: int,
    resize_mode: str = "pad",
    cache_dir: str | Path = ".cxr-cache",
    workers: int = 2,
    progress: bool = True,
) -> ImageCache:
    """Map ``df`` onto the store, decoding only the images it lacks; see the module docstring."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from cxr.runtime.progress import make_progress

    check_resize(image_size, resize_mode)
    if len(df) == 0:
        raise ManifestError("cannot cache an empty manifest")
    start = time.perf_counter()
    store = _Store(Path(cache_dir) / store_name(image_size, resize_mode), image_size)
    keys = image_keys(df)
    found = _mapped(df, store, keys, store.keys(), image_size, resize_mode, reused=True)
    if found is not None:
        return found
    try:
        store.folder.mkdir(parents=True, exist_ok=True)
        lock = _locked(store.folder / "store.lock")
        lock.__enter__()
    except OSError as exc:
        raise _space_error(store.folder, exc) from None
    try:
        known = store.keys()
        with contextlib.suppress(FileNotFoundError):  # cut off rows no key names (a killed build)
            if store.pixels.stat().st_size != len(known) * store.row_bytes:
                os.truncate(store.pixels, len(known) * store.row_bytes)
        have = set(known)
        paths = df["image_path"].astype(str).tolist()
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in have:
                first.setdefault(k, i)
        todo = sorted(first.values())
        check_space(store.folder, len(todo) * store.row_bytes)
        chunks = [[(i, paths[i]) for i in todo[s : s + CHUNK_ROWS]]
                  for s in range(0, len(todo), CHUNK_ROWS)]
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with make_progress(*columns, disable=not progress) as bar:
            task = bar.add_task(f"caching {image_size}px {resize_mode}", total=len(todo))
            for idx, arr, error in _run_chunks(chunks, image_size, resize_mode, workers):
                if idx:
                    try:
                        _append(store, known, [keys[i] for i in idx], arr)
                    except OSError as exc:
                        raise _space_error(store.folder, exc) from None
                    bar.advance(task, len(idx))
                if error is not None:
                    raise ImageReadError(*error)
                safe_point()  # SIGTERM/SIGINT: the chunks appended so far are kept
    finally:
        lock.__exit__(None, None, None)
    cache = _mapped(df, store, keys, known, image_size, resize_mode, reused=False)
    assert cache is not None  # every missing key was appended above
    cache.decoded = len(todo)
    cache.build_seconds = time.perf_counter() - start
    return cache


def cache_manifest(manifest: str | Path, cfg: CacheConfig, *, progress: bool = True) -> ImageCache:
    """Load a manifest CSV and build (or reuse) its cache with ``cfg``."""
    from cxr.data.manifest import load_manifest

    check_resize(cfg.image_size, cfg.resize_mode)
    if cfg.workers < 1:
        raise ConfigError(f"workers must be >= 1, got {cfg.workers}")
    df = load_manifest(manifest, check_files=False)
    return build_cache(
        df, image_size=cfg.image_size, resize_mode=cfg.resize_mode, cache_dir=cfg.cache_dir,
        workers=cfg.workers, progress=progress,
    )
