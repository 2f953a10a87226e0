"""Config of `cxr explain` and `cxr explain progression`."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import bootstrap_setting, device_setting, seed_setting
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class ExplainConfig:
    """`cxr explain` and `cxr explain progression` (see cxr.pipelines.explain.run_explain)."""

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
    device: str = device_setting()
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
    seed: int = seed_setting(purpose="SmoothGrad noise, random-map baselines")
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


@dataclasses.dataclass(frozen=True)
class SeverityConfig:
    """`cxr explain severity` (see cxr.pipelines.explain.run_severity)."""

    checkpoint: str = setting("", "best.ckpt of a `cxr classify` run.", metavar="PATH")
    manifest: str = setting(
        "", "Manifest with severity_extent / severity_opacity columns.", metavar="PATH"
    )
    split: str = setting("all", "Manifest split, or all (every row that has a score).")
    out: str = setting("runs/severity", "Output folder.", metavar="PATH")
    batch_size: int = setting(16, "Images per batch.")
    device: str = device_setting()
    cam_layer: str = setting(
        "auto", "Grad-CAM layer: auto, last, or a stage name (as for cxr explain)."
    )
    top_fraction: float = setting(
        0.2, "Per-image region: the share of the hottest pixels kept (as cxr explain)."
    )
    involved_threshold: float = setting(
        0.5, "Common-scale region: raw map / the largest peak over the scored images at or "
        "above this.",
    )
    lung_estimate: bool = setting(
        True, "Without a lung mask, use a coarse heuristic lung estimate (counted as such)."
    )
    folds: int = setting(5, "Patient-grouped cross-validation folds of the ridge regression.")
    bootstrap: int = bootstrap_setting()
    seed: int = seed_setting(purpose="bootstrap resamples")


@dataclasses.dataclass(frozen=True)
class LocalizeConfig:
    """`cxr explain localize` (see cxr.pipelines.explain.run_localize)."""

    checkpoint: str = setting(
        "", "best.ckpt of a `cxr classify` run trained on other images.", metavar="PATH"
    )
    manifest: str = setting(
        "", "Manifest with lesion_mask_path (and lung_mask_path) columns.", metavar="PATH"
    )
    split: str = setting("all", "Manifest split, or all.")
    label: str = setting("covid", "Evaluate the images of this label that have a lesion mask.")
    method: str = setting("gradcam", "gradcam or gradcam++.")
    out: str = setting("runs/localize", "Output folder.", metavar="PATH")
    batch_size: int = setting(16, "Images per batch.")
    device: str = device_setting()
    cam_layer: str = setting(
        "auto", "Grad-CAM layer: auto, last, or a stage name (as for cxr explain)."
    )
    threshold: str = setting(
        "top", "Region rule: top (the --top-fraction hottest pixels) or otsu (Otsu's threshold)."
    )
    top_fraction: float = setting(0.2, "Share of pixels kept by the top rule.")
    region_min_area: float = setting(0.005, "Drop regions under this fraction of the image.")
    pointing_tolerance: int = setting(0, "Pointing-game tolerance in pixels at the model's size.")
    random_maps: int = setting(16, "Seeded random smooth maps for the IoU baseline.")
    exclude_shared: bool = setting(
        False, "Drop the images that share a patient or a radiograph with the classifier's "
        "training data (counted) instead of refusing.",
    )
    bootstrap: int = bootstrap_setting()
    seed: int = seed_setting(purpose="random-map baselines, bootstrap resamples")
