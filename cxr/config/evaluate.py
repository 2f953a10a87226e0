"""Config of `cxr evaluate`: a finished checkpoint scored on any manifest."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import cache_dir_setting, device_setting, workers_setting
from cxr.config.schema import setting


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
    device: str = device_setting()
    workers: int = workers_setting(0)
    cache_dir: str = cache_dir_setting()
    on_copies: str = setting(
        "exclude", "Evaluated images that copy training/validation images: exclude (list them "
        "in copies.csv, leave them out, go on) or refuse.",
    )
    trust_gan_lineage: bool = setting(
        False, "Accept GAN images in the run whose checkpoint has no record of its training "
        "patients (the metrics then say the GAN lineage was not verified).",
    )
