"""Config of `cxr data phantom`, `cxr data split`, `cxr data cache`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import cache_dir_setting, seed_setting, workers_setting
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class PhantomConfig:
    """Built-in synthetic chest radiographs (see cxr.phantom)."""

    patients: int = setting(200, "Number of patients.")
    seed: int = seed_setting()
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
    seed: int = seed_setting()
    near_duplicate_bits: int = setting(
        8, "Perceptual-hash distance making two images duplicate candidates."
    )
    duplicate_min_corr: float = setting(
        0.95, "Thumbnail correlation at the estimated crop that confirms a duplicate candidate."
    )
    on_conflict: str = setting(
        "exclude", "Duplicates with different labels: exclude, keep-majority or error."
    )


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Preprocessed uint8 cache (see cxr.data.images.cache)."""

    image_size: int = setting(256, "Square side in pixels.")
    resize_mode: str = setting(
        "pad", "pad (keep the aspect ratio, pad to square) or crop (centre crop)."
    )
    workers: int = workers_setting(2, what="Decoding processes")
    cache_dir: str = cache_dir_setting()
