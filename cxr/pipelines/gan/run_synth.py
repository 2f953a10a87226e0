"""`cxr gan synth`: translate train-split source images into the target class.

CycleGAN generator ``G`` (Zhu et al., ICCV 2017) applied to train-split,
real-origin source images only (a held-out patient never feeds synthesis).
Output ``i`` is ``images/gan_<i:06d>.png``, made from source ``order[i mod
n_sources]``, where ``order`` is a seeded random permutation of the sources
stratified by collection (:func:`cxr.cyclegan.translate.stratified_order`), so any
``n`` is a random sample of every collection; from the second pass on the
source gets the seeded augmentation of :mod:`cxr.cyclegan.translate`. Provenance
per output: source image and patient, augmentation seed, sha256 of the
checkpoint, and ``gan_lineage``: ``gan_lineage.json`` beside the manifest, the
patients that trained the GAN (:mod:`cxr.data.leakage.lineage`). A GAN trained on a
patient that is now in validation or test is refused.

Resumable and atomic: every PNG is written via a temp file + rename, so an
existing file is complete; a rerun skips existing outputs and
writes ``manifest.csv`` (atomically) once all ``n`` exist. ``synth.json``
fixes the job (checkpoint hash, sources, n, seed) so a rerun with different
inputs cannot mix outputs of two jobs in one folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxr.data.leakage.lineage import LINEAGE_FILE, LineageCheck
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.runguard import note_kept, safe_point

__all__ = ["SynthResult", "run_synth", "synth_table"]


@dataclass(frozen=True)
class SynthResult:
    out_dir: Path
    manifest: Path
    n: int
    written: int
    reused_existing: int
    n_sources: int
    checkpoint_hash: str
    lineage: str = ""  # what the lineage check verified (or that it was trusted)


def _job_file(out_dir: Path, job: dict[str, Any]) -> None:
    path = out_dir / "synth.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = [k for k in job if old.get(k) != job[k]]
        if diff:
            raise ConfigError(
                f"{out_dir} holds outputs of another synthesis job ({', '.join(diff)} differ); "
                "use a new --out"
            )
    else:
        atomic_write_text(path, json.dumps(job, indent=2))


def run_synth(
    *,
    checkpoint: str | Path,
    manifest: str | Path,
    out_dir: str | Path,
    n: int,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    trust_gan_lineage: bool = False,
) -> SynthResult:
    """Write ``n`` translated images plus ``out_dir/manifest.csv`` (origin=gan).

    Refuses (:func:`cxr.data.leakage.lineage.check_gan_lineage`) when a validation or
    test patient of ``manifest`` trained the GAN, and a checkpoint without a
    lineage record unless ``trust_gan_lineage``.
    """
    import numpy as np
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    from cxr.cyclegan.domains import select_sources
    from cxr.cyclegan.translate import (
        apply_augmentation,
        aug_seed_for,
        load_generator,
        stratified_order,
        translate_batch,
    )
    from cxr.data.images.imageio import write_png
    from cxr.data.images.preprocess import load_preprocessed
    from cxr.data.manifest import load_manifest, manifest_key
    from cxr.runtime.device import resolve_device
    from cxr.runtime.files import sha256_file
    from cxr.runtime.progress import make_progress

    if n < 1 or batch_size < 1:
        raise ConfigError(f"--n and --batch-size must be >= 1 (got {n}, {batch_size})")
    out_dir = Path(out_dir)
    ckpt_hash = sha256_file(checkpoint) if Path(checkpoint).is_file() else ""
    net, info = load_generator(checkpoint)
    df = load_manifest(manifest)
    lineage_check = _check_lineage(checkpoint, ckpt_hash, info, df, trust_gan_lineage)
    src = df.iloc[select_sources(df, info.source, info.views)].reset_index(drop=True)
    # a seeded random order, stratified by collection: the first n are a fair sample
    src = src.iloc[stratified_order(src["dataset"], seed)].reset_index(drop=True)
    n_src = len(src)
    _job_file(
        out_dir,
        {
            "checkpoint_hash": ckpt_hash,
            "n": n,
            "seed": seed,
            "source": list(info.source),
            "target": info.target,
            "image_size": info.image_size,
            "sources_key": manifest_key(src),
        },
    )
    dev = resolve_device(device)
    net = net.to(dev)
    img_dir = out_dir / "images"
    names = [img_dir / f"gan_{i:06d}.png" for i in range(n)]
    todo = [i for i in range(n) if not names[i].is_file()]
    seeds = [aug_seed_for(seed, i, n_src) for i in range(n)]
    cols = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), TimeRemainingColumn())
    with make_progress(*cols, disable=not progress) as bar:
        task = bar.add_task(f"translating {','.join(info.source)} -> {info.target}", total=n)
        bar.advance(task, n - len(todo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            batch = np.stack(
                [
                    apply_augmentation(
                        load_preprocessed(
                            str(src["image_path"].iat[i % n_src]), info.image_size, info.resize_mode
                        ),
                        seeds[i],
                    )
                    for i in chunk
                ]
            )
            for i, img in zip(chunk, translate_batch(net, batch, dev), strict=True):
                write_png(names[i], img)
                bar.advance(task)
            note_kept(f"{n - len(todo) + start + len(chunk)} of {n} images in {img_dir}")
            safe_point()  # SIGTERM/SIGINT: stop between batches; written PNGs are kept
    record = out_dir / LINEAGE_FILE
    atomic_write_text(record, json.dumps({
        "checkpoint": str(Path(checkpoint).resolve()), "checkpoint_sha256": ckpt_hash,
        "lineage": info.lineage, "check": lineage_check.to_dict(),
    }, indent=1) + "\n")
    path = _write_manifest(out_dir, names, src, seeds, info, ckpt_hash, record)
    return SynthResult(
        out_dir=out_dir,
        manifest=path,
        n=n,
        written=len(todo),
        reused_existing=n - len(todo),
        n_sources=n_src,
        checkpoint_hash=ckpt_hash,
        lineage=lineage_check.summary(),
    )


def _check_lineage(checkpoint: str | Path, ckpt_hash: str, info: Any, df: Any,
                   trust: bool) -> LineageCheck:
    """The GAN's training patients must not be validation or test patients of ``df``."""
    from cxr.data.leakage.lineage import GanLineage, check_gan_lineage

    lineage = None if info.lineage is None else GanLineage.from_dict(info.lineage,
                                                                      where=str(checkpoint))
    split = df["split"].astype(str)
    return check_gan_lineage(
        lineage, {"validation": df[split == "val"], "test": df[split == "test"]},
        gan=f"GAN {ckpt_hash[:12] or checkpoint}", trust=trust,
    )


def _write_manifest(
    out_dir: Path, names: list[Path], src: Any, seeds: list[int], info: Any, ckpt_hash: str,
    record: Path,
) -> Path:
    from cxr.data.manifest import new_manifest, save_manifest
    from cxr.runtime.files import sha256_file

    n_src = len(src)
    rows = []
    for i, path in enumerate(names):
        s = src.iloc[i % n_src]
        rows.append(
            {
                "image_path": str(path),
                "patient_id": s["patient_id"],
                "label": info.target,
                "label_detail": "cyclegan",
                "view": s["view"],
                "offset_days": s["offset_days"],
                "dataset": f"{s['dataset']}+cyclegan",
                "origin": "gan",
                "split": "train",
                "width": info.image_size,
                "height": info.image_size,
                "content_hash": sha256_file(path),
                "source_image": s["image_path"],
                "source_patient": s["patient_id"],
                "aug_seed": seeds[i],
                "checkpoint_hash": ckpt_hash,
                "gan_lineage": str(record),
                "lung_mask_path": s["lung_mask_path"] if "lung_mask_path" in src.columns else "",
                # the source's mask keeps the source's provenance (cxr.data.manifest.MASK_SOURCES)
                "lung_mask_source": (s.get("lung_mask_source", "")
                                     if s.get("lung_mask_path", "") else ""),
            }
        )
    return save_manifest(new_manifest(rows), out_dir / "manifest.csv")


def synth_table(result: SynthResult) -> Any:
    from rich.table import Table

    t = Table(title=f"CycleGAN synthesis -> {result.out_dir}")
    t.add_column("item")
    t.add_column("value", justify="right")
    t.add_row("outputs", str(result.n))
    t.add_row("written now", str(result.written))
    t.add_row("already present (resumed)", str(result.reused_existing))
    t.add_row("train-split source images", str(result.n_sources))
    t.add_row("checkpoint sha256", result.checkpoint_hash[:16] + "...")
    t.add_row("manifest", str(result.manifest))
    t.caption = result.lineage
    return t
