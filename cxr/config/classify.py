"""Config of `cxr classify`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import (
    CACHE_DIR,
    logger_setting,
    mlflow_uri_setting,
    seed_setting,
    views_setting,
    workers_setting,
)
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    """`cxr classify` (cxr.pipelines.classify.run_classify); mirrored by configs/classify.yaml."""

    manifest: str = setting("", "Split manifest of real images.", metavar="PATH")
    synthetic_manifest: str = setting(
        "", "Manifest of GAN images (origin=gan), training only.", metavar="PATH"
    )
    backbone: str = setting(
        "efficientnet_b0",
        "vgg16, resnet18, resnet50, efficientnet_b0, densenet121, squeezenet1_1 or inception_v3.",
    )
    pretrained: str = setting(
        "none",
        "none, imagenet, the PATH of a state dict, or txv:NAME[=PATH] (torchxrayvision "
        "chest X-ray weights, see README).",
    )
    transfer: str = setting("finetune", "finetune, linear-probe or frozen-then-unfrozen.")
    unfreeze_epoch: int = setting(2, "frozen-then-unfrozen: epoch at which the body joins.")
    task: str = setting("binary", "binary (covid vs normal+pneumonia) or 3class.")
    loss: str = setting("ce", "ce, weighted-ce or focal.")
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25  # weight of the covid class; < 0 disables
    # G = R r / (1 - r) GAN images for R real COVID images (docs/mixing.md)
    synthetic_ratio: float = setting(
        0.0, "Share r of the COVID draws that are GAN images.", cli="--with-synthetic"
    )
    augment: str = setting(
        "standard", "albumentations pipeline: none, light, standard or strong."
    )
    aug_share: float = setting(0.3, "Share of real training draws that are augmented.")
    aug_scope: str = setting(
        "all", "Classes --aug-share applies to: all or minority (docs/mixing.md)."
    )
    balance: str = setting("none", "none, oversample or class-weights.")
    image_size: int = setting(224, "Square input side in pixels.")
    resize_mode: str = "pad"
    epochs: int = setting(20, "Maximum epochs.")
    batch_size: int = setting(32, "Batch size.")
    lr: float = setting(0.0003, "AdamW learning rate.")
    weight_decay: float = 0.0001
    patience: int = setting(5, "Early stopping: epochs without a better validation AUROC.")
    target_sensitivity: float = 0.9  # binary: threshold chosen on validation at this sensitivity
    bootstrap: int = 1000  # bootstrap resamples (by patient) for the test CIs
    precision: str = setting("32-true", "Lightning precision: 32-true, 16-mixed, bf16-mixed.")
    accelerator: str = setting("auto", "Lightning accelerator: auto, cpu or gpu.")
    devices: str = setting("auto", "Lightning devices: auto, a count, or a list such as 0,1.")
    strategy: str = setting("auto", "Lightning strategy, e.g. ddp.")
    workers: int = workers_setting(2)
    cache_dir: str = CACHE_DIR
    seed: int = seed_setting()
    views: str = views_setting()
    external: tuple[str, ...] = setting(
        (),
        "External test set NAME=MANIFEST (repeatable): evaluated at the validation threshold, "
        "leakage-checked against training, never trained on.",
        metavar="NAME=PATH",
    )
    logger: str = logger_setting()
    mlflow_uri: str = mlflow_uri_setting()
    trust_gan_lineage: bool = setting(
        False, "Accept GAN images whose checkpoint has no record of its training patients "
        "(every output then says the GAN lineage was not verified).",
    )
