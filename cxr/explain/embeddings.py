"""Penultimate features of a trained classifier for a list of images.

The embedding is what the backbone contract calls ``forward_head(forward_features(x),
pre_logits=True)`` (timm's convention): the pooled feature vector the classification
layer reads. Cohen et al. (Cureus 2020, arXiv:2005.11856) regress expert COVID-19
severity scores on such features; `cxr explain severity` does the same with the
classifier under study. Images (and only images) are loaded exactly as for the maps
(:func:`cxr.explain.inputs.load_item`: resized as in training).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.explain.inputs import Item, load_item
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


def penultimate_features(
    model: nn.Module,
    info: Any,
    items: Sequence[Item],
    *,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``(N, D)`` float32 pooled penultimate features, in the order of ``items``."""
    import torch

    from cxr.data.images.intensity import to_network

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    forward_features = getattr(model, "forward_features", None)
    forward_head = getattr(model, "forward_head", None)
    if forward_features is None or forward_head is None:
        raise ConfigError(f"{type(model).__name__} has no forward_features/forward_head: "
                          "penultimate features need a cxr backbone")
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        u8 = np.stack([load_item(it, info.image_size, info.resize_mode)[0] for it in chunk])
        x = to_network(torch.from_numpy(u8)).unsqueeze(1).to(device)
        with torch.no_grad():
            feats = forward_head(forward_features(x), pre_logits=True)
        out.append(feats.reshape(len(chunk), -1).float().cpu().numpy())
        if on_batch is not None:
            on_batch(len(chunk))
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)
