"""Config of cxr study: the seed paper's question on real public radiographs."""

from __future__ import annotations

import dataclasses
from typing import Any

from cxr.config.schema import setting

PROFILES = ("smoke", "cpu", "gpu")


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """`cxr study CONFIG`: index -> split -> GAN arms -> protocol grid -> scarcity ->
    generalisation -> audit -> severity -> report (see cxr.pipelines.study.run_study).

    The YAML (configs/study/seed-paper.yaml) holds the base settings and a ``profiles``
    mapping whose entry for ``--profile`` is laid over them (``smoke``, ``cpu``, ``gpu``).
    """

    out: str = setting("runs/study", "Study folder (resumable).", metavar="PATH")
    profile: str = setting("cpu", "Sizes: smoke (minutes), cpu (2 cores, <= 2.5 h) or gpu.")
    data_root: str = setting(
        "../shared/data", "Folder holding the collections named in the config.", metavar="PATH"
    )
    index: str = setting(
        "", "An existing `cxr data index` manifest of the same collections: its hashes are "
        "reused (unchanged files are not decoded again).", metavar="PATH"
    )
    # collection name -> folder under data_root (the manifest's `dataset` value)
    collections: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "ieee8023": "ieee8023-covid-chestxray",
        "kermany": "kermany-chest-xray",
        "hannover": "hannover-covid-full",
    })
    seed: int = 0
    views: str = "frontal"
    # at most this many patients per (collection, label), drawn with `seed`; 0 = all
    max_patients: dict[str, int] = dataclasses.field(default_factory=dict)
    val_fraction: float = 0.15
    test_fraction: float = 0.25
    image_size: int = 64
    accelerator: str = "cpu"
    backbones: tuple[str, ...] = ("vgg16", "resnet50", "efficientnet_b0")
    tasks: tuple[str, ...] = ("3class", "binary")
    seeds: int = 3
    ratios: tuple[float, ...] = (0.3, 0.5)
    baselines: tuple[str, ...] = ("oversample", "augment")
    # base `cxr classify` fields of every cell, then per-backbone overrides
    classify: dict[str, Any] = dataclasses.field(default_factory=dict)
    classify_by_backbone: dict[str, Any] = dataclasses.field(default_factory=dict)
    # the real-only classifier whose features measure FID/KID and label preservation, and
    # whose checkpoint the shortcut audit and the severity hook read
    reference_backbone: str = "resnet50"
    # `cxr gan train` fields of every GAN arm
    gan: dict[str, Any] = dataclasses.field(default_factory=dict)
    # GAN arm -> {"source_datasets": [...], "source": [labels]}; target is COVID-19 from
    # every collection's train patients
    gan_arms: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        "children": {"source_datasets": ["kermany"], "source": ["normal", "pneumonia"]},
        "adult": {"source_datasets": ["ieee8023", "hannover"], "source": ["normal", "pneumonia"]},
    })
    gan_audit: dict[str, Any] = dataclasses.field(default_factory=dict)
    # scarcity: fractions of the COVID training patients kept (nested, same across arms)
    scarcity_levels: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    scarcity_task: str = "binary"
    scarcity_backbones: tuple[str, ...] = ("resnet50",)
    scarcity_gan_arm: str = "children"
    scarcity_ratio: float = 0.5
    scarcity_baselines: tuple[str, ...] = ("oversample", "augment")
    # retrain the GAN arm per level on that level's COVID patients only; otherwise the GAN
    # trained on all of them is used and the report says that it has seen more COVID patients
    scarcity_retrain_gan: bool = True
    # generalisation: leave-one-collection-out over the COVID sources; within-source
    lodo_task: str = "binary"
    lodo_backbones: tuple[str, ...] = ("resnet50",)
    within_source_dataset: str = "ieee8023"
    within_source_backbones: tuple[str, ...] = ("resnet50",)
    # `cxr audit shortcuts` fields
    audit: dict[str, Any] = dataclasses.field(default_factory=dict)
    bootstrap: int = 1000
    # profile name -> fields laid over the above
    profiles: dict[str, Any] = dataclasses.field(default_factory=dict)
