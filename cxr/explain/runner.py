"""Batched explanation of a list of items with a trained classifier.

Loads images (and masks) resized as in training, predicts, picks the explained
class per image, computes the maps in batches on the model's device and the
coarse localization. Yields one :class:`Explained` per image, in order.

For the gradient methods (saliency, SmoothGrad) ``region_sigma > 0`` blurs
each per-image map (:func:`~cxr.explain.localize.smooth_map`);
``heat`` is then the smoothed map - what the overlay shows, what the region
is cut from, and what the caller scores. ``raw`` (``keep_raw``) stays the
unsmoothed gradient magnitude.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.explain import GRADIENT_METHODS, explain_batch, map_peaks, normalise_maps
from cxr.explain.inputs import Item, load_item
from cxr.explain.localize import (
    Region,
    attended_region,
    find_regions,
    min_area_pixels,
    smooth_map,
)
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn


@dataclasses.dataclass
class Explained:
    """One explained image: inputs, prediction, map and attended regions."""

    item: Item
    image: np.ndarray  # uint8 (S, S)
    heat: np.ndarray  # float32 (S, S) in [0, 1] (gradient methods: smoothed by region_sigma)
    probs: np.ndarray  # (C,) over info.classes
    pred: int
    target: int
    lung: np.ndarray | None
    lesion: np.ndarray | None
    region: np.ndarray  # bool (S, S): thresholded map without components under the min area
    regions: list[Region]
    raw: np.ndarray | None = None  # float32 (S, S) >= 0, un-normalised (keep_raw only)
    peak: float | None = None  # the raw value ``heat`` scales to 1 (keep_raw only)


def predict_index(
    probs: np.ndarray, classes: Sequence[str], positive: str, threshold: float | None
) -> np.ndarray:
    """Predicted class per row: the tuned threshold on P(positive) for binary heads, else argmax."""
    if len(classes) == 2 and threshold is not None and positive in classes:
        pos = classes.index(positive)
        return np.where(probs[:, pos] >= threshold, pos, 1 - pos)
    return probs.argmax(axis=1)


def target_index(spec: str, classes: Sequence[str]) -> int | None:
    """``predicted`` -> ``None``; a class name -> its index (a clear error otherwise)."""
    if spec == "predicted":
        return None
    if spec not in classes:
        raise ConfigError(
            f"--target {spec!r} is not a class of this classifier "
            f"(valid: predicted, {', '.join(classes)})"
        )
    return list(classes).index(spec)


def explain_items(
    model: nn.Module,
    info: Any,
    items: Sequence[Item],
    *,
    method: str,
    target: str = "predicted",
    engine: str = "fast",
    batch_size: int = 16,
    rule: str = "top",
    top_fraction: float = 0.2,
    region_sigma: float = 0.0,
    region_min_area: float = 0.0,
    smooth_samples: int = 16,
    smooth_sigma: float = 0.15,
    seed: int = 0,
    lung_fallback: Callable[[np.ndarray], np.ndarray | None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    keep_raw: bool = False,
) -> Iterator[Explained]:
    """Explain ``items`` in batches; ``info`` is the checkpoint's ClassifierInfo.

    ``lung_fallback(image)`` supplies a lung mask where the item has none.
    ``keep_raw`` also keeps each raw map and its peak (see
    :func:`~cxr.explain.map_peaks`), for a common scale across
    images; ``heat`` is then derived from the raw map (fast engine only).
    ``region_sigma`` (fraction of the side; gradient methods only) smooths
    ``heat``; ``region_min_area`` (fraction of the image) drops smaller
    components from ``region``. Both default to off.
    """
    import torch

    from cxr.data.images.intensity import to_network
    from cxr.explain.targets import probabilities

    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    classes = tuple(info.classes)
    fixed = target_index(target, classes)
    device = next(model.parameters()).device
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        loaded = [load_item(it, info.image_size, info.resize_mode) for it in chunk]
        u8 = np.stack([img for img, _, _ in loaded])
        x = to_network(torch.from_numpy(u8)).unsqueeze(1).to(device)
        with torch.no_grad():
            probs = probabilities(model(x).reshape(len(x), -1)).float().cpu().numpy()
        pred = predict_index(probs, classes, info.positive, info.threshold)
        tgt = pred if fixed is None else np.full(len(chunk), fixed)
        maps, _ = explain_batch(
            model,
            x,
            torch.as_tensor(tgt, device=device),
            method=method,
            engine=engine,
            smooth_samples=smooth_samples,
            smooth_sigma=smooth_sigma,
            seed=seed + start,
            normalise=not keep_raw,
        )
        if keep_raw:
            raw, peaks = maps, map_peaks(maps, method)
            heat = normalise_maps(raw, method)
        else:
            raw, peaks, heat = None, None, maps
        for i, (it, (img, lung, lesion)) in enumerate(zip(chunk, loaded, strict=True)):
            if lung is None and lung_fallback is not None:
                lung = lung_fallback(img)
            hm = smooth_map(heat[i], region_sigma if method in GRADIENT_METHODS else 0.0)
            region = attended_region(
                hm,
                rule=rule,
                top_fraction=top_fraction,
                min_area=min_area_pixels(hm.shape, region_min_area),
            )
            yield Explained(
                it,
                img,
                hm,
                probs[i],
                int(pred[i]),
                int(tgt[i]),
                lung,
                lesion,
                region,
                find_regions(region, min_area=max(1, region.size // 1000)),
                None if raw is None else raw[i],
                None if peaks is None else float(peaks[i]),
            )
        if on_batch is not None:
            on_batch(len(chunk))
