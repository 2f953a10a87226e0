"""Config of `cxr lungs train`, `cxr lungs evaluate` and `cxr lungs predict`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import (
    bootstrap_setting,
    cache_dir_setting,
    device_setting,
    seed_setting,
    workers_setting,
)
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class LungsConfig:
    """The lung segmentation stage (see cxr.pipelines.lungs)."""

    image_size: int = setting(128, "Segmentation image size in pixels (a multiple of 16).")
    resize_mode: str = setting("pad", "pad (keep the aspect ratio, pad to square) or crop.")
    base_channels: int = setting(16, "U-Net channels at full resolution (doubled per level).")
    epochs: int = setting(30, "Training epochs (the best by validation Dice is kept).")
    batch_size: int = setting(16, "Training batch size.")
    lr: float = setting(2e-3, "AdamW learning rate (cosine schedule).")
    weight_decay: float = setting(1e-4, "AdamW weight decay.")
    augment: bool = setting(True, "Affine and intensity augmentation of the training pairs.")
    train_sources: tuple[str, ...] = setting(
        ("manual", "phantom", "unknown"),
        "Mask sources (lung_mask_source) that train: manual, phantom, dataset-model, unknown "
        "(no source column); predicted masks never train.",
    )
    seed: int = seed_setting(purpose="initialisation, augmentation, bootstrap")
    bootstrap: int = bootstrap_setting(what="the Dice and IoU intervals")
    accelerator: str = setting("auto", "Lightning accelerator for training: auto, cpu, gpu.")
    device: str = device_setting()
    cache_dir: str = cache_dir_setting()
    workers: int = workers_setting(2, what="Image decoding processes")
    threshold: float = setting(0.5, "Probability at or above which a pixel is lung.")
    min_area: float = setting(0.08, "Plausible mask: smallest lung fraction of the image.")
    max_area: float = setting(0.65, "Plausible mask: largest lung fraction of the image.")
    min_component: float = setting(
        0.015, "Plausible mask: a lung component covers at least this fraction of the image."
    )
    min_balance: float = setting(
        0.25, "Plausible mask: the smaller lung has at least this fraction of the larger's area."
    )
    edge_margin: float = setting(
        0.1, "Plausible mask: lung centroids lie at least this fraction of the side from edges."
    )
    overwrite: bool = setting(
        False, "Predict: also replace masks an earlier cxr lungs predict wrote (source predicted)."
    )
