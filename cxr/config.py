"""Configuration: YAML -> frozen dataclass -> CLI overrides -> saved in the run dir.

(Over 300 lines on purpose: every stage's dataclass sits in this one file so that each
option is declared once, with its default and help, and is found in one place.)

Every stage has one frozen dataclass. Its field defaults are the built-in
defaults; ``configs/<stage>.yaml`` mirrors them (a test keeps the two in step).
Resolution order, later wins:

1. the dataclass defaults,
2. a YAML file (``--config``), which may set any subset of fields,
3. CLI options that the user actually passed (``None`` means "not given").

The resolved config is written as ``config.yaml`` in every run directory so a
run can be reproduced from its folder alone.

Unknown keys and wrong types fail with a message naming the key.

A field the CLI exposes is declared with :func:`setting`, which records its help
text (and any extra CLI spelling) as field metadata; ``cxr.commands.options``
builds the typer option from it, so an option's default and help are written once,
here. This module stays cheap to import (no yaml until a file is read or written)
because ``cxr --help`` reads these declarations.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from cxr.errors import ConfigError
from cxr.fsutil import atomic_write_text

T = TypeVar("T")


def setting(
    default: Any,
    help: str,
    *,
    cli: str | tuple[str, ...] = (),
    metavar: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A config field that the CLI exposes: ``epochs: int = setting(20, "Maximum epochs.")``.

    ``help`` is the option's help text (the CLI appends the default; do not write it
    here); ``cli`` is a documented spelling used instead of ``--<field-name>`` (e.g.
    ``--with-synthetic`` for ``synthetic_ratio``); ``metavar`` overrides the type label;
    ``aliases`` are old key names still accepted in YAML files and on the command line.
    """
    meta: dict[str, Any] = {"help": help, "cli": (cli,) if isinstance(cli, str) else cli}
    if metavar is not None:
        meta["metavar"] = metavar
    if aliases:
        meta["aliases"] = aliases
    if isinstance(default, (dict, list)):
        copy = type(default)
        return dataclasses.field(default_factory=lambda: copy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------- data stage
@dataclasses.dataclass(frozen=True)
class PhantomConfig:
    """Built-in synthetic chest radiographs (see cxr.data.phantom)."""

    patients: int = setting(200, "Number of patients.")
    seed: int = setting(0, "Random seed.")
    image_size: int = setting(256, "Square side in pixels.")
    # class mix by patient; COVID the minority as in real collections
    mix_normal: float = 0.45
    mix_bacterial: float = 0.2
    mix_viral: float = 0.2
    mix_covid: float = 0.15
    # share of patients that get several studies over time (progression)
    longitudinal_fraction: float = 0.15
    max_studies: int = 5


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Patient-level, label-stratified split (see cxr.data.split)."""

    val: float = setting(0.15, "Validation fraction of patients.")
    test: float = setting(0.15, "Test fraction of patients.")
    seed: int = setting(0, "Random seed.")
    near_duplicate_bits: int = setting(
        8, "Perceptual-hash distance making two images duplicate candidates."
    )
    duplicate_min_corr: float = setting(
        0.96, "Aligned thumbnail correlation that confirms a duplicate candidate."
    )
    on_conflict: str = setting(
        "exclude", "Duplicates with different labels: exclude, keep-majority or error."
    )


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Preprocessed uint8 cache (see cxr.data.cache)."""

    image_size: int = setting(256, "Square side in pixels.")
    resize_mode: str = setting(
        "pad", "pad (keep the aspect ratio, pad to square) or crop (centre crop)."
    )
    workers: int = setting(2, "Decoding processes.")
    cache_dir: str = setting(".cxr-cache", "Cache folder.", metavar="PATH")


# ----------------------------------------------------------------- GAN stage
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
    seed: int = setting(0, "Random seed.")
    # Lightning passthrough
    precision: str = setting("32-true", "Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    accelerator: str = setting("auto", "Lightning accelerator: auto, cpu, gpu.")
    devices: str = setting("1", "Lightning devices: a count, a list such as 0,1, or auto.")
    strategy: str = setting("auto", "Lightning strategy, e.g. ddp.")
    compile: bool = setting(False, "torch.compile the networks.")
    workers: int = setting(
        0, "DataLoader workers (0 = the main process).", aliases=("num_workers",)
    )
    # monitoring: images per side in the per-epoch grid
    sample_images: int = 4
    cache_dir: str = setting(".cxr-cache", "Image cache folder.", metavar="PATH")
    cache_workers: int = 2
    logger: str = setting(
        "tensorboard",
        "Run tracking beside the CSV log: csv, tensorboard or mlflow.",
    )
    mlflow_uri: str = setting(
        "", "MLflow tracking URI; empty = the file store OUT/mlruns.", metavar="URI"
    )


# ------------------------------------------------------- sweeps, demo
@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of classify runs with paired statistics (see cxr.experiments.sweep.run)."""

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
        "others, tested on the held-out one (cxr.data.folds).",
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
    bootstrap: int = setting(1000, "Paired bootstrap resamples (by patient).")
    confidence: float = 0.95
    logger: str = setting(
        "tensorboard",
        "csv or tensorboard: each cell's run tracking; mlflow: every finished cell becomes an "
        "MLflow run (config as params, test metrics, curves).",
    )
    mlflow_uri: str = setting(
        "", "MLflow tracking URI; empty = the file store OUT/mlruns.", metavar="URI"
    )


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """`cxr demo`: phantoms -> split -> GAN -> synth -> small sweep -> explain -> report.

    The full run sweeps VGG16, ResNet50 and EfficientNet-B0 from scratch: about 48 minutes on
    2 AVX2 cores (docs/benchmarks.md); ``fast`` shrinks it to a smoke test of about a minute.
    The sweep part mirrors ``configs/sweeps/demo.yaml``.
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


# ------------------------------------------------------------ explain
@dataclasses.dataclass(frozen=True)
class ExplainConfig:
    """`cxr explain` and `cxr explain progression` (see cxr.experiments.explain.run)."""

    checkpoint: str = setting("", "best.ckpt of a `cxr classify` run.", metavar="PATH")
    manifest: str = setting("", "Manifest CSV with the images.", metavar="PATH")
    split: str = setting("test", "Manifest split, or all.")
    images: tuple[str, ...] = setting(
        (), "Image file or folder (repeatable) instead of a split.", metavar="PATH"
    )
    method: str = setting("gradcam", "gradcam, gradcam++, saliency or smoothgrad.")
    engine: str = setting(
        "fast", "CAM engine: fast (batched on the device) or library (pytorch-grad-cam)."
    )
    target: str = setting("predicted", "Explained class: predicted, or a class name.")
    cam_layer: str = setting(
        "auto",
        "Grad-CAM layer: auto (the last stage, or the deepest finer stage with at least 7 cells "
        "a side when the last one is coarser), last, or a stage name (e.g. layer3).",
    )
    out: str = setting("runs/explain", "Output folder.", metavar="PATH")
    batch_size: int = setting(16, "Images per batch.")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N.")
    lung_masks: str = setting(
        "", "Folder of <image stem>.png lung masks (else the manifest's).", metavar="PATH"
    )
    lesion_masks: str = setting(
        "", "Folder of <image stem>.png lesion masks (else the manifest's).", metavar="PATH"
    )
    # coarse localization (per image; not progression)
    threshold: str = setting(
        "top", "Region rule: top (the --top-fraction hottest pixels) or otsu (Otsu's threshold)."
    )
    top_fraction: float = setting(0.2, "Share of pixels kept by the top rule.")
    regions: str = setting("contour", "Draw regions as contour or box.")
    # the scores then use the smoothed map as displayed
    region_sigma: float = setting(
        0.02,
        "saliency/smoothgrad: Gaussian blur before regions and scores, sigma as a fraction "
        "of the image side; 0 disables.",
    )
    region_min_area: float = setting(0.005, "Drop regions under this fraction of the image.")
    pointing_tolerance: int = 0  # pixels (Zhang et al. use 15 at 224 px)
    random_maps: int = 16  # seeded random smooth maps for the IoU baseline
    smooth_samples: int = 16  # SmoothGrad noise samples
    smooth_sigma: float = 0.15  # SmoothGrad noise, fraction of the input range
    max_per_sheet: int = 36  # tiles per contact sheet
    seed: int = setting(0, "Seed (SmoothGrad noise, random-map baselines).")
    # progression
    patient: str = setting("", "Patient id (full, or the part after 'dataset:').")
    all_patients: bool = setting(False, "Every patient with more than one study.", cli="--all")
    lung_estimate: bool = setting(
        True, "Without a lung mask, use a coarse heuristic lung estimate (labelled as such)."
    )
    involved_threshold: float = setting(
        0.5,
        "Involved region: raw map / the patient's largest peak (common scale) at or above this.",
    )


# ------------------------------------------------------ classifier
@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    """`cxr classify` (see cxr.experiments.classify.run); mirrored by configs/classify.yaml."""

    manifest: str = setting("", "Split manifest of real images.", metavar="PATH")
    synthetic_manifest: str = setting(
        "", "Manifest of GAN images (origin=gan), training only.", metavar="PATH"
    )
    backbone: str = setting(
        "efficientnet_b0",
        "vgg16, resnet18, resnet50, efficientnet_b0, densenet121, squeezenet1_1 or inception_v3.",
    )
    pretrained: str = setting("none", "none, imagenet, or the PATH of a state dict.")
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
    workers: int = setting(2, "DataLoader workers (0 = the main process).")
    cache_dir: str = ".cxr-cache"
    seed: int = setting(0, "Random seed.")
    external: tuple[str, ...] = setting(
        (),
        "External test set NAME=MANIFEST (repeatable): evaluated at the validation threshold, "
        "leakage-checked against training, never trained on.",
        metavar="NAME=PATH",
    )
    logger: str = setting(
        "tensorboard",
        "Run tracking beside the CSV log: csv, tensorboard or mlflow.",
    )
    mlflow_uri: str = setting(
        "", "MLflow tracking URI; empty = the file store OUT/mlruns.", metavar="URI"
    )
    trust_gan_lineage: bool = setting(
        False, "Accept GAN images whose checkpoint has no record of its training patients "
        "(every output then says the GAN lineage was not verified).",
    )


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """`cxr evaluate`: a trained classifier on any manifest, without retraining."""

    checkpoint: str = setting("", "best.ckpt of a `cxr classify` run.", metavar="PATH")
    manifest: str = setting("", "Manifest of the images to evaluate.", metavar="PATH")
    split: str = setting("test", "Rows to evaluate: test, val, train or all.")
    out: str = setting(
        "runs/evaluate", "Output directory (metrics.json, predictions, plots).", metavar="PATH"
    )
    batch_size: int = setting(
        0, "Inference batch size; 0 = the run's (reproduces its metrics)."
    )
    bootstrap: int = setting(-1, "Patient-bootstrap resamples for the CIs; -1 = the run's.")
    seed: int = setting(-1, "Bootstrap seed; -1 = the run's.")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N.")
    workers: int = setting(0, "DataLoader workers (0 = the main process).")
    cache_dir: str = setting(".cxr-cache", "Image cache folder.", metavar="PATH")
    trust_gan_lineage: bool = setting(
        False, "Accept GAN images in the run whose checkpoint has no record of its training "
        "patients (the metrics then say the GAN lineage was not verified).",
    )


# ------------------------------------------------------------------ audits
@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """`cxr audit shortcuts` (see cxr.experiments.audit.shortcuts)."""

    positive: str = setting("covid", "Class the masking probes score.")
    image_size: int = setting(128, "Probe image size in pixels (a --checkpoint brings its own).")
    resize_mode: str = setting("pad", "pad (keep the aspect ratio, pad to square) or crop.")
    backbone: str = setting("resnet18", "Probe backbone, random init.")
    epochs: int = setting(6, "Probe training epochs.")
    batch_size: int = setting(32, "Probe batch size.")
    lr: float = setting(1e-3, "Probe learning rate.")
    seed: int = setting(0, "Random seed (probe training, holdouts, bootstrap).")
    bootstrap: int = setting(1000, "Patient-bootstrap resamples for the AUROC intervals.")
    box_margin: float = setting(
        0.12, "Lung field without masks: the central box inside this margin (fraction of side)."
    )
    border_width: float = setting(0.10, "Border band kept by the border-only probe (fraction).")
    max_per_dataset: int = setting(0, "Images per collection, drawn at random; 0 = all.")
    cam_images: int = setting(64, "Test images explained with Grad-CAM (with --checkpoint).")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N.")
    cache_dir: str = setting(".cxr-cache", "Image cache folder.", metavar="PATH")
    workers: int = setting(2, "Image decoding processes.")


@dataclasses.dataclass(frozen=True)
class GanAuditConfig:
    """Synthetic-data audit of `cxr gan eval` (see cxr.experiments.gan.audit)."""

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
    bootstrap: int = setting(1000, "Audit: patient-bootstrap resamples for AUROC intervals.")
    seed: int = setting(0, "Audit: random seed.")


# ------------------------------------------------------------------ machinery
def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check and convert a YAML/CLI value to the annotated field type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return str(value)
    return value


def build_config(cls: type[T], yaml_path: str | Path | None = None, **overrides: Any) -> T:
    """Resolve a stage config: dataclass defaults <- YAML file <- overrides.

    Overrides whose value is ``None`` are ignored (the CLI uses ``None`` for
    "option not given"), so YAML values survive unless the user overrides them.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    # old key names a field still accepts (setting(..., aliases=...))
    renamed = {a: f.name for f in dataclasses.fields(cls) for a in f.metadata.get("aliases", ())}
    values: dict[str, Any] = {}
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        for key, val in loaded.items():
            key = renamed.get(key, key)
            if key not in names:
                raise ConfigError(
                    f"config file {path}: unknown key '{key}' for {cls.__name__} "
                    f"(valid: {', '.join(sorted(names))})"
                )
            values[key] = _coerce(val, hints[key], key)
    for key, val in overrides.items():
        key = renamed.get(key, key)
        if val is None:
            continue
        if key not in names:
            raise ConfigError(f"unknown option '{key}' for {cls.__name__}")
        values[key] = _coerce(val, hints[key], key)
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict (tuples become lists) suitable for YAML/JSON."""
    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def save_config(cfg: Any, run_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config into a run directory (atomically)."""
    import yaml

    out = Path(run_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return out


def load_saved_config(cls: type[T], run_dir: str | Path, name: str = "config.yaml") -> T:
    """Reload the config saved by :func:`save_config`."""
    return build_config(cls, Path(run_dir) / name)
