"""Named albumentations pipelines for chest radiographs.

A pipeline is a list of albumentations transforms defined as data (YAML,
``configs/augment.yaml``; the same defaults ship here as
:data:`DEFAULT_PIPELINES`), built by looking each transform name up on the
albumentations module (Buslaev et al., "Albumentations: fast and flexible image
augmentations", Information 2020). There is no ``if/elif`` factory.

The defaults follow what COVID-19 chest X-ray studies use: small rotations
(<= 10-15 deg), shifts and zooms, brightness/contrast/gamma jitter, CLAHE,
mild noise and blur (e.g. Wang et al., "COVID-Net", Sci. Rep. 2020;
Waheed et al., "CovidGAN", IEEE Access 2020). Flips are excluded: anatomy is
lateralised (heart on the left), so a mirrored film is not a plausible patient
(dextrocardia is rare). Horizontal flip is opt-in (``hflip=True``); vertical
flips, transposes and 90-degree rotations are refused.

Input and output are ``uint8`` (S, S) grey images of the same size (the cache
convention of :mod:`cxr.data.images.intensity`). Use :class:`ArrayTransform` to get
the array -> array callable that ``XrayDataset(transform=...)`` expects.

Note on workers: an albumentations ``Compose`` built with a seed carries its own
generator; each DataLoader worker gets a copy with the same state. Call
:func:`reseed` from ``worker_init_fn`` (e.g. with ``seed + 1000 * epoch + worker``)
so workers do not repeat each other's draws.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import yaml

from cxr.runtime.errors import ConfigError

#: Pipelines as data: name -> list of ``{TransformName: params}``. Mirrored by
#: ``configs/augment.yaml`` (tests/test_augment_pipelines.py keeps them equal).
DEFAULT_PIPELINES: dict[str, list[dict[str, dict[str, Any]]]] = {
    "none": [],
    "light": [
        {"Affine": {"rotate": [-5, 5], "translate_percent": [-0.03, 0.03],
                    "scale": [0.95, 1.05], "border_mode": 0, "fill": 0, "p": 0.5}},
        {"RandomBrightnessContrast": {"brightness_limit": 0.1, "contrast_limit": 0.1, "p": 0.5}},
    ],
    "standard": [
        {"Affine": {"rotate": [-10, 10], "translate_percent": [-0.06, 0.06],
                    "scale": [0.9, 1.1], "border_mode": 0, "fill": 0, "p": 0.7}},
        {"RandomBrightnessContrast": {"brightness_limit": 0.15, "contrast_limit": 0.15, "p": 0.5}},
        {"RandomGamma": {"gamma_limit": [85, 115], "p": 0.3}},
        {"CLAHE": {"clip_limit": [1.0, 2.0], "tile_grid_size": [8, 8], "p": 0.2}},
        {"GaussNoise": {"std_range": [0.005, 0.02], "p": 0.2}},
        {"GaussianBlur": {"blur_limit": 0, "sigma_limit": [0.3, 0.8], "p": 0.1}},
    ],
    "strong": [
        {"Affine": {"rotate": [-15, 15], "translate_percent": [-0.1, 0.1],
                    "scale": [0.85, 1.15], "border_mode": 0, "fill": 0, "p": 0.9}},
        {"RandomBrightnessContrast": {"brightness_limit": 0.25, "contrast_limit": 0.25, "p": 0.7}},
        {"RandomGamma": {"gamma_limit": [70, 130], "p": 0.5}},
        {"CLAHE": {"clip_limit": [1.0, 4.0], "tile_grid_size": [8, 8], "p": 0.3}},
        {"GaussNoise": {"std_range": [0.01, 0.04], "p": 0.3}},
        {"GaussianBlur": {"blur_limit": 0, "sigma_limit": [0.3, 1.2], "p": 0.2}},
    ],
}

#: Pixel-sized parameters are written for this image side and scaled linearly.
REFERENCE_SIZE = 256
_SIZE_SCALED_PARAMS: dict[str, tuple[str, ...]] = {"GaussianBlur": ("sigma_limit",)}

#: Transforms that mirror or rotate anatomy out of plausibility.
_FORBIDDEN = frozenset(
    {"HorizontalFlip", "VerticalFlip", "Flip", "Transpose", "RandomRotate90", "D4",
     "SquareSymmetry"}
)


def load_pipeline_specs(path: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Pipeline definitions from a YAML file, or the built-in defaults if ``path`` is None."""
    if path is None:
        return copy.deepcopy(DEFAULT_PIPELINES)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"augment config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"augment config {path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"augment config {path}: expected a mapping name -> list of transforms")
    for name, steps in loaded.items():
        if not isinstance(steps, list):
            raise ConfigError(f"augment config {path}: pipeline '{name}' must be a list")
    return loaded


def pipeline_names(path: str | Path | None = None) -> list[str]:
    """Valid pipeline names (from ``path`` or the defaults)."""
    return list(load_pipeline_specs(path))


def _build_step(step: Any, pipeline: str, scale: float) -> A.BasicTransform:
    if not (isinstance(step, Mapping) and len(step) == 1):
        raise ConfigError(
            f"augment pipeline '{pipeline}': each step must be {{TransformName: {{params}}}}, "
            f"got {step!r}"
        )
    ((tname, params),) = step.items()
    params = dict(params or {})
    if tname in _FORBIDDEN:
        raise ConfigError(
            f"augment pipeline '{pipeline}': {tname} is not allowed on chest X-rays "
            "(anatomy is lateralised); use hflip=True to opt in to horizontal flips"
        )
    cls = getattr(A, str(tname), None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        raise ConfigError(
            f"augment pipeline '{pipeline}': '{tname}' is not an albumentations transform"
        )
    for key in _SIZE_SCALED_PARAMS.get(tname, ()):
        if key in params:
            val = params[key]
            params[key] = [v * scale for v in val] if isinstance(val, list) else val * scale
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"augment pipeline '{pipeline}': bad parameters for {tname}: {first}") \
            from None


def build_pipeline(
    name: str,
    image_size: int,
    seed: int | None = None,
    *,
    hflip: bool = False,
    config_path: str | Path | None = None,
) -> A.Compose:
    """Build the named pipeline for (``image_size``, ``image_size``) uint8 grey images.

    ``seed`` seeds the Compose's generator (same seed -> same augmentations).
    ``hflip=True`` appends ``HorizontalFlip(p=0.5)`` (off by default, see module doc).
    ``config_path`` reads definitions from a YAML file instead of the defaults.
    Raises ``ConfigError`` for an unknown name (listing valid ones) or a bad definition.
    """
    specs = load_pipeline_specs(config_path)
    if name not in specs:
        raise ConfigError(f"unknown augment pipeline '{name}' (valid: {', '.join(specs)})")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ConfigError(f"augment image_size must be an integer >= 8, got {image_size!r}")
    scale = image_size / REFERENCE_SIZE
    transforms = [_build_step(step, name, scale) for step in specs[name]]
    if hflip:
        transforms.append(A.HorizontalFlip(p=0.5))
    return A.Compose(transforms, seed=seed)


def reseed(pipeline: A.Compose, seed: int) -> None:
    """Give ``pipeline`` a fresh generator (call in each DataLoader worker / epoch)."""
    pipeline.set_random_seed(int(seed))


class ArrayTransform:
    """``uint8 (S, S) -> uint8 (S, S)`` callable around a Compose (picklable for workers)."""

    def __init__(self, pipeline: A.Compose, image_size: int) -> None:
        self.pipeline = pipeline
        self.image_size = image_size

    def __call__(self, image: np.ndarray) -> np.ndarray:
        expected = (self.image_size, self.image_size)
        if image.dtype != np.uint8 or image.shape != expected:
            raise ValueError(
                f"augment expects uint8 {expected} images, got {image.dtype} {image.shape}"
            )
        out = self.pipeline(image=np.ascontiguousarray(image))["image"]
        return np.asarray(out, dtype=np.uint8).reshape(expected)
