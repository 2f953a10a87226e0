"""Wall time of ``cxr data split`` (duplicate grouping + patient split + checks) at scale.

Builds a synthetic manifest of ``--n`` images (default 15,000) whose signature
columns (``phash``, ``phash_crops``, ``thumb``) are computed by the indexer's
own :func:`cxr.data.duplicates.nearcopy.signature` from small generated radiograph-like
images: a shared chest layout (two dark lung fields, bright mediastinum) plus
per-image smooth variation, so the hashes cluster as real chest radiographs
do and candidate generation meets realistic bucket sizes. ``--dup-share`` of
the images are copies of another (resized, gamma-changed, some trimmed), from
another "collection". Patients hold 1-3 images; four labels, three datasets.
The manifest is written to a temporary CSV and split with ``split_file``
exactly as the CLI does (load, group, split, leakage and confounding checks,
save); no image file is read, as for a manifest written by ``cxr data index``.

    .venv/bin/python benchmarks/split_speed.py --n 15000 --keep /tmp/cxr-bench/real15k.csv

``--keep`` saves the built manifest (and which rows are copies of which) and reuses it,
so that a second run, or another checkout's split (``PYTHONPATH``), times the same rows.
Besides the wall time it reports the process's CPU time, the load average and the
duplicate search's phases (signatures, candidates, confirmation).

**Real signatures** (the default when ``shared/data`` holds them): real
radiographs look alike far more than generated ones, which is what makes
candidate search hard (issue 23, item 7). The Kermany and ieee8023 folders are
indexed once with ``cxr data index`` (cached in ``--real-manifest``), and each
synthetic row is a blend of two real thumbnails (weights 0.3-0.7, a gamma of
0.8-1.25, mild noise) upscaled to 128 px, whose signature is then computed as
the indexer would: a new radiograph-like image for every row, never a copy of
one real image. Copies are re-crops of such rows (one or two sides trimmed
2-10 %, resized, gamma-changed). ``--synthetic`` forces the generated images.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _image(rng: np.random.Generator, size: int = 96) -> np.ndarray:
    import cv2

    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.75 - 0.35 * (np.exp(-(((x - 0.32) / 0.13) ** 2 + ((y - 0.5) / 0.28) ** 2))
                          + np.exp(-(((x - 0.68) / 0.13) ** 2 + ((y - 0.5) / 0.28) ** 2)))
    field = cv2.resize(rng.random((6, 6)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    detail = cv2.resize(rng.random((24, 24)).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    img = base + 0.15 * (field - 0.5) + 0.05 * (detail - 0.5)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _copy(u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = u8.shape
    t = int(rng.integers(0, 4)) * h // 100
    out = u8[t : h - t, t : w - t]
    out = cv2.resize(out, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA)
    return np.asarray(255 * (out / 255.0) ** rng.uniform(0.7, 1.4), dtype=np.uint8)


def _manifest(n: int, dup_share: float, seed: int, size: int,
              make: Callable[[np.random.Generator], np.ndarray],
              copy: Callable[[np.ndarray, np.random.Generator], np.ndarray],
              ) -> list[dict[str, object]]:
    """``n`` rows: patients of 1-3 images from ``make`` (four labels, three datasets), then
    ``dup_share`` of them copies (``copy`` of a random earlier image, in a "copies" dataset,
    ``source_row`` naming it); signatures computed as the indexer does."""
    from cxr.data.duplicates.nearcopy import signature

    rng = np.random.default_rng(seed)
    labels = ("covid", "pneumonia", "normal", "other")
    rows: list[dict[str, object]] = []
    n_copies = int(n * dup_share)
    images: list[np.ndarray] = []
    patient = 0
    while len(rows) < n - n_copies:
        patient += 1
        ds = f"ds{patient % 3}"
        label = labels[int(rng.integers(0, 4))]
        for _ in range(int(rng.integers(1, 4))):
            img = make(rng)
            images.append(img)
            k = len(rows)
            rows.append({"image_path": f"/data/{ds}/{k}.png", "patient_id": f"{ds}:{patient}",
                         "label": label, "dataset": ds, "origin": "real",
                         "content_hash": f"{k:064x}", "width": size, "height": size,
                         **signature(img)})
    for c in range(n_copies):
        src = int(rng.integers(0, len(images)))
        k = len(rows)
        rows.append({**rows[src], "image_path": f"/data/copies/{k}.png", "dataset": "copies",
                     "patient_id": f"copies:{c}", "content_hash": f"{k:064x}",
                     "source_row": src, **signature(copy(images[src], rng))})
    return rows


def synthetic_manifest(n: int, dup_share: float, seed: int = 0) -> list[dict[str, object]]:
    return _manifest(n, dup_share, seed, 96, _image, _copy)


def real_thumbs(cache: Path) -> np.ndarray | None:
    """Thumbnails of the real Kermany + ieee8023 images (indexed once into ``cache``)."""
    from dedup_recall import SHARED  # the same shared/data lookup (this folder is on sys.path)

    from cxr.data.duplicates.nearcopy import decode_thumb
    from cxr.data.index.indexer import build_index
    from cxr.data.manifest import load_manifest

    roots = [SHARED / "kermany-chest-xray", SHARED / "ieee8023-covid-chestxray"]
    if not all(r.is_dir() for r in roots):
        return None
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        build_index(roots, cache, workers=2, progress=False)
    thumbs = [decode_thumb(t) for t in load_manifest(cache)["thumb"].fillna("")]
    return np.stack([t for t in thumbs if t is not None])


def _recrop(u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    h, w = u8.shape
    cut = [0.0, 0.0, 0.0, 0.0]
    for side in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
        cut[int(side)] = float(rng.uniform(0.02, 0.10))
    out = u8[int(h * cut[0]) : h - int(h * cut[1]), int(w * cut[2]) : w - int(w * cut[3])]
    out = cv2.resize(out, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA)
    return np.asarray(255 * (out / 255.0) ** rng.uniform(0.8, 1.25), dtype=np.uint8)


def real_manifest(thumbs: np.ndarray, n: int, dup_share: float,
                  seed: int = 0) -> list[dict[str, object]]:
    """Rows whose signatures are blends of real thumbnails (see the module docstring)."""
    import cv2

    def blend(rng: np.random.Generator) -> np.ndarray:
        a, b = rng.choice(len(thumbs), 2, replace=False)
        wgt = rng.uniform(0.3, 0.7)
        mix = wgt * thumbs[a] + (1 - wgt) * thumbs[b] + rng.normal(0, 2, thumbs[a].shape)
        mix = 255 * (np.clip(mix, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25)
        img = cv2.resize(mix.astype(np.float32), (128, 128), interpolation=cv2.INTER_CUBIC)
        return np.clip(img, 0, 255).astype(np.uint8)

    return _manifest(n, dup_share, seed, 128, blend, _recrop)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15000, help="images [15000]")
    ap.add_argument("--dup-share", type=float, default=0.05, help="share of copies [0.05]")
    ap.add_argument("--synthetic", action="store_true", help="generated images, not real ones")
    ap.add_argument("--real-manifest", default=str(Path(tempfile.gettempdir()) / "cxr-bench"
                                                   / "kermany-ieee8023.csv"),
                    help="cache of the real index [tmp/cxr-bench/kermany-ieee8023.csv]")
    ap.add_argument("--keep", default="",
                    help="CSV keeping the built manifest (reused when present: building the "
                         "signatures of 100k rows takes minutes)")
    args = ap.parse_args(argv)

    from cxr.config import SplitConfig
    from cxr.data.manifest import load_manifest, new_manifest, save_manifest
    from cxr.data.split import split_file

    t0 = time.perf_counter()
    keep = Path(args.keep) if args.keep else None
    if keep is not None and keep.is_file():
        import pandas as pd

        df = load_manifest(keep, check_files=False)
        src = pd.read_csv(keep.with_suffix(".truth.csv"))
        truth = list(zip(src["source"].tolist(), src["copy"].tolist(), strict=True))
        print(f"manifest reused: {keep} ({len(df)} rows)")
    else:
        thumbs = None if args.synthetic else real_thumbs(Path(args.real_manifest))
        if thumbs is None:
            print("signatures: generated images")
            rows = synthetic_manifest(args.n, args.dup_share)
        else:
            print(f"signatures: blends of {len(thumbs)} real thumbnails")
            rows = real_manifest(thumbs, args.n, args.dup_share)
        truth = [(int(r.pop("source_row")), k) for k, r in enumerate(rows) if "source_row" in r]
        df = new_manifest(rows)
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            save_manifest(df, keep)
            with keep.with_suffix(".truth.csv").open("w") as f:
                f.write("source,copy\n" + "".join(f"{a},{b}\n" for a, b in truth))
    with tempfile.TemporaryDirectory() as tmp:
        man = Path(tmp) / "m.csv"
        save_manifest(df, man)
        size_mb = man.stat().st_size / 2**20
        load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").is_file() \
            else "n/a"
        t1, c1 = time.perf_counter(), time.process_time()
        out, rep = split_file(man, SplitConfig(), progress=False)
        t2, c2 = time.perf_counter(), time.process_time()
        split = load_manifest(out, check_files=False)
    if truth:
        group = split["duplicate_group"].fillna("").astype(str).tolist()
        found = sum(1 for a, b in truth if group[a] and group[a] == group[b])
        print(f"copies grouped with their source: {found} of {len(truth)} "
              f"(recall {found / len(truth):.4f})")
    print(f"built {len(df)} rows in {t1 - t0:.1f} s (manifest {size_mb:.1f} MiB)")
    print(f"split_file: {t2 - t1:.1f} s wall, {c2 - c1:.1f} s CPU of this process (load "
          f"average {load} at the start, {Path('/proc/loadavg').read_text().split()[0]} at the "
          f"end); {rep.duplicate_groups} duplicate groups "
          f"({rep.duplicate_images} images), {rep.near_candidates} candidates "
          f"({rep.near_candidates / max(1, len(df)):.1f} per row), "
          f"{rep.near_rejected} rejected; {rep.hashes_computed} images decoded")
    wall = getattr(rep, "near_seconds", {})  # absent before issue 23 (to time main's split)
    cpu = getattr(rep, "near_cpu_seconds", {})
    phases = ", ".join(f"{k} {v:.1f} s wall / {cpu.get(k, 0.0):.1f} s CPU" for k, v in wall.items())
    if phases:
        print(f"duplicate search phases: {phases}; the rest of split_file (CSV load and save, "
              f"split, checks) {t2 - t1 - sum(wall.values()):.1f} s wall")
    print(rep.leakage.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
