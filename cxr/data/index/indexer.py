"""Index dataset roots in published layouts into one manifest (``cxr data index``).

For every root, an adapter (:mod:`cxr.data.index.adapters`, auto-detected or named)
lists candidate images with patient, label and metadata. Every image is then
decoded once, in a process pool, to record its size, the sha256 of its bytes
(exact duplicates, cache key) and a perceptual hash (DCT pHash, Zauner 2010,
via ``imagehash``) for near-duplicate grouping in :mod:`cxr.data.split`.
Files that do not decode never stop the run: they go to the skipped report
with a reason, as do metadata rows the adapters leave out.

Re-running over an existing manifest reuses its sizes and hashes for files
whose bytes did not change (the sha256 is recomputed; decoding is skipped), so
an interrupted or repeated index of a large collection is cheap.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.data.images.imageio import one_line
from cxr.data.index.adapters import (
    Adapter,
    Candidate,
    LayoutError,
    LayoutOptions,
    LeftOut,
    Notice,
    compile_patient_regex,
    patient_from_regex,
    pick_layout,
)
from cxr.data.index.adapters.layout_registry import is_utf8, printable
from cxr.data.index.adapters.mask_folders import MaskFinder
from cxr.data.index.index_summary import IndexSummary, count_into, print_summary
from cxr.data.views import normalise_view
from cxr.runtime.errors import CxrError, ImageReadError, ManifestError
from cxr.runtime.files import atomic_open
from cxr.runtime.runguard import child_init, safe_point

if TYPE_CHECKING:
    import pandas as pd

SKIPPED_COLUMNS = ("path", "reason")
DEFAULT_MIN_SIDE = 64
DEFAULT_MAX_PIXELS = 50_000_000
PROBED = ("content_hash", "width", "height", "phash", "phash_crops", "thumb")


@dataclass
class IndexResult:
    manifest_df: pd.DataFrame
    skipped_df: pd.DataFrame
    summary: IndexSummary


@dataclass(frozen=True)
class ProbeLimits:
    """What an indexed image must satisfy (checked in the worker)."""

    min_side: int = DEFAULT_MIN_SIDE  # shorter side in pixels; smaller images are skipped
    max_pixels: int = DEFAULT_MAX_PIXELS  # header width x height; 0 = no limit


def probe_image(
    path: str, known: tuple[Any, ...] | None = None, limits: ProbeLimits | None = None
) -> dict[str, Any]:
    """Hash and decode one file (runs in a worker process); never raises.

    ``known`` = (content_hash, width, height, phash, phash_crops, thumb) from a
    previous manifest: when the file's sha256 still matches, decoding is skipped.
    Images too large for the pixel budget (JPEGs are decoded at reduced size
    instead), too small (shorter side below ``limits.min_side``) or constant
    are skipped with a reason.
    """
    limits = limits or ProbeLimits()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"path": path, "reason": f"cannot read file ({exc.strerror or exc})"}
    digest = hashlib.sha256(data).hexdigest()
    from cxr.data.images.imageio import dicom_view_position

    view = dicom_view_position(data)  # DICOM ViewPosition, where the adapter has no view
    if known is not None and known[0] == digest and all(known[3:]):
        small = _too_small(int(known[1]), int(known[2]), limits.min_side)
        if small:
            return {"path": path, "reason": small}
        return {"path": path, "content_hash": digest, "width": known[1], "height": known[2],
                "phash": known[3], "phash_crops": known[4], "thumb": known[5], "reused": True,
                "dicom_view": view}
    from cxr.data.duplicates.nearcopy import signature
    from cxr.data.images.imageio import decode_bytes, one_line
    from cxr.data.images.intensity import float_to_uint8

    try:
        u8 = float_to_uint8(decode_bytes(data, path, max_pixels=limits.max_pixels))
    except ImageReadError as exc:
        return {"path": path, "reason": one_line(exc.reason)}
    except Exception as exc:  # a decoder bug must not stop a 30,000-image index
        return {"path": path, "reason": one_line(f"decoder error ({type(exc).__name__}: {exc})")}
    h, w = u8.shape
    small = _too_small(w, h, limits.min_side)
    if small:
        return {"path": path, "reason": small}
    lo, hi = int(u8.min()), int(u8.max())
    if lo == hi:
        return {"path": path, "reason": f"constant image (every pixel {lo} of 255)"}
    return {"path": path, "content_hash": digest, "width": int(w), "height": int(h),
            **signature(u8), "reused": False, "dicom_view": view}


def _too_small(w: int, h: int, min_side: int) -> str:
    if min(w, h) < min_side:
        return f"image too small ({w}x{h} px; shorter side below the {min_side} px minimum)"
    return ""


def index_roots(
    roots: Sequence[str | Path],
    fmt: str | None = None,
    *,
    names: Sequence[str] | None = None,
    keep_published_split: bool = False,
    workers: int = 2,
    progress: bool = True,
    previous: pd.DataFrame | None = None,
    limits: ProbeLimits | None = None,
    class_map: Mapping[str, tuple[str, str]] | None = None,
    patient_regex: str | None = None,
) -> IndexResult:
    """Index ``roots`` (one dataset each) into a manifest DataFrame + skipped report.

    ``class_map`` maps extra folder names (matched like the built-in ones) to
    (label, label_detail); ``patient_regex`` takes patient ids from file names
    (its ``patient`` group, else its first group, else the whole match).
    """
    import pandas as pd

    from cxr.data.manifest import new_manifest

    datasets = _dataset_names(roots, names)
    options = LayoutOptions(class_map=dict(class_map or {}))
    pattern = compile_patient_regex(patient_regex)
    adapter_for: dict[str, type[Adapter]] = {}
    root_for: dict[str, Path] = {}
    summary = IndexSummary()
    for root, ds in zip(roots, datasets, strict=True):
        found, adapter, note = pick_layout(Path(root), fmt, options)
        root_for[ds], adapter_for[ds] = found.resolve(), adapter
        if note:
            summary.notices.append((ds, note))
    summary.formats = {ds: a.name for ds, a in adapter_for.items()}
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    owner: dict[Path, str] = {}
    for ds in datasets:
        root = root_for[ds]
        unmatched = 0
        finder = MaskFinder(root)
        records = adapter_for[ds].records(
            root, keep_published_split=keep_published_split, options=options
        )
        for rec in records:
            if isinstance(rec, Notice):
                summary.notices.append((ds, rec.message))
            elif isinstance(rec, LeftOut):
                skipped.append({"path": printable(rec.path), "reason": one_line(rec.reason)})
            elif not is_utf8(rec.image_path):
                skipped.append({"path": printable(rec.image_path),
                                "reason": "file name is not valid UTF-8 (rename it to index it)"})
            elif _real(rec.image_path) in owner:  # one file reached twice (links)
                skipped.append({"path": str(rec.image_path), "reason":
                                f"already indexed in dataset {owner[_real(rec.image_path)]}"})
            else:
                owner[_real(rec.image_path)] = ds
                if pattern is not None:
                    pid = patient_from_regex(pattern, rec.image_path.name)
                    unmatched += pid is None
                    rec = replace(rec, patient_id=pid or rec.patient_id)
                rows.append(_row(rec, ds, finder))
        if unmatched:
            summary.notices.append((ds, f"{unmatched} file name(s) did not match --patient-regex; "
                                        "they keep the layout's patient id"))
    probes = _probe_all([r["image_path"] for r in rows], _known(previous), workers, progress,
                        limits or ProbeLimits())
    kept = []
    for row in rows:
        res = probes[row["image_path"]]
        if "reason" in res:
            skipped.append({"path": row["image_path"], "reason": res["reason"]})
            continue
        summary.reused += bool(res.get("reused"))
        if not row["view"] and res.get("dicom_view"):
            row = {**row, "view": normalise_view(res["dicom_view"])}
        kept.append({**row, **{k: res[k] for k in PROBED}})
    df = new_manifest(kept)
    if len(df):
        df = df.sort_values(
            ["dataset", "patient_id", "offset_days", "image_path"], na_position="last",
            kind="mergesort",
        ).reset_index(drop=True)
    skipped_df = pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)).astype(str)
    skipped_df = skipped_df.sort_values(["path", "reason"], kind="mergesort").reset_index(drop=True)
    count_into(summary, df, skipped_df)
    return IndexResult(df, skipped_df, summary)


def _dataset_names(roots: Sequence[str | Path], names: Sequence[str] | None) -> list[str]:
    if not roots:
        raise LayoutError("no dataset root given")
    if names:
        if len(names) != len(roots):
            raise LayoutError(f"--name given {len(names)} time(s) for {len(roots)} root(s)")
        out = [n.strip() for n in names]
    else:
        out = [Path(r).resolve().name for r in roots]
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup or any(not n or ":" in n for n in out):
        raise LayoutError(
            f"dataset names must be unique, non-empty and without ':' (got {', '.join(out)}); "
            "pass one --name per root"
        )
    return out


def _real(path: Path) -> Path:
    """The file a path reaches (links followed; a loop or dangling link stays as is)."""
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _row(rec: Candidate, dataset: str, finder: MaskFinder) -> dict[str, Any]:
    path = Path(os.path.abspath(rec.image_path))  # not resolved: a link keeps its own path
    row: dict[str, Any] = {
        "image_path": str(path),
        "patient_id": f"{dataset}:{rec.patient_id}",
        "label": rec.label,
        "label_detail": rec.label_detail,
        "view": normalise_view(rec.view),
        "offset_days": math.nan if rec.offset_days is None else rec.offset_days,
        "dataset": dataset,
        "origin": "real",
        "split": rec.split,
        "severity_extent": math.nan if rec.severity_extent is None else rec.severity_extent,
        "severity_opacity": math.nan if rec.severity_opacity is None else rec.severity_opacity,
    }
    # the adapter's own masks (it knows their provenance) first, then the general rule
    found = finder.find(path)
    given = {"lung": (rec.lung_mask_path, rec.lung_mask_source),
             "lesion": (rec.lesion_mask_path, rec.lesion_mask_source)}
    for kind, (mask, source) in given.items():
        if mask is None and kind in found:
            mask, source = found[kind].path, found[kind].source
        row[f"{kind}_mask_path"] = str(mask.resolve()) if mask else ""
        row[f"{kind}_mask_source"] = (source or finder.source) if mask else ""
    return row


def _known(previous: pd.DataFrame | None) -> dict[str, tuple[Any, ...]]:
    if previous is None or not len(previous) or not set(PROBED) <= set(previous.columns):
        return {}
    return {str(p): (str(h), int(w), int(ht), str(ph), str(pc), str(th))
            for p, h, w, ht, ph, pc, th in zip(previous["image_path"],
                                               *(previous[c] for c in PROBED), strict=True)}


def _probe_all(
    paths: list[str], known: dict[str, tuple[Any, ...]], workers: int, progress: bool,
    limits: ProbeLimits,
) -> dict[str, dict[str, Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    from cxr.runtime.progress import make_progress

    results: dict[str, dict[str, Any]] = {}
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with make_progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("decoding images", total=len(paths))
        for res in _map(paths, [known.get(p) for p in paths], workers, limits):
            results[res["path"]] = res
            bar.advance(task)
            safe_point()  # SIGTERM/SIGINT: stop between images
    return results


def _map(
    paths: list[str], known: list[Any], workers: int, limits: ProbeLimits
) -> Iterable[dict[str, Any]]:
    lims = [limits] * len(paths)
    if workers <= 1 or len(paths) < 2:
        yield from map(probe_image, paths, known, lims)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the parent may hold threads (torch, rich); fork would copy them half-locked
    ctx = mp.get_context("spawn")
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=child_init)
    try:
        yield from pool.map(probe_image, paths, known, lims, chunksize=chunk)
    finally:  # interrupted: drop the queued images instead of decoding them all first
        pool.shutdown(wait=True, cancel_futures=True)


def skipped_report_path(out: str | Path) -> Path:
    """``manifest.csv`` -> ``manifest.skipped.csv`` (same folder)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.skipped.csv")


def build_index(
    roots: Sequence[str | Path],
    out: str | Path,
    *,
    fmt: str | None = None,
    names: Sequence[str] | None = None,
    keep_published_split: bool = False,
    workers: int = 2,
    progress: bool = True,
    console: Any = None,
    limits: ProbeLimits | None = None,
    class_map: Mapping[str, tuple[str, str]] | None = None,
    patient_regex: str | None = None,
) -> IndexResult:
    """Index ``roots``, write ``out`` and its skipped report, print the summary.

    An existing manifest at ``out`` lends its hashes to unchanged files (resume).
    """
    from rich.console import Console

    from cxr.data.manifest import load_manifest, save_manifest

    out = Path(out)
    console = console or Console(stderr=True)
    previous = None
    if out.is_file():
        try:
            previous = load_manifest(out, check_files=False)
        except ManifestError as exc:
            console.print(f"[yellow]not reusing {out}: {exc}[/yellow]")
    result = index_roots(roots, fmt, names=names, keep_published_split=keep_published_split,
                         workers=workers, progress=progress, previous=previous, limits=limits,
                         class_map=class_map, patient_regex=patient_regex)
    report = skipped_report_path(out)
    with atomic_open(report, "w", encoding="utf-8", newline="") as fh:
        result.skipped_df.to_csv(fh, index=False, lineterminator="\n")
    if not len(result.manifest_df):
        raise CxrError(
            f"no images indexed from {', '.join(map(str, roots))}: "
            f"{len(result.skipped_df)} file(s)/row(s) left out, see {report}"
        )
    save_manifest(result.manifest_df, out)
    print_summary(result.summary, console, out=out, report=report)
    return result
