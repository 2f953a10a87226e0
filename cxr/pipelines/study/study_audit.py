"""The study's shortcut audit: `cxr audit shortcuts` on its split, with real lung fields.

The lung-field masks are the collections' own (attached by ``cxr data index`` with
``lung_mask_source``: manual or dataset-model masks of ieee8023). With ``lung_model`` (a
``cxr lungs train`` model) the ``lungs`` stage first runs ``cxr lungs predict`` on the split,
so every image without a collection mask gets a predicted one (``lung_mask_source=predicted``;
implausible masks are flagged and fall back to the box). Images with no usable mask fall back
to the audit's central box, and the audit says how many of each kind it used, per collection.
The masking probes and Grad-CAM energy read the study's real-only reference classifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cxr.config import AuditConfig, StudyConfig, build_config


def audit_config(cfg: StudyConfig) -> AuditConfig:
    fields = {"image_size": cfg.image_size, "seed": cfg.seed, "views": cfg.views,
              "bootstrap": cfg.bootstrap, "workers": 0,
              "device": "cuda" if cfg.accelerator == "gpu" else "cpu", **cfg.audit}
    return build_config(AuditConfig, None, **fields)


def lung_model_key(cfg: StudyConfig) -> list[str]:
    """The ``lungs`` stage's identity: the model file's content hash (a retrained model at the
    same path is a new stage), or ``[]`` without a model."""
    from cxr.runtime.errors import ConfigError
    from cxr.runtime.files import sha256_file

    if not cfg.lung_model:
        return []
    path = Path(cfg.lung_model)
    if not path.is_file():
        raise ConfigError(f"--lung-model {path}: no such file (a `cxr lungs train` lungs.pt)")
    return [str(path.resolve()), sha256_file(path)]


def predict_lung_fields(cfg: StudyConfig, split: Path, out: Path) -> dict[str, Any]:
    """``cxr lungs predict`` with ``cfg.lung_model`` on the split: ``{"manifest", "summary"}``."""
    from cxr.config import LungsConfig
    from cxr.pipelines.lungs.predict_lungs import run_lungs_predict

    lcfg = build_config(LungsConfig, None, workers=0,
                        device="cuda" if cfg.accelerator == "gpu" else "cpu")
    res = run_lungs_predict(lcfg, checkpoint=cfg.lung_model, manifest=split, out_dir=out,
                            progress=False)
    return {"manifest": str(res.manifest), "summary": res.summary}


def run_audit(cfg: StudyConfig, split: Path, checkpoint: str, out: Path) -> dict[str, Any]:
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.audit.shortcuts import run_shortcut_audit

    res = run_shortcut_audit(audit_config(cfg), manifest=split, out_dir=out,
                             checkpoint=checkpoint or None, progress=False)
    df = load_manifest(split, check_files=False)
    src = (df["lung_mask_source"].fillna("").astype(str) if "lung_mask_source" in df
           else None)
    masks = {} if src is None else {k or "none (central box)": int(v)
                                    for k, v in src.value_counts().items()}
    a = res.audit
    return {"dir": str(out), "verdict": a["verdict"], "lung_masks": masks,
            "source_probe": a.get("source_probe"), "confounding": a.get("confounding"),
            "masking": {k: v for k, v in (a.get("masking") or {}).items()
                        if k in ("applicable", "reason", "lungs_hidden", "border_only",
                                 "full", "classifier")},
            "lung_field": a.get("lung_field"),
            "source_gap": a.get("source_gap")}
