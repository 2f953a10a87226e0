"""Configuration: YAML -> frozen dataclass -> CLI overrides -> saved in the run dir.

Every stage has one frozen dataclass. Its field defaults are the built-in
defaults; ``configs/<stage>.yaml`` mirrors them (a test keeps the two in step).
Resolution order, later wins:

1. the dataclass defaults,
2. a YAML file (``--config``), which may set any subset of fields,
3. CLI options that the user actually passed (``None`` means "not given").

The resolved config is written as ``config.yaml`` in every run directory so a
run can be reproduced from its folder alone.

Unknown keys and wrong types fail with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cxr.errors import ConfigError
from cxr.fsutil import atomic_write_text

T = TypeVar("T")


# ---------------------------------------------------------------- data stage
@dataclasses.dataclass(frozen=True)
class PhantomConfig:
    """Built-in synthetic chest radiographs (see cxr.data.phantom)."""

    patients: int = 200
    seed: int = 0
    image_size: int = 256
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

    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    # perceptual-hash Hamming distance at or below which two images are "the same"
    near_duplicate_bits: int = 4


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Preprocessed uint8 cache (see cxr.data.cache)."""

    image_size: int = 256
    # "pad": keep aspect ratio, pad to square; "crop": centre crop to square
    resize_mode: str = "pad"
    workers: int = 2
    cache_dir: str = ".cxr-cache"


# ----------------------------------------------------------------- GAN stage
@dataclasses.dataclass(frozen=True)
class GanConfig:
    """CycleGAN training (see cxr.cyclegan); defaults are the reference code's."""

    # domains by manifest label: A = source(s), B = target (train split, real origin only)
    source: tuple[str, ...] = ("normal",)
    target: str = "covid"
    image_size: int = 256
    resize_mode: str = "pad"
    # schedule: constant lr for `epochs`, then linear decay to zero over `epochs_decay`
    epochs: int = 100
    epochs_decay: int = 100
    # 0 = max(len(A), len(B)) / batch_size steps per epoch
    steps_per_epoch: int = 0
    batch_size: int = 1
    # networks: 0 blocks = automatic (9 above 128 px, else 6)
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 0
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
    seed: int = 0
    # Lightning passthrough
    precision: str = "32-true"
    accelerator: str = "auto"
    devices: str = "1"
    strategy: str = "auto"
    compile: bool = False
    num_workers: int = 0
    # monitoring: images per side in the per-epoch grid
    sample_images: int = 4
    cache_dir: str = ".cxr-cache"
    cache_workers: int = 2


# ------------------------------------------------------- sweeps, demo (issue 6)
@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A grid of classify runs with paired statistics (see cxr.experiments.sweep.run)."""

    manifest: str = ""
    out: str = "runs/sweep"
    backbones: tuple[str, ...] = ("vgg16", "resnet50", "efficientnet_b0")
    # share of synthetic images (ClassifyConfig.synthetic_ratio); 0 = the reference arm
    synthetic: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5)
    seeds: int = 3  # training seeds 0..seeds-1, paired across arms
    losses: tuple[str, ...] = ("ce",)
    # classical arms at ratio 0: "oversample" (balance only), "augment" (albumentations on
    # the minority class only)
    baselines: tuple[str, ...] = ()
    # empty: use the manifest's split; else re-split per seed (one GAN per split)
    split_seeds: tuple[int, ...] = ()
    shared_gan: bool = False  # one GAN for all split seeds (leaks; the report says so)
    synthetic_manifest: str = ""  # ready GAN rows instead of training a GAN here
    synth_per_split: int = 0  # GAN images per split; 0 = enough for the largest ratio
    # base configs and per-field overrides applied to every cell / the GAN
    classify_config: str = ""
    classify: dict[str, Any] = dataclasses.field(default_factory=dict)
    gan_config: str = ""
    gan: dict[str, Any] = dataclasses.field(default_factory=dict)
    # where cells run
    executor: str = "local"
    ray_address: str = ""
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    devices: str = ""  # "" = the classify config's; passed to Lightning
    strategy: str = ""  # e.g. ddp; passed to Lightning
    # statistics
    positive: str = "covid"  # class whose probability is the AUROC score
    bootstrap: int = 1000  # paired bootstrap resamples (by patient)
    confidence: float = 0.95


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """`cxr demo`: phantoms -> split -> GAN -> synth -> small sweep -> explain -> report.

    Sized to finish in under 15 minutes on 2 CPU cores; ``fast`` shrinks it for smoke tests.
    The sweep part mirrors ``configs/sweeps/demo.yaml``.
    """

    out: str = "demo"
    fast: bool = False
    patients: int = 400
    image_size: int = 64
    seed: int = 0
    gan_epochs: int = 30
    gan_ngf: int = 16
    gan_ndf: int = 16
    gan_blocks: int = 3
    # resnet18 trains from scratch in seconds at 64 px; efficientnet_b0 needs far more
    # epochs there (measured test AUROC 0.38-0.78 after 4 epochs), so it is left out
    backbones: tuple[str, ...] = ("resnet18",)
    synthetic: tuple[float, ...] = (0.0, 0.3, 0.5)
    seeds: int = 3
    baselines: tuple[str, ...] = ("oversample", "augment")
    classify_epochs: int = 4
    explain_images: int = 0  # test images to explain; 0 = the whole test split
    # Grad-CAM (the literature's method) and input-gradient saliency: at the demo's 64 px the
    # last conv layer is a 2x2 grid, too coarse for Grad-CAM to localize (explain says so)
    explain_methods: tuple[str, ...] = ("gradcam", "saliency")


# ------------------------------------------------------------ explain (issue 5)
@dataclasses.dataclass(frozen=True)
class ExplainConfig:
    """`cxr explain` and `cxr explain progression` (see cxr.experiments.explain.run)."""

    checkpoint: str = ""
    manifest: str = ""
    split: str = "test"  # a manifest split, or "all"
    images: tuple[str, ...] = ()  # explain these files instead of a manifest split
    method: str = "gradcam"  # gradcam | gradcam++ | saliency | smoothgrad
    engine: str = "fast"  # CAM methods: fast (batched on the device) | library (pytorch-grad-cam)
    target: str = "predicted"  # explained class: "predicted" or a class name
    out: str = "runs/explain"
    batch_size: int = 16
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    lung_masks: str = ""  # folder of <image stem>.png lung masks (else the manifest's)
    lesion_masks: str = ""  # folder of <image stem>.png lesion masks (else the manifest's)
    # coarse localization (per image; not progression): "top" keeps the top_fraction hottest
    # pixels, "otsu" Otsu's threshold
    threshold: str = "top"
    top_fraction: float = 0.2
    regions: str = "contour"  # contour | box
    # saliency / smoothgrad only: Gaussian blur (sigma, fraction of the image side) before
    # regions are taken; the scores then use the smoothed map as displayed. 0 disables
    region_sigma: float = 0.02
    region_min_area: float = 0.005  # regions under this fraction of the image are dropped
    pointing_tolerance: int = 0  # pixels (Zhang et al. use 15 at 224 px)
    random_maps: int = 16  # seeded random smooth maps for the IoU baseline
    smooth_samples: int = 16  # SmoothGrad noise samples
    smooth_sigma: float = 0.15  # SmoothGrad noise, fraction of the input range
    max_per_sheet: int = 36  # tiles per contact sheet
    seed: int = 0
    # progression
    patient: str = ""
    all_patients: bool = False
    lung_estimate: bool = True  # no lung mask: use the coarse heuristic estimate (labelled)
    # involved region: raw map / the patient's largest peak (common scale) >= this level
    involved_threshold: float = 0.5


# ------------------------------------------------------ classifier (issue 4)
@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    """`cxr classify` (see cxr.experiments.classify.run); mirrored by configs/classify.yaml."""

    manifest: str = ""  # split manifest of real images
    synthetic_manifest: str = ""  # manifest of GAN images (origin=gan), training only
    backbone: str = "efficientnet_b0"
    pretrained: str = "none"  # none | imagenet | path to a state dict
    transfer: str = "finetune"  # finetune | linear-probe | frozen-then-unfrozen
    unfreeze_epoch: int = 2  # frozen-then-unfrozen: epoch at which the body starts training
    task: str = "binary"  # binary (covid vs normal+pneumonia) | 3class
    loss: str = "ce"  # ce | weighted-ce | focal
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25  # weight of the covid class; < 0 disables
    # --with-synthetic r: GAN images are a share r of the COVID draws (G = R r / (1 - r))
    synthetic_ratio: float = 0.0
    augment: str = "standard"  # albumentations pipeline: none | light | standard | strong
    aug_share: float = 0.3  # share of real training draws that are augmented
    aug_scope: str = "all"  # classes aug_share applies to: all | minority (docs/mixing.md)
    balance: str = "none"  # none | oversample | class-weights
    image_size: int = 224
    resize_mode: str = "pad"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.0003
    weight_decay: float = 0.0001
    patience: int = 5  # early stopping on validation AUROC
    target_sensitivity: float = 0.9  # binary: threshold chosen on validation at this sensitivity
    bootstrap: int = 1000  # bootstrap resamples (by patient) for the test CIs
    precision: str = "32-true"  # Lightning precision, e.g. 16-mixed, bf16-mixed
    accelerator: str = "auto"
    devices: str = "auto"  # Lightning devices: auto, 1, 2, "0,1"
    strategy: str = "auto"  # Lightning strategy, e.g. ddp
    workers: int = 2  # DataLoader workers (0 = main process)
    cache_dir: str = ".cxr-cache"
    seed: int = 0
    # external test sets "NAME=MANIFEST": evaluated at the validation threshold, never trained on
    external: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """`cxr evaluate`: a trained classifier on any manifest, without retraining."""

    checkpoint: str = ""  # best.ckpt of a `cxr classify` run
    manifest: str = ""
    split: str = "test"  # a manifest split (train | val | test) or "all"
    out: str = "runs/evaluate"
    batch_size: int = 0  # 0 = the checkpoint's (as the run evaluated its test split)
    bootstrap: int = -1  # patient-bootstrap resamples; -1 = the checkpoint's
    seed: int = -1  # bootstrap seed; -1 = the checkpoint's
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    workers: int = 0  # DataLoader workers
    cache_dir: str = ".cxr-cache"


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
    values: dict[str, Any] = {}
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        for key, val in loaded.items():
            if key not in names:
                raise ConfigError(
                    f"config file {path}: unknown key '{key}' for {cls.__name__} "
                    f"(valid: {', '.join(sorted(names))})"
                )
            values[key] = _coerce(val, hints[key], key)
    for key, val in overrides.items():
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
    out = Path(run_dir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return out


def load_saved_config(cls: type[T], run_dir: str | Path, name: str = "config.yaml") -> T:
    """Reload the config saved by :func:`save_config`."""
    return build_config(cls, Path(run_dir) / name)
