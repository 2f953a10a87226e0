"""The GAN arms: CycleGAN translations into COVID-19 from two source domains.

* ``children`` (the seed paper's pairing): Kermany normals and pneumonias, pediatric images,
  translated into the adult COVID-19 images of the other collections;
* ``adult``: the non-COVID images of the adult collections (ieee8023, Hannover).

Each arm is ``cxr gan train`` on the study's train patients only (a manifest keeping only the
arm's source collections for the source domain; lineage recorded and checked by the GAN
stage), ``cxr gan synth`` from train images (:func:`cxr.pipelines.ablate.split_inputs.
train_and_synth`, which resumes a killed GAN from its epoch checkpoint), then ``cxr gan eval``
with the synthetic-data audit: FID/KID against held-out real COVID-19 (features of the
study's real-only reference classifier, as the sweeps do), label preservation, the
fingerprint probe, memorisation, density/coverage, and a figure of 16 source/translation
pairs. :func:`cue_verdict` says in words whether the translations are told apart from real
COVID-19 images, i.e. carry age or source cues rather than only disease signs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from cxr.config import AblateConfig, GanAuditConfig, GanConfig, StudyConfig, build_config
from cxr.runtime.errors import ConfigError

PAIRS = 16


def arm_manifest(cfg: StudyConfig, arm: str, split: Path, out: Path) -> Path:
    """The split's rows a GAN arm may see: COVID-19 from every collection, its sources."""
    from cxr.data.manifest import load_manifest, save_manifest

    spec = cfg.gan_arms.get(arm)
    if not isinstance(spec, dict) or not spec.get("source_datasets"):
        raise ConfigError(f"gan_arms.{arm}: needs source_datasets (and source labels)")
    df = load_manifest(split, check_files=False)
    label, dataset = df["label"].astype(str), df["dataset"].astype(str)
    sources = [str(s) for s in spec.get("source", ("normal", "pneumonia"))]
    keep = (label == "covid") | (label.isin(sources)
                                 & dataset.isin([str(d) for d in spec["source_datasets"]]))
    part = df[keep]
    n_src = int(((part["split"] == "train") & part["label"].isin(sources)).sum())
    if n_src == 0:
        raise ConfigError(f"gan_arms.{arm}: no train image of {', '.join(sources)} in "
                          f"{', '.join(spec['source_datasets'])}")
    return save_manifest(part, out)


def gan_config(cfg: StudyConfig, arm: str) -> GanConfig:
    spec = cfg.gan_arms[arm]
    fields = {"image_size": cfg.image_size, "accelerator": cfg.accelerator, "seed": cfg.seed,
              "workers": 0, **cfg.gan,
              "source": tuple(spec.get("source", ("normal", "pneumonia"))), "target": "covid"}
    return build_config(GanConfig, None, **fields)


def train_arm(cfg: StudyConfig, arm: str, split: Path, arm_dir: Path,
              console: Console) -> dict[str, Any]:
    """Train and synthesise one arm; returns its synthetic manifest and GAN run."""
    from cxr.pipelines.ablate.split_inputs import train_and_synth

    manifest = arm_manifest(cfg, arm, split, arm_dir / "gan-manifest.csv")
    sweep = AblateConfig(manifest=str(split), synthetic=(0.0, *cfg.ratios))
    syn = train_and_synth(sweep, gan_config(cfg, arm), manifest, arm_dir, cfg.seed, console)
    return {"synthetic_manifest": str(syn), "gan_manifest": str(manifest),
            "gan_run": str(arm_dir / "train")}


def evaluate_arm(cfg: StudyConfig, arm: str, trained: dict[str, Any], reference_ckpt: str,
                 arm_dir: Path) -> dict[str, Any]:
    """`cxr gan eval` with the audit, the 16-pair figure and the cue verdict."""
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.gan.difference_figures import write_gan_figures
    from cxr.pipelines.gan.gan_eval import run_gan_eval

    audit = build_config(GanAuditConfig, None, **{"seed": cfg.seed, **cfg.gan_audit})
    res = run_gan_eval(manifest=trained["gan_manifest"],
                       synthetic_manifest=trained["synthetic_manifest"],
                       out_dir=arm_dir / "eval", classifier=reference_ckpt or None,
                       progress=False, audit=audit)
    syn = load_manifest(trained["synthetic_manifest"], check_files=False)
    figures, note = write_gan_figures(syn, arm_dir / "pairs", n_examples=PAIRS)
    metrics = json.loads(json.dumps(res.metrics, default=str))
    return {"arm": arm, "sources": cfg.gan_arms[arm], "metrics": metrics,
            "warnings": list(res.warnings) + ([note] if note else []),
            "pairs_figure": str(arm_dir / "pairs" / figures["difference"]) if figures else "",
            "verdict": cue_verdict(arm, metrics)}


def cue_verdict(arm: str, m: dict[str, Any]) -> str:
    """One plain sentence: do the translations look like real COVID-19, or like their source?"""
    parts = []
    sep = ((m.get("audit") or {}).get("separability") or {}).get("synthetic_vs_real") or {}
    val, lo = sep.get("auroc"), sep.get("ci_low")
    if val is not None and lo is not None:
        if float(lo) > 0.5:
            parts.append(f"a probe tells the {arm} translations from real COVID-19 images "
                         f"(AUROC {float(val):.2f}, CI low {float(lo):.2f}): they keep cues of "
                         "their source (age, collection) rather than only acquiring disease signs")
        else:
            parts.append(f"a probe does not tell the {arm} translations from real COVID-19 "
                         f"images (AUROC {float(val):.2f}, CI low {float(lo):.2f})")
    syn = (m.get("synthetic_vs_real_target") or {}).get("fid")
    src = (m.get("real_source_vs_real_target") or {}).get("fid")
    if syn is not None and src is not None:
        closer = "closer to" if float(syn) < float(src) else "no closer to"
        parts.append(f"FID to held-out real COVID-19 {float(syn):.1f} vs {float(src):.1f} for "
                     f"the untranslated sources: the translation moved them {closer} COVID-19")
    lp = m.get("label_preservation")
    if lp is not None:
        parts.append(f"the real-only reference classifier calls {100 * float(lp):.0f} % of them "
                     "COVID-19")
    return "; ".join(parts) + "." if parts else "no measure available (see warnings)."
