"""Data for `cxr classify`: merge real and GAN manifests, guard against leakage, build loaders.

Order of operations (each step refuses with a one-line error):

1. Load the split manifest of real images and, with ``synthetic_manifest``,
   the GAN rows (``origin=gan``; an empty split becomes ``train``).
2. :func:`cxr.data.leakage.checks.check_leakage` on the merged manifest: no patient in
   two splits, GAN rows only in train and only from train patients, duplicate
   groups within one split.
3. Map labels to the task's classes (:mod:`cxr.classifier.tasks`); rows the
   task leaves out (``other``), rows of views the ``views`` setting leaves out
   (lateral by default, :func:`cxr.data.views.view_keep`) and unsplit rows are
   dropped and counted.
4. A hard guard on the exact rows that reach the loaders: validation and test
   are real images only, and their patients are disjoint from training and
   from each other (defence in depth, independent of step 2). With GAN
   images in training, no validation or test patient (or duplicate image)
   may have trained the GAN (:mod:`cxr.data.leakage.lineage`; a GAN without a
   lineage record needs ``--trust-gan-lineage``).
   :func:`cxr.data.leakage.confounding.source_confounding` is computed on the real
   train+val+test rows the task uses (warned about, recorded in run.json).
5. The uint8 cache, the per-epoch mixing sampler (:mod:`cxr.augment.mixing`)
   and the DataLoaders.

Augmentation draws are seeded per draw from ``(seed, epoch, position)``
(NumPy ``SeedSequence``), so the augmented images are identical with any
number of DataLoader workers and after a resume.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import DataLoader

from cxr.classifier.tasks import POSITIVE, task_classes, task_targets
from cxr.runtime.errors import ConfigError, LeakageError, ManifestError

if TYPE_CHECKING:
    import pandas as pd

    from cxr.augment.mixing import EpochPlan, MixingSampler
    from cxr.config import ClassifyConfig
    from cxr.data.images.cache import ImageCache
    from cxr.data.leakage.confounding import ConfoundingReport
    from cxr.data.leakage.lineage import LineageCheck


@dataclasses.dataclass
class ClassifyData:
    """Everything the training loop needs, plus the counts a reader should see."""

    df: pd.DataFrame  # every split row, aligned with the cache (RangeIndex)
    cache: ImageCache
    classes: tuple[str, ...]
    targets: np.ndarray  # class index per df row, -1 = left out by the task
    masks: dict[str, np.ndarray]  # split -> bool mask over df rows used by the task
    left_out: dict[str, int]  # manifest label (or "<view> view") -> rows the task ignores
    unsplit: int  # rows without a split (ignored)
    sampler: MixingSampler
    first_plan: EpochPlan
    confounding: ConfoundingReport | None = None  # dataset x label over the rows used
    lineage: LineageCheck | None = None  # GAN lineage check (None: no GAN images trained on)

    @property
    def positive_index(self) -> int:
        return self.classes.index(POSITIVE)

    def rows(self, split: str) -> pd.DataFrame:
        return self.df[self.masks[split]]


def merge_manifests(cfg: ClassifyConfig) -> pd.DataFrame:
    """Real manifest + GAN manifest (origin=gan, split train) as one frame."""
    import pandas as pd

    from cxr.data.manifest import load_manifest

    if not cfg.manifest:
        raise ConfigError("no --manifest given (a split manifest from `cxr data split`)")
    real = load_manifest(cfg.manifest)
    if not cfg.synthetic_manifest:
        if cfg.synthetic_ratio > 0 and not (real["origin"] == "gan").any():
            raise ConfigError(
                f"--with-synthetic {cfg.synthetic_ratio} needs GAN images: pass "
                "--synthetic-manifest GAN_DIR/manifest.csv"
            )
        return real
    gan = load_manifest(cfg.synthetic_manifest)
    not_gan = gan["origin"] != "gan"
    if bool(not_gan.any()):
        i = int(np.flatnonzero(not_gan.to_numpy())[0])
        raise ManifestError(
            f"{cfg.synthetic_manifest}: row {i + 2} ({gan['image_path'].iat[i]}) has origin "
            f"'{gan['origin'].iat[i]}'; a synthetic manifest holds origin=gan rows only"
        )
    gan = gan.assign(split=gan["split"].where(gan["split"] != "", "train"))
    merged = pd.concat([real, gan], ignore_index=True)
    dup = merged["image_path"].duplicated()
    if bool(dup.any()):
        raise ManifestError(
            f"{merged['image_path'][dup].iat[0]} is in both --manifest and --synthetic-manifest"
        )
    return merged


def guard_eval_splits(df: pd.DataFrame, masks: dict[str, np.ndarray]) -> None:
    """Refuse unless val/test are real-only and patients never cross splits."""
    for split in ("train", "val", "test"):
        if not masks[split].any():
            raise LeakageError(f"the {split} split has no usable rows; run `cxr data split`")
    for split in ("val", "test"):
        rows = df[masks[split]]
        bad = rows[rows["origin"] != "real"]
        if len(bad):
            raise LeakageError(
                f"{split} split holds a non-real image ({bad['image_path'].iat[0]}, "
                f"origin {bad['origin'].iat[0]}); GAN images belong to training only"
            )
    patients = {s: set(df.loc[masks[s], "patient_id"]) for s in ("train", "val", "test")}
    if "source_patient" in df.columns:  # a GAN image inherits its source's patient
        gan = df[masks["train"] & (df["origin"] == "gan").to_numpy()]
        patients["train"] |= set(gan["source_patient"][gan["source_patient"] != ""])
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        both = sorted(patients[a] & patients[b])
        if both:
            raise LeakageError(
                f"patient {both[0]} is in both {a} and {b} ({len(both)} such patients); "
                "refusing to train"
            )


def prepare_data(cfg: ClassifyConfig, *, progress: bool = True) -> ClassifyData:
    """Steps 1-5 of the module docstring."""
    from cxr.augment.mixing import MixingSampler
    from cxr.data.images.cache import build_cache
    from cxr.data.leakage.checks import check_leakage
    from cxr.data.leakage.confounding import source_confounding, test_confounding_warnings
    from cxr.data.views import view_keep, views_left_out

    classes = task_classes(cfg.task)
    merged = merge_manifests(cfg)
    check_leakage(merged)
    split = merged["split"].astype(str).to_numpy()
    unsplit = int((split == "").sum())
    df = merged[split != ""].reset_index(drop=True)
    if df.empty:
        raise ManifestError(f"{cfg.manifest}: no row has a split; run `cxr data split` first")
    targets = task_targets(df["label"].to_numpy(), cfg.task)
    left = df.loc[targets < 0, "label"].value_counts()
    left_out = {str(k): int(v) for k, v in left.items()}
    # views: one rule for every stage (cxr.data.views); counted among the rows the task took
    left_out.update(views_left_out(df[targets >= 0], cfg.views))
    targets = np.where(view_keep(df, cfg.views), targets, -1)
    masks = {s: (df["split"].to_numpy() == s) & (targets >= 0) for s in ("train", "val", "test")}
    guard_eval_splits(df, masks)
    lineage = check_lineage(cfg, df, masks)
    used = masks["train"] | masks["val"] | masks["test"]
    confounding = source_confounding(df[used])
    # the test split on its own: its label may be predictable from the source even when
    # the pooled table looks mixed
    confounding.warnings += test_confounding_warnings(
        source_confounding(df[masks["test"]], scope="test split")
    )
    cache = build_cache(
        df, image_size=cfg.image_size, resize_mode=cfg.resize_mode, cache_dir=cfg.cache_dir,
        workers=max(1, cfg.workers), progress=progress,
    )
    train = df[masks["train"]]
    kwargs: dict[str, Any] = dict(
        minority=classes.index(POSITIVE), with_synthetic=cfg.synthetic_ratio,
        aug_share=cfg.aug_share if cfg.augment != "none" else 0.0, aug_scope=cfg.aug_scope,
        balance=cfg.balance, seed=cfg.seed,
    )
    sampler = MixingSampler.from_arrays(
        targets[masks["train"]], train["origin"].to_numpy().astype(str), **kwargs
    )
    return ClassifyData(df, cache, classes, targets, masks, left_out, unsplit, sampler,
                        sampler.plan_fn(0), confounding, lineage)


def check_lineage(cfg: ClassifyConfig, df: pd.DataFrame,
                  masks: dict[str, np.ndarray]) -> LineageCheck | None:
    """No validation or test patient (or duplicate image) may have trained the GAN in use.

    Only when GAN images reach training (``--with-synthetic`` > 0).
    """
    from cxr.data.leakage.lineage import check_gan_rows

    if cfg.synthetic_ratio <= 0:
        return None
    gan = df[masks["train"] & (df["origin"] == "gan").to_numpy()]
    return check_gan_rows(gan, {"validation": df[masks["val"]], "test": df[masks["test"]]},
                          source=cfg.synthetic_manifest or cfg.manifest,
                          trust=cfg.trust_gan_lineage)


def make_loaders(data: ClassifyData, cfg: ClassifyConfig) -> dict[str, DataLoader]:
    """Training loader over the mixing plan; val/test loaders in manifest order."""
    from cxr.augment.sampling import SeededDraws, SeededMixedDataset
    from cxr.augment.transforms import ArrayTransform, build_pipeline
    from cxr.data.images.dataset import XrayDataset

    def dataset(split: str, transform: Any = None) -> XrayDataset:
        m = data.masks[split]
        return XrayDataset(data.df[m], data.cache, targets=data.targets[m], transform=transform)

    pipeline = None
    augmented = None
    if cfg.augment != "none" and cfg.aug_share > 0:
        pipeline = build_pipeline(cfg.augment, cfg.image_size, seed=cfg.seed)
        augmented = dataset("train", ArrayTransform(pipeline, cfg.image_size))
    train = SeededMixedDataset(dataset("train"), augmented, pipeline)
    common: dict[str, Any] = {
        "batch_size": cfg.batch_size, "num_workers": cfg.workers,
        "persistent_workers": cfg.workers > 0,
    }
    # a last batch of one image would break BatchNorm in training: drop it then only
    lone = len(data.first_plan) % cfg.batch_size == 1 and len(data.first_plan) > 1
    return {
        "train": DataLoader(train, sampler=SeededDraws(data.sampler, cfg.seed), drop_last=lone,
                            **common),
        "val": DataLoader(dataset("val"), shuffle=False, **common),
        "test": DataLoader(dataset("test"), shuffle=False, **common),
    }
