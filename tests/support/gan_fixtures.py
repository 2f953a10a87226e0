"""Tiny data for the CycleGAN, cache and lineage tests.

``make_tiny_manifest``: a few 32 px "radiographs" (dark lungs in a bright body) where covid
images carry a bright haze in the lower, outer lung zones, with lung masks; ``tiny_cfg``: a
GanConfig small enough for a CPU test; ``write_images``: random PNGs of varied sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cxr.config import GanConfig
from cxr.data.images.imageio import write_png
from cxr.data.manifest import new_manifest, save_manifest
from cxr.runtime.files import sha256_file

SPLIT_COUNTS = {"train": 5, "val": 2, "test": 2}


def _lungs(size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    left = ((xx - 0.3) / 0.14) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
    right = ((xx - 0.7) / 0.14) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
    return left | right


def tiny_image(label: str, size: int, rng: np.random.Generator, split: str) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    lungs = _lungs(size)
    img = np.full((size, size), 170.0) - 40 * yy
    img[lungs] = 50
    if label == "covid":  # peripheral lower-zone haze
        haze = lungs & (yy > 0.5) & (np.abs(xx - 0.5) > 0.26)
        img[haze] += 70
    img += rng.normal(0, 6, img.shape)
    if split != "train":  # held-out images carry a bright corner: easy to spot if they leak
        img[:3, :3] = 255
    return np.clip(img, 0, 255).astype(np.uint8)


def make_tiny_manifest(
    root: Path, size: int = 32, labels: tuple[str, ...] = ("normal", "covid"), seed: int = 0
) -> Path:
    """One image per patient; ``SPLIT_COUNTS`` patients per (label, split)."""
    rng = np.random.default_rng(seed)
    rows = []
    mask_dir = root / "masks" / "lung"
    write_png(mask_dir / "lung.png", (_lungs(size) * 255).astype(np.uint8))
    for label in labels:
        for split, count in SPLIT_COUNTS.items():
            for i in range(count):
                path = root / "images" / f"{label}_{split}_{i}.png"
                write_png(path, tiny_image(label, size, rng, split))
                rows.append(
                    {
                        "image_path": str(path),
                        "patient_id": f"tiny:{label}-{split}-{i}",
                        "label": label,
                        "dataset": "tiny",
                        "split": split,
                        "width": size,
                        "height": size,
                        "content_hash": sha256_file(path),
                        "lung_mask_path": str(mask_dir / "lung.png"),
                    }
                )
    return save_manifest(new_manifest(rows), root / "manifest.csv")


def tiny_cfg(tmp: Path, **kw: Any) -> GanConfig:
    base = dict(
        image_size=32,
        epochs=1,
        epochs_decay=1,
        ngf=4,
        ndf=4,
        n_blocks=1,
        batch_size=2,
        pool_size=3,
        sample_images=2,
        cache_dir=str(tmp / "cache"),
        cache_workers=1,
        accelerator="cpu",
    )
    base.update(kw)
    return GanConfig(**base)  # type: ignore[arg-type]


def write_images(folder, n: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        h, w = int(rng.integers(30, 60)), int(rng.integers(30, 60))
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(path)
        rows.append(dict(image_path=str(path), patient_id=f"ds:p{i // 2}", origin="real",
                         label=("covid", "normal")[i % 2], dataset="ds",
                         split=("train", "train", "val", "test")[i % 4],
                         content_hash=sha256_file(path)))
    return new_manifest(rows)
