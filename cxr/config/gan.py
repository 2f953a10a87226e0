"""Config of `cxr gan train` (CycleGAN) and the synthetic-data checks of `cxr gan eval`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import (
    bootstrap_setting,
    cache_dir_setting,
    logger_setting,
    mlflow_uri_setting,
    seed_setting,
    views_setting,
    workers_setting,
)
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """CycleGAN training (see cxr.cyclegan); defaults are the reference code's."""

    # domains by manifest label: A = source(s), B = target (train split, real origin only)
    source: tuple[str, ...] = setting(
        ("normal",), "Source label(s), comma-separated: normal, pneumonia."
    )
    target: str = setting("covid", "Target label.")
    image_size: int = setting(256, "Square image size, a multiple of 4.")
    resize_mode: str = "pad"
    # schedule: constant lr for `epochs`, then linear decay to zero over `epochs_decay`
    epochs: int = setting(100, "Epochs at constant learning rate.")
    epochs_decay: int = setting(100, "Epochs of linear decay to zero afterwards.")
    steps_per_epoch: int = setting(0, "Steps per epoch; 0 = max(|A|, |B|) / batch size.")
    batch_size: int = setting(1, "Batch size.")
    ngf: int = setting(64, "Generator base width.")
    ndf: int = setting(64, "Discriminator base width.")
    n_blocks: int = setting(0, "Residual blocks; 0 = 9 above 128 px, else 6.")
    n_layers_d: int = 3
    # objective: cycle weight lambda, identity weight as a fraction of lambda
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    pool_size: int = 50
    # light on-device augmentation: random shift (fraction of the size), optional h-flip
    aug_shift: float = 0.06
    aug_flip: bool = False
    seed: int = seed_setting()
    views: str = views_setting()
    # Lightning passthrough
    precision: str = setting("32-true", "Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    accelerator: str = setting("auto", "Lightning accelerator: auto, cpu, gpu.")
    devices: str = setting("1", "Lightning devices: a count, a list such as 0,1, or auto.")
    strategy: str = setting("auto", "Lightning strategy, e.g. ddp.")
    compile: bool = setting(False, "torch.compile the networks.")
    workers: int = workers_setting(0, aliases=("num_workers",))
    # monitoring: images per side in the per-epoch grid
    sample_images: int = 4
    cache_dir: str = cache_dir_setting()
    cache_workers: int = 2
    logger: str = logger_setting()
    mlflow_uri: str = mlflow_uri_setting()


@dataclasses.dataclass(frozen=True)
class GanAuditConfig:
    """Synthetic-data audit of `cxr gan eval` (see cxr.pipelines.gan.synthetic_checks)."""

    audit_images: int = setting(400, "Audit: images per set, drawn at random (bounds the cost).")
    probe_backbone: str = setting("resnet18", "Audit: backbone of the probe classifiers.")
    probe_epochs: int = setting(5, "Audit: epochs of the probe classifiers.")
    probe_batch_size: int = setting(32, "Audit: probe batch size.")
    probe_lr: float = setting(1e-3, "Audit: probe learning rate.")
    nearest_k: int = setting(
        5, "Audit: feature neighbours checked with SSIM; also k of density/coverage."
    )
    copy_ssim: float = setting(0.95, "Audit: SSIM at or above which a near neighbour is a copy.")
    ms_ssim_pairs: int = setting(200, "Audit: random pairs for the mean MS-SSIM.")
    fid_repeats: int = setting(10, "Audit: subsamples of the equal-size FID/KID.")
    bootstrap: int = bootstrap_setting(what="the synthetic-data checks' AUROC intervals")
    seed: int = seed_setting(purpose="the synthetic-data checks")
