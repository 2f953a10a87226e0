"""The tables that ``cxr data split`` and ``cxr data cache`` print (the data layer prints none)."""

from __future__ import annotations

from rich.table import Table

from cxr.data.images.cache import ImageCache
from cxr.data.manifest import LABELS
from cxr.data.split import SplitReport

_ORDER = ("train", "val", "test")


def split_table(report: SplitReport) -> Table:
    """Images / patients per split x label, plus totals, as ``cxr data split`` prints them."""
    t = Table(title="Patient-level split (images / patients)")
    t.add_column("split")
    for lab in LABELS:
        t.add_column(lab, justify="right")
    t.add_column("total", justify="right")
    c = report.counts
    for name in (*_ORDER, "all"):
        sub = c if name == "all" else c[c["split"] == name]
        cells = []
        for label in (*LABELS, None):
            rows = sub if label is None else sub[sub["label"] == label]
            cells.append(f"{int(rows['images'].sum())} / {int(rows['patients'].sum())}")
        t.add_row(name, *cells, end_section=name == _ORDER[-1])
    t.caption = (
        f"{report.duplicate_groups} duplicate groups ({report.duplicate_images} images, "
        f"{report.cross_dataset_groups} across datasets); "
        f"{report.near_candidates} near-copy candidates, {report.near_rejected} rejected by the "
        "thumbnail check; "
        f"{report.conflict_groups} with conflicting labels (on-conflict: {report.on_conflict}); "
        f"{report.merged_patient_groups} multi-patient split groups; "
        f"{report.pinned_patients} GAN source patients pinned to train"
    )
    if report.without_crop_hashes:
        t.caption += (
            f"; {report.without_crop_hashes} images lack phash_crops (older index): copies "
            "with trimmed borders may be missed, re-run `cxr data index`"
        )
    return t


def cache_table(cache: ImageCache) -> Table:
    """One-screen rich summary of a cache."""
    t = Table(title="Image cache", show_header=False)
    t.add_column("what")
    t.add_column("value")
    size_mb = cache.store_size * cache.image_size**2 / 2**20
    s = cache.image_size
    t.add_row("store", str(cache.path.parent))
    t.add_row("images", f"{cache.n} manifest rows -> {len(set(cache.store_rows.tolist()))} "
                        f"stored images ({s}x{s} uint8)")
    t.add_row("store size", f"{cache.store_size} images, {size_mb:.1f} MiB")
    t.add_row("resize mode", cache.resize_mode)
    status = ("reused (nothing to decode)" if cache.reused else
              f"built in {cache.build_seconds:.1f} s: {cache.decoded} image(s) decoded, "
              f"{cache.n - cache.decoded} reused")
    t.add_row("status", status)
    return t
