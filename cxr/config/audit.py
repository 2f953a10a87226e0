"""Config of `cxr audit shortcuts`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import (
    bootstrap_setting,
    cache_dir_setting,
    device_setting,
    seed_setting,
    views_setting,
    workers_setting,
)
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """`cxr audit shortcuts` (see cxr.pipelines.audit.shortcuts)."""

    positive: str = setting("covid", "Class the masking probes score.")
    image_size: int = setting(128, "Probe image size in pixels (a --checkpoint brings its own).")
    resize_mode: str = setting("pad", "pad (keep the aspect ratio, pad to square) or crop.")
    backbone: str = setting("resnet18", "Probe backbone, random init.")
    epochs: int = setting(6, "Probe training epochs.")
    batch_size: int = setting(32, "Probe batch size.")
    lr: float = setting(1e-3, "Probe learning rate.")
    seed: int = seed_setting(purpose="probe training, holdouts, bootstrap")
    bootstrap: int = bootstrap_setting(what="the AUROC intervals")
    box_margin: float = setting(
        0.12, "Lung field without masks: the central box inside this margin (fraction of side)."
    )
    border_width: float = setting(0.10, "Border band kept by the border-only probe (fraction).")
    max_per_dataset: int = setting(0, "Images per collection, drawn at random; 0 = all.")
    views: str = views_setting()
    cam_images: int = setting(64, "Test images explained with Grad-CAM (with --checkpoint).")
    device: str = device_setting()
    cache_dir: str = cache_dir_setting()
    workers: int = workers_setting(2, what="Image decoding processes")
