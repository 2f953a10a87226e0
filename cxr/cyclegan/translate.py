"""Synthesis with a trained CycleGAN generator ``G_A`` (``G``: source -> target).

Zhu et al., ICCV 2017. Used for COVID-19 CXR augmentation as in Bar-El et
al. 2021 / Morís et al. 2021: train-split source images (e.g. normal) are
translated into the target class (covid). When more outputs are requested
than there are sources, later rounds apply a seeded pre-translation
augmentation (small affine + intensity; drawn by :func:`draw_augmentation`,
applied by :func:`apply_augmentation`, MONAI-style) so outputs differ, and
the seed is recorded so the exact input can be rebuilt.

Sources are visited in a seeded random order stratified by collection
(:func:`stratified_order`): any first ``n`` outputs come from the collections in
proportion to their share of the source pool, so ``--n 50`` is a random sample
of every collection rather than the first 50 rows of the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxr.cyclegan.networks import ResnetGenerator
from cxr.runtime.errors import CheckpointError
from cxr.runtime.files import safe_torch_load

__all__ = [
    "Augmentation",
    "GeneratorInfo",
    "apply_augmentation",
    "aug_seed_for",
    "draw_augmentation",
    "load_generator",
    "stratified_order",
]


def stratified_order(strata: Any, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(len(strata))`` whose every prefix is stratified.

    Within each stratum the order is a random shuffle; stratum ``s`` of size
    ``n_s`` places its ``j``-th item at key ``(j + u_s) / n_s`` with a random
    offset ``u_s`` in [0, 1), and all items are sorted by key (systematic
    sampling per stratum). A prefix of length ``k`` then holds
    ``k * n_s / N`` items of stratum ``s`` up to rounding (within one). A pure
    function of ``(strata, seed)``: a resumed job replays the same order.
    """
    labels = np.asarray(strata, dtype=str)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    keys = np.empty(labels.size)
    tiebreak = rng.random(labels.size)
    for name in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == name)
        idx = idx[rng.permutation(idx.size)]
        keys[idx] = (np.arange(idx.size) + rng.random()) / idx.size
    return np.lexsort((tiebreak, keys))


@dataclass(frozen=True)
class GeneratorInfo:
    source: tuple[str, ...]
    target: str
    image_size: int
    resize_mode: str
    ngf: int
    n_blocks: int
    # patients/images that trained it (cxr.data.leakage.lineage.GanLineage.to_dict());
    # None if unrecorded
    lineage: dict[str, Any] | None = None
    views: str = "frontal"  # the views it trained on (cxr.data.views); synthesis uses the same


def load_generator(
    path: str | Path, map_location: str = "cpu"
) -> tuple[ResnetGenerator, GeneratorInfo]:
    """``G_A`` (source -> target) from a ``cxr gan train`` checkpoint, in eval mode."""
    path = Path(path)
    ckpt = safe_torch_load(path, what="GAN checkpoint", map_location=map_location)
    if not isinstance(ckpt, dict) or "cxr_gan" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a `cxr gan train` checkpoint (no cxr_gan section)")
    meta, cfg = ckpt["cxr_gan"]["meta"], ckpt["cxr_gan"]["config"]
    info = GeneratorInfo(
        source=tuple(meta["source"]),
        target=str(meta["target"]),
        image_size=int(meta["image_size"]),
        resize_mode=str(meta["resize_mode"]),
        ngf=int(cfg["ngf"]),
        n_blocks=int(meta["n_blocks"]),
        lineage=meta.get("lineage"),
        views=str(meta.get("views", "frontal")),
    )
    net = ResnetGenerator(1, 1, info.ngf, info.n_blocks)
    prefix = "G_A."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: generator weights do not fit ({str(exc).splitlines()[0]})"
        ) from None
    return net.eval(), info


def aug_seed_for(seed: int, index: int, n_sources: int) -> int:
    """-1 (no augmentation) for the first pass over the sources, else a seed from (seed, index)."""
    if index < n_sources:
        return -1
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass(frozen=True)
class Augmentation:
    angle: float  # degrees
    shift: tuple[float, float]  # fraction of the size (x, y)
    scale: float
    gamma: float
    contrast: float


def draw_augmentation(aug_seed: int) -> Augmentation:
    """Small, anatomy-preserving ranges (no flips: heart side matters)."""
    rng = np.random.default_rng(aug_seed)
    return Augmentation(
        angle=float(rng.uniform(-5, 5)),
        shift=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
        scale=float(rng.uniform(0.95, 1.05)),
        gamma=float(rng.uniform(0.85, 1.15)),
        contrast=float(rng.uniform(0.92, 1.08)),
    )


def apply_augmentation(img_u8: np.ndarray, aug_seed: int) -> np.ndarray:
    """Apply the augmentation of ``aug_seed`` to a uint8 ``(S, S)`` image (-1: unchanged)."""
    if aug_seed < 0:
        return img_u8
    import torchvision.transforms.v2.functional as TF

    a = draw_augmentation(aug_seed)
    s = img_u8.shape[-1]
    t = torch.from_numpy(np.ascontiguousarray(img_u8))[None]
    t = TF.affine(
        t,
        angle=a.angle,
        translate=[a.shift[0] * s, a.shift[1] * s],
        scale=a.scale,
        shear=[0.0, 0.0],
        interpolation=TF.InterpolationMode.BILINEAR,
        fill=[0.0],
    )
    f = (t.float() / 255.0).clamp(0, 1) ** a.gamma
    f = ((f - f.mean()) * a.contrast + f.mean()).clamp(0, 1)
    return (f * 255).round().to(torch.uint8)[0].numpy()


def translate_batch(net: torch.nn.Module, batch_u8: np.ndarray, device: Any) -> np.ndarray:
    """uint8 ``(B, S, S)`` -> translated uint8 ``(B, S, S)`` (intensity convention kept)."""
    from cxr.data.images.intensity import from_network, to_network

    with torch.inference_mode():
        x = to_network(batch_u8).unsqueeze(1).to(device)
        return from_network(net(x)[:, 0]).cpu().numpy()
