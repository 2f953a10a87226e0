"""Config of `cxr demo`."""

from __future__ import annotations

import dataclasses
from typing import Any

from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """`cxr demo`: phantoms -> split -> GAN -> synth -> small sweep -> explain -> report.

    The full run sweeps VGG16, ResNet50 and EfficientNet-B0 from scratch: about 48 minutes on
    2 AVX2 cores (docs/benchmarks.md); ``fast`` shrinks it to a smoke test of about a minute.
    The sweep part mirrors ``configs/ablate/demo.yaml``.
    """

    out: str = setting("demo", "Demo folder (demo-fast with --fast).", metavar="PATH")
    fast: bool = setting(
        False, "Smoke test: 90 patients, 1 GAN epoch, efficientnet_b0 only (about a minute)."
    )
    patients: int = 400
    image_size: int = 64
    seed: int = 0
    gan_epochs: int = 30
    gan_ngf: int = 16
    gan_ndf: int = 16
    gan_blocks: int = 3
    # the mission's three networks, from scratch; each needs its own learning rate and epochs
    # to learn at 64 px within the budget (measured: benchmarks/demo_backbones.py and
    # docs/benchmarks.md "Mission backbones on the demo's phantoms")
    backbones: tuple[str, ...] = ("vgg16", "resnet50", "efficientnet_b0")
    synthetic: tuple[float, ...] = (0.0, 0.3)
    seeds: int = 1
    baselines: tuple[str, ...] = ("oversample", "augment")
    classify_epochs: int = 4
    classify_by_backbone: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        "vgg16": {"lr": 1e-4, "epochs": 3},
        "resnet50": {"lr": 1e-3, "epochs": 4},
        "efficientnet_b0": {"lr": 1e-3, "epochs": 10},
    })
    explain_images: int = 0  # test images to explain; 0 = the whole test split
    # Grad-CAM (the literature's method) and input-gradient saliency: at the demo's 64 px the
    # last conv layer is a 2x2 grid, too coarse for Grad-CAM to localize (explain says so)
    explain_methods: tuple[str, ...] = ("gradcam", "saliency")
