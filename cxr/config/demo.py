"""Config of `cxr demo`."""

from __future__ import annotations

import dataclasses
from typing import Any

from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """`cxr demo`: phantoms -> split -> GAN -> synth -> small sweep -> explain -> report.

    The defaults are the CPU profile: VGG16, ResNet50 and EfficientNet-B0 from scratch,
    each on real-only, the GAN ratio and the classical baselines, within 15 minutes on 2 CPU
    cores (docs/benchmarks.md). ``profile`` gpu (chosen by itself when CUDA is available)
    trains larger images for longer; ``fast`` shrinks it to a smoke test that still learns.
    The sweep part mirrors ``configs/ablate/demo.yaml``.
    """

    out: str = setting("demo", "Demo folder (demo-fast with --fast).", metavar="PATH")
    fast: bool = setting(
        False, "Smoke test in about a minute: fewer patients, a short GAN, one network."
    )
    profile: str = setting(
        "auto", "Sizes: cpu (about 15 minutes on 2 cores), gpu (larger images, more epochs; "
        "a few minutes on one GPU) or auto (gpu when CUDA is available, else cpu).",
    )
    patients: int = 300
    # COVID stays the minority class (the point of GAN augmentation), but common enough that
    # the test split holds 20+ COVID images to put a CI on
    covid_share: float = 0.25
    test_fraction: float = 0.25
    image_size: int = 64
    seed: int = 0
    gan_epochs: int = 10
    gan_ngf: int = 16
    gan_ndf: int = 16
    gan_blocks: int = 3
    # the mission's three networks, from scratch; each needs its own learning rate, epochs
    # and (VGG16: 15 GFLOPs a 224 px image) input size to learn within the budget (measured:
    # docs/benchmarks.md "The demo in 15 minutes")
    backbones: tuple[str, ...] = ("vgg16", "resnet50", "efficientnet_b0")
    synthetic: tuple[float, ...] = (0.0, 0.3)
    seeds: int = 1
    baselines: tuple[str, ...] = ("oversample", "augment")
    classify_epochs: int = 4
    classify_by_backbone: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        "vgg16": {"lr": 1e-4, "epochs": 3, "image_size": 32},
        "resnet50": {"lr": 1e-3, "epochs": 6, "image_size": 48, "batch_size": 16},
        "efficientnet_b0": {"lr": 1e-3, "epochs": 8},
    })
    #: where the classifiers and the GAN train (the gpu profile sets gpu)
    accelerator: str = "cpu"
    explain_images: int = 0  # test images to explain; 0 = the whole test split
    # Grad-CAM (the literature's method) and input-gradient saliency
    explain_methods: tuple[str, ...] = ("gradcam", "saliency")
