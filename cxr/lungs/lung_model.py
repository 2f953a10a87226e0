"""The trained segmenter as one self-describing file (``lungs.pt``), and masks in image frames.

``lungs.pt`` holds the U-Net's weights and everything needed to apply it: image size, resize
mode, channels, depth, threshold, and what it was trained and selected on. It is written
atomically; :func:`load_lung_model` refuses anything else with a one-line error.

:func:`to_image_frame` undoes the square resize of :mod:`cxr.data.images.preprocess`, so a
mask predicted at ``S`` px is written at its radiograph's own size and any consumer that
square-resizes image and mask alike sees them aligned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cxr.lungs.unet import UNet
from cxr.runtime.errors import CheckpointError
from cxr.runtime.files import atomic_torch_save, safe_torch_load

__all__ = ["FORMAT", "LungModelInfo", "content_box", "load_lung_model", "predict_probs",
           "save_lung_model", "to_image_frame"]

FORMAT = "cxr-lungs-unet-1"


@dataclass(frozen=True)
class LungModelInfo:
    image_size: int
    resize_mode: str
    base_channels: int
    depth: int
    threshold: float
    extra: dict[str, Any]


def save_lung_model(path: str | Path, net: UNet, info: LungModelInfo) -> None:
    atomic_torch_save({"format": FORMAT, "state_dict": net.state_dict(),
                       "image_size": info.image_size, "resize_mode": info.resize_mode,
                       "base_channels": info.base_channels, "depth": info.depth,
                       "threshold": info.threshold, "extra": info.extra}, Path(path))


def load_lung_model(path: str | Path, map_location: Any = "cpu") -> tuple[UNet, LungModelInfo]:
    """The U-Net in eval mode and its info; :class:`CheckpointError` for anything else."""
    p = Path(path)
    if p.is_dir():
        p = p / "lungs.pt"
    if not p.is_file():
        raise CheckpointError(f"{p}: no lung model here (train one with `cxr lungs train`)")
    ckpt = safe_torch_load(p, map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a cxr lung model (expected format {FORMAT})")
    info = LungModelInfo(int(ckpt["image_size"]), str(ckpt["resize_mode"]),
                         int(ckpt["base_channels"]), int(ckpt["depth"]),
                         float(ckpt["threshold"]), dict(ckpt.get("extra") or {}))
    net = UNet(base=info.base_channels, depth=info.depth)
    net.load_state_dict(ckpt["state_dict"])
    return net.eval().to(map_location), info


@torch.no_grad()
def predict_probs(net: torch.nn.Module, images_u8: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Lung probabilities float32 ``(N, S, S)`` for uint8 ``(N, S, S)`` images."""
    from cxr.data.images.intensity import to_network

    device = next(net.parameters()).device
    out = []
    for s in range(0, len(images_u8), batch_size):
        x = to_network(np.asarray(images_u8[s : s + batch_size])).unsqueeze(1).to(device)
        out.append(torch.sigmoid(net(x)).squeeze(1).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + images_u8.shape[1:], np.float32)


def content_box(h: int, w: int, size: int, mode: str) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the radiograph inside its ``pad``-mode square
    (the whole square for ``crop``), as :func:`cxr.data.images.preprocess.square_resize`."""
    if mode != "pad":
        return 0, 0, size, size
    scale = size / max(h, w)
    nh, nw = min(size, max(1, round(h * scale))), min(size, max(1, round(w * scale)))
    return (size - nh) // 2, (size - nw) // 2, nh, nw


def to_image_frame(prob: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    """A float ``(S, S)`` map of the square-resized image back on the ``(h, w)`` image grid
    (bilinear); with ``crop`` the parts cut off by the crop are 0."""
    from PIL import Image

    size = prob.shape[-1]
    if mode == "pad":
        top, left, nh, nw = content_box(h, w, size, mode)
        crop = np.ascontiguousarray(prob[top : top + nh, left : left + nw], dtype=np.float32)
        return np.asarray(Image.fromarray(crop, mode="F").resize((w, h), Image.Resampling.BILINEAR))
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    canvas = np.zeros((nh, nw), dtype=np.float32)
    top, left = (nh - size) // 2, (nw - size) // 2
    canvas[top : top + size, left : left + size] = prob
    return np.asarray(Image.fromarray(canvas, mode="F").resize((w, h), Image.Resampling.BILINEAR))
