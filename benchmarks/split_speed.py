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

    .venv/bin/python benchmarks/split_speed.py --n 15000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def synthetic_manifest(n: int, dup_share: float, seed: int = 0) -> list[dict[str, object]]:
    from cxr.data.duplicates.nearcopy import signature

    rng = np.random.default_rng(seed)
    labels = ("covid", "pneumonia", "normal", "other")
    rows: list[dict[str, object]] = []
    n_copies = int(n * dup_share)
    originals: list[np.ndarray] = []
    patient = 0
    while len(rows) < n - n_copies:
        patient += 1
        ds = f"ds{patient % 3}"
        label = labels[int(rng.integers(0, 4))]
        for _ in range(int(rng.integers(1, 4))):
            img = _image(rng)
            originals.append(img)
            k = len(rows)
            rows.append({"image_path": f"/data/{ds}/{k}.png", "patient_id": f"{ds}:{patient}",
                         "label": label, "dataset": ds, "origin": "real",
                         "content_hash": f"{k:064x}", "width": 96, "height": 96,
                         **signature(img)})
    for c in range(n_copies):
        src = int(rng.integers(0, len(originals)))
        k = len(rows)
        rows.append({**rows[src], "image_path": f"/data/copies/{k}.png", "dataset": "copies",
                     "patient_id": f"copies:{c}", "content_hash": f"{k:064x}",
                     **signature(_copy(originals[src], rng))})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15000, help="images [15000]")
    ap.add_argument("--dup-share", type=float, default=0.05, help="share of copies [0.05]")
    args = ap.parse_args(argv)

    from cxr.config import SplitConfig
    from cxr.data.manifest import new_manifest, save_manifest
    from cxr.data.split import split_file

    t0 = time.perf_counter()
    df = new_manifest(synthetic_manifest(args.n, args.dup_share))
    with tempfile.TemporaryDirectory() as tmp:
        man = Path(tmp) / "m.csv"
        save_manifest(df, man)
        size_mb = man.stat().st_size / 2**20
        t1 = time.perf_counter()
        _, rep = split_file(man, SplitConfig(), progress=False)
        t2 = time.perf_counter()
    print(f"built {len(df)} rows in {t1 - t0:.1f} s (manifest {size_mb:.1f} MiB)")
    print(f"split_file: {t2 - t1:.1f} s; {rep.duplicate_groups} duplicate groups "
          f"({rep.duplicate_images} images), {rep.near_candidates} candidates, "
          f"{rep.near_rejected} rejected; {rep.hashes_computed} images decoded")
    print(rep.leakage.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
