"""Index dataset roots in published layouts into one manifest (``cxr data index``).

For every root, an adapter (:mod:`cxr.data.adapters`, auto-detected or named)
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.data.adapters import Candidate, LayoutError, LeftOut, Notice, detect_adapter, get_adapter
from cxr.data.index_summary import IndexSummary, count_into, print_summary
from cxr.errors import CxrError, ImageReadError, ManifestError
from cxr.fsutil import atomic_open

if TYPE_CHECKING:
    import pandas as pd

MASK_DIRS = {"lung_mask_path": ("masks", "lung"), "lesion_mask_path": ("masks", "lesion")}
SKIPPED_COLUMNS = ("path", "reason")


@dataclass
class IndexResult:
    manifest_df: pd.DataFrame
    skipped_df: pd.DataFrame
    summary: IndexSummary


def probe_image(path: str, known: tuple[str, int, int, str] | None = None) -> dict[str, Any]:
    """Hash and decode one file (runs in a worker process); never raises.

    ``known`` = (content_hash, width, height, phash) from a previous manifest:
    when the file's sha256 still matches, decoding is skipped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"path": path, "reason": f"cannot read file ({exc.strerror or exc})"}
    digest = hashlib.sha256(data).hexdigest()
    if known is not None and known[0] == digest and known[3]:
        return {"path": path, "content_hash": digest, "width": known[1], "height": known[2],
                "phash": known[3], "reused": True}
    from cxr.data.dedup import phash_u8
    from cxr.data.imageio import decode_bytes
    from cxr.data.intensity import float_to_uint8

    try:
        u8 = float_to_uint8(decode_bytes(data, path))
    except ImageReadError as exc:
        return {"path": path, "reason": exc.reason}
    except Exception as exc:  # a decoder bug must not stop a 30,000-image index
        return {"path": path, "reason": f"decoder error ({type(exc).__name__}: {exc})"}
    return {"path": path, "content_hash": digest, "width": int(u8.shape[1]),
            "height": int(u8.shape[0]), "phash": phash_u8(u8),
            "reused": False}


def index_roots(
    roots: Sequence[str | Path],
    fmt: str | None = None,
    *,
    names: Sequence[str] | None = None,
    keep_published_split: bool = False,
    workers: int = 2,
    progress: bool = True,
    previous: pd.DataFrame | None = None,
) -> IndexResult:
    """Index ``roots`` (one dataset each) into a manifest DataFrame + skipped report."""
    import pandas as pd

    from cxr.data.manifest import new_manifest

    datasets = _dataset_names(roots, names)
    adapter_for = {}
    for root, ds in zip(roots, datasets, strict=True):
        root = Path(root)
        adapter_for[ds] = get_adapter(fmt) if fmt else detect_adapter(root)
        if fmt and not root.is_dir():
            raise LayoutError(f"dataset root not found: {root}")
    summary = IndexSummary(formats={ds: a.name for ds, a in adapter_for.items()})
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    owner: dict[Path, str] = {}
    for root, ds in zip(roots, datasets, strict=True):
        root = Path(root).resolve()
        for rec in adapter_for[ds].records(root, keep_published_split=keep_published_split):
            if isinstance(rec, Notice):
                summary.notices.append((ds, rec.message))
            elif isinstance(rec, LeftOut):
                skipped.append({"path": rec.path, "reason": rec.reason})
            elif rec.image_path.resolve() in owner:
                first = owner[rec.image_path.resolve()]
                skipped.append({"path": str(rec.image_path),
                                "reason": f"already indexed in dataset {first}"})
            else:
                owner[rec.image_path.resolve()] = ds
                rows.append(_row(rec, ds, root))
    probes = _probe_all([r["image_path"] for r in rows], _known(previous), workers, progress)
    kept = []
    for row in rows:
        res = probes[row["image_path"]]
        if "reason" in res:
            skipped.append({"path": row["image_path"], "reason": res["reason"]})
            continue
        summary.reused += bool(res.get("reused"))
        kept.append({**row, **{k: res[k] for k in ("content_hash", "width", "height", "phash")}})
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


def _row(rec: Candidate, dataset: str, root: Path) -> dict[str, Any]:
    path = rec.image_path.resolve()
    row: dict[str, Any] = {
        "image_path": str(path),
        "patient_id": f"{dataset}:{rec.patient_id}",
        "label": rec.label,
        "label_detail": rec.label_detail,
        "view": rec.view,
        "offset_days": math.nan if rec.offset_days is None else rec.offset_days,
        "dataset": dataset,
        "origin": "real",
        "split": rec.split,
    }
    for col, parts in MASK_DIRS.items():
        given = rec.lung_mask_path if col == "lung_mask_path" else None
        folder = root.joinpath(*parts)
        found = [m for m in (folder / path.name, folder / f"{path.stem}.png") if m.is_file()]
        mask = given or (found[0] if found else None)
        row[col] = str(mask.resolve()) if mask else ""
    return row


def _known(previous: pd.DataFrame | None) -> dict[str, tuple[str, int, int, str]]:
    if previous is None or not len(previous) or "phash" not in previous.columns:
        return {}
    cols = ("content_hash", "width", "height", "phash")
    return {str(Path(p).resolve()): (str(h), int(w), int(ht), str(ph))
            for p, h, w, ht, ph in zip(previous["image_path"], *(previous[c] for c in cols),
                                       strict=True)}


def _probe_all(
    paths: list[str], known: dict[str, tuple[str, int, int, str]], workers: int, progress: bool
) -> dict[str, dict[str, Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    from cxr.progress import make_progress

    results: dict[str, dict[str, Any]] = {}
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with make_progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("decoding images", total=len(paths))
        for res in _map(paths, [known.get(p) for p in paths], workers):
            results[res["path"]] = res
            bar.advance(task)
    return results


def _map(paths: list[str], known: list[Any], workers: int) -> Iterable[dict[str, Any]]:
    if workers <= 1 or len(paths) < 2:
        yield from map(probe_image, paths, known)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the parent may hold threads (torch, rich); fork would copy them half-locked
    ctx = mp.get_context("spawn")
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from pool.map(probe_image, paths, known, chunksize=chunk)


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
                         workers=workers, progress=progress, previous=previous)
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
