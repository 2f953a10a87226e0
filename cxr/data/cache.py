"""The preprocessed uint8 image cache: decode and resize every image once.

Decoding a 1-4 Mpx PNG/DICOM and resizing it costs milliseconds per image per
epoch; reading a preprocessed ``uint8`` square from a memory-mapped array
costs microseconds (see ``benchmarks/cache_vs_decode.py`` and
``docs/benchmarks.md``). The cache is one ``.npy`` file (NumPy format, opened
with ``np.load(..., mmap_mode="r")``; NEP 1 / ``np.lib.format``) of shape
``(N, S, S)``, row ``i`` = manifest row ``i`` in the stored intensity
convention (:mod:`cxr.data.intensity`), plus

* ``<key>.json``: key, n, size, mode, created - written last; a cache is valid
  only when its sidecar exists and matches;
* ``<key>.rows.npy``: a 64-bit fingerprint of (image_path, content_hash) per row,
  so a dataset can prove its rows line up with the cache.

The key is ``manifest_key(df, image_size, resize_mode)``: any change to the
set, order or content of images, or to the geometry, gives a new file.

Builds run in a process pool (``spawn``, so no OpenCV/torch threads are forked)
over chunks of rows and write into ``<key>.partial.npy`` with a boolean
done-mask ``<key>.done.npy`` flushed after each chunk; the partial file is
renamed to ``<key>.npy`` only when every row is done. A killed build therefore
leaves nothing that looks valid, and the next build resumes from the done rows.
A file lock (``fcntl``) serialises concurrent builds of the same key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.data.manifest import manifest_key
from cxr.data.preprocess import check_resize
from cxr.errors import ConfigError, ImageReadError, ManifestError
from cxr.fsutil import atomic_save, atomic_write_text

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from cxr.config import CacheConfig

CHUNK_ROWS = 16


def row_fingerprints(df: pd.DataFrame) -> np.ndarray:
    """uint64 per row from (image_path, content_hash): ties cache rows to manifest rows."""
    out = np.empty(len(df), dtype=np.uint64)
    pairs = zip(df["image_path"].astype(str), df["content_hash"].astype(str), strict=True)
    for i, (p, c) in enumerate(pairs):
        digest = hashlib.blake2b(f"{p}\0{c}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


@dataclass
class ImageCache:
    """A built cache: ``images`` is a read-only uint8 memmap ``(N, S, S)``.

    Pickling (DataLoader workers) drops the open memmap; each process reopens
    the file lazily on first access, so no image data crosses process borders.
    """

    path: Path
    key: str
    image_size: int
    resize_mode: str
    n: int
    row_ids: np.ndarray
    reused: bool = False
    build_seconds: float = 0.0
    _images: np.memmap | None = field(default=None, repr=False, compare=False)

    @property
    def images(self) -> np.memmap:
        if self._images is None:
            arr = np.load(self.path, mmap_mode="r")
            if arr.shape != (self.n, self.image_size, self.image_size) or arr.dtype != np.uint8:
                raise ConfigError(f"cache file {self.path} has shape {arr.shape} {arr.dtype}")
            self._images = arr
        return self._images

    def __len__(self) -> int:
        return self.n

    def batch(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows ``indices`` as a new ``uint8`` array ``(len(indices), S, S)``."""
        return np.asarray(self.images[np.asarray(indices, dtype=np.int64)])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_images"] = None
        return state


def _paths(cache_dir: Path, key: str) -> dict[str, Path]:
    names = {
        "final": ".npy", "meta": ".json", "rows": ".rows.npy",
        "partial": ".partial.npy", "done": ".done.npy", "lock": ".lock",
    }
    return {k: cache_dir / f"{key}{suffix}" for k, suffix in names.items()}


def open_cache(
    df: pd.DataFrame,
    *,
    image_size: int,
    resize_mode: str = "pad",
    cache_dir: str | Path = ".cxr-cache",
) -> ImageCache | None:
    """The complete cache for this manifest and geometry, or ``None`` if there is none."""
    key = manifest_key(df, image_size, resize_mode)
    p = _paths(Path(cache_dir), key)
    if not (p["meta"].is_file() and p["final"].is_file() and p["rows"].is_file()):
        return None
    try:
        meta = json.loads(p["meta"].read_text())
        rows = np.load(p["rows"])
    except (OSError, ValueError):
        return None
    expected = (key, len(df), image_size, resize_mode)
    if (meta.get("key"), meta.get("n"), meta.get("size"), meta.get("mode")) != expected:
        return None
    if rows.shape != (len(df),):
        return None
    cache = ImageCache(p["final"], key, image_size, resize_mode, len(df), rows, reused=True)
    try:
        cache.images  # noqa: B018 - validates the header (shape, dtype)
    except (OSError, ValueError, ConfigError):
        return None
    return cache


def _decode_chunk(
    rows: list[tuple[int, str]], size: int, mode: str
) -> tuple[list[int], np.ndarray, tuple[str, str] | None]:
    """Worker: decode + resize ``rows``; an unreadable file is returned, not raised
    (ImageReadError's two-argument constructor does not survive pickling)."""
    import cv2

    from cxr.data.preprocess import load_preprocessed

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


def _open_partial(p: dict[str, Path], shape: tuple[int, int, int]) -> tuple[np.memmap, np.memmap]:
    """Resume ``partial``/``done`` when their shapes fit, else start empty ones."""
    from numpy.lib.format import open_memmap

    try:
        images = open_memmap(p["partial"], mode="r+")
        done = open_memmap(p["done"], mode="r+")
        if images.shape == shape and images.dtype == np.uint8 and done.shape == (shape[0],):
            return images, done
    except (OSError, ValueError):
        pass
    images = open_memmap(p["partial"], mode="w+", dtype=np.uint8, shape=shape)
    done = open_memmap(p["done"], mode="w+", dtype=np.bool_, shape=(shape[0],))
    done[:] = False
    done.flush()
    return images, done


def _run_chunks(
    chunks: list[list[tuple[int, str]]], size: int, mode: str, workers: int
) -> Iterator[tuple[list[int], np.ndarray, tuple[str, str] | None]]:
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield _decode_chunk(chunk, size, mode)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        futures = [pool.submit(_decode_chunk, c, size, mode) for c in chunks]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def build_cache(
    df: pd.DataFrame,
    *,
    image_size: int,
    resize_mode: str = "pad",
    cache_dir: str | Path = ".cxr-cache",
    workers: int = 2,
    progress: bool = True,
) -> ImageCache:
    """Build (or reuse, or resume) the cache of ``df``'s images; see the module docstring."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from cxr.progress import make_progress

    check_resize(image_size, resize_mode)
    if len(df) == 0:
        raise ManifestError("cannot cache an empty manifest")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = open_cache(df, image_size=image_size, resize_mode=resize_mode, cache_dir=cache_dir)
    if found is not None:
        return found
    key = manifest_key(df, image_size, resize_mode)
    p = _paths(cache_dir, key)
    start = time.perf_counter()
    with _locked(p["lock"]):
        found = open_cache(df, image_size=image_size, resize_mode=resize_mode, cache_dir=cache_dir)
        if found is not None:  # another process finished it while we waited
            return found
        n = len(df)
        images, done = _open_partial(p, (n, image_size, image_size))
        paths = df["image_path"].astype(str).tolist()
        todo = np.flatnonzero(~np.asarray(done)).tolist()
        starts = range(0, len(todo), CHUNK_ROWS)
        chunks = [[(i, paths[i]) for i in todo[s : s + CHUNK_ROWS]] for s in starts]
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        with make_progress(*columns, disable=not progress) as bar:
            task = bar.add_task(f"caching {image_size}px {resize_mode}", total=n,
                                completed=n - len(todo))
            for idx, arr, error in _run_chunks(chunks, image_size, resize_mode, workers):
                if idx:
                    images[idx] = arr
                    images.flush()  # data before the done-mark: a crash never marks unwritten rows
                    done[idx] = True
                    done.flush()
                    bar.advance(task, len(idx))
                if error is not None:
                    raise ImageReadError(*error)
        del images, done
        rows = row_fingerprints(df)
        atomic_save(p["rows"], lambda tmp: np.save(tmp, rows))
        os.replace(p["partial"], p["final"])
        meta = {"key": key, "n": n, "size": image_size, "mode": resize_mode,
                "created": datetime.now(UTC).isoformat(timespec="seconds")}
        atomic_write_text(p["meta"], json.dumps(meta, indent=2) + "\n")
        p["done"].unlink(missing_ok=True)
    cache = ImageCache(p["final"], key, image_size, resize_mode, n, rows)
    cache.build_seconds = time.perf_counter() - start
    return cache


def cache_table(cache: ImageCache) -> Table:
    """One-screen rich summary of a cache."""
    from rich.table import Table

    t = Table(title="Image cache", show_header=False)
    t.add_column("what")
    t.add_column("value")
    size_mb = cache.path.stat().st_size / 2**20
    t.add_row("file", str(cache.path))
    s = cache.image_size
    t.add_row("images", f"{cache.n} x {s}x{s} uint8 ({size_mb:.1f} MiB)")
    t.add_row("resize mode", cache.resize_mode)
    t.add_row("key", cache.key)
    t.add_row("status", "reused" if cache.reused else f"built in {cache.build_seconds:.1f} s")
    return t


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
