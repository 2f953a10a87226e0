"""Config of `cxr ablate`: backbone x synthetic ratio x seed sweeps."""

from __future__ import annotations

import dataclasses
from typing import Any

from cxr.config.resources import bootstrap_setting, logger_setting, mlflow_uri_setting
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class AblateConfig:
    """A grid of classify runs with paired statistics (see cxr.pipelines.ablate.run_ablate)."""

    manifest: str = setting("", "Split manifest of real images.", metavar="PATH")
    out: str = setting("runs/sweep", "Sweep folder.", metavar="PATH")
    backbones: tuple[str, ...] = setting(
        ("vgg16", "resnet50", "efficientnet_b0"), "Backbones, comma-separated."
    )
    synthetic: tuple[float, ...] = setting(
        (0.0, 0.1, 0.3, 0.5),
        "Synthetic ratios r in [0, 1), comma-separated (classify's --with-synthetic); "
        "0 is the reference arm.",
    )
    seeds: int = setting(3, "Training seeds per arm (0..N-1), paired across arms.")
    losses: tuple[str, ...] = setting(
        ("ce",), "Losses, comma-separated: ce, weighted-ce, focal.", cli="--loss"
    )
    baselines: tuple[str, ...] = setting(
        (),
        "Classical arms at r=0, comma-separated: oversample (balance only), augment "
        "(albumentations on the minority class only).",
    )
    split_seeds: tuple[int, ...] = setting(
        (),
        "Re-split per seed, comma-separated (one GAN per split); empty = the manifest's split.",
    )
    shared_gan: bool = setting(
        False, "One GAN for all split seeds (leaks; the report says so)."
    )
    leave_dataset_out: bool = setting(
        False,
        "One fold per collection holding COVID images: classifier and GAN trained on the "
        "others, tested on the held-out one.",
    )
    synthetic_manifest: str = setting(
        "", "Ready GAN rows (origin=gan) instead of training a GAN here.", metavar="PATH"
    )
    synth_per_split: int = 0  # GAN images per split; 0 = enough for the largest ratio
    # base configs and per-field overrides applied to every cell / the GAN
    classify_config: str = setting(
        "", "Base ClassifyConfig YAML for every cell.", metavar="PATH"
    )
    classify: dict[str, Any] = dataclasses.field(default_factory=dict)
    # per-backbone classify overrides on top of ``classify`` (YAML only), e.g.
    # {"vgg16": {"lr": 1e-4}}: networks trained from scratch rarely share one learning rate;
    # the arm's own knobs (ratio, balance, augment, seed, loss) cannot be overridden here
    classify_by_backbone: dict[str, Any] = dataclasses.field(default_factory=dict)
    gan_config: str = setting("", "GanConfig YAML for the sweep's GANs.", metavar="PATH")
    gan: dict[str, Any] = dataclasses.field(default_factory=dict)
    # where cells run
    executor: str = setting("local", "Where cells run: local or ray.")
    ray_address: str = setting("", "Ray cluster address (e.g. auto, ray://head:10001).")
    cpus_per_cell: float = setting(1.0, "Ray: CPUs reserved per cell.")
    gpus_per_cell: float = setting(0.0, "Ray: GPUs reserved per cell.")
    devices: str = setting(
        "", "Lightning devices per cell, e.g. 2 (DDP); empty = the classify config's."
    )
    strategy: str = setting("", "Lightning strategy per cell, e.g. ddp.")
    # disk: by default only the cell with the best validation AUROC keeps its best.ckpt
    # (the one `cxr demo` explains) and no cell keeps Lightning's resume checkpoints
    keep_checkpoints: bool = setting(
        False,
        "Keep every cell's best.ckpt and Lightning checkpoints; otherwise only the "
        "best-validation cell's best.ckpt is kept.",
    )
    # statistics
    positive: str = "covid"  # class whose probability is the AUROC score
    bootstrap: int = bootstrap_setting(what="the paired tests")
    confidence: float = 0.95
    logger: str = logger_setting()
    mlflow_uri: str = mlflow_uri_setting()
