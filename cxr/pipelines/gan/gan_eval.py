"""`cxr gan eval`: how real and how on-target are the synthetic images?

(Over 300 lines: four measurements of one synthetic set sharing its loading and the
feature extractors; the figures are in :mod:`.figures`.)

* **FID / KID** (Heusel et al. 2017; Bińkowski et al. 2018) of synthetic vs
  real *held-out* (val + test, real-origin) target images, next to the
  baseline real source vs real target, in one of two feature spaces:
  ``inception`` - the standard InceptionV3 pool features (torch-fidelity
  weights ``pt_inception-2015-12-05-6726825d.pth``, loaded from a local file
  only), or ``xray`` - the penultimate features of a classifier trained on
  real radiographs (``--classifier``; FID in a domain feature space, as
  argued by Kynkäänniemi et al., ICLR 2023, that ImageNet features can
  mislead), or ``txv:NAME[=PATH]`` - the pooled features of torchxrayvision's chest X-ray
  DenseNet-121 / ResNet-50 (Cohen et al., MIDL 2022; a file the user placed, see
  :mod:`cxr.classifier.txv_weights`), independent of the classifier under study, at the
  weights' own resolution.
* **Label preservation**: share of synthetic images that the real-image
  classifier assigns to the target class.
* **Lesion-region change**: mean intensity change inside vs outside the
  expected COVID-19 region (lower, peripheral lungs) from the source's lung
  mask (:mod:`cxr.cyclegan.fid_kid`).
* **Difference figures** (with ``out_dir``): ``difference.png`` and
  ``mean_difference.png``, synthetic - source of the unaugmented outputs
  (:mod:`cxr.pipelines.gan.difference_figures`); file names recorded under ``figures``.

Writes ``eval.json`` and prints a summary table.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr.config import GanAuditConfig
from cxr.runtime.errors import CheckpointError, ConfigError, ManifestError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.runguard import safe_point

__all__ = ["INCEPTION_FILE", "EvalResult", "eval_table", "find_inception_weights", "run_gan_eval"]

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
MIN_STABLE_FID = 2000  # below this FID is strongly biased (Chong & Forsyth, CVPR 2020)


@dataclass
class EvalResult:
    out_dir: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_inception_weights(explicit: str | Path | None = None) -> Path:
    """The local InceptionV3 file, or a one-line error saying where to put it."""
    import torch

    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    for cand in ([Path(explicit)] if explicit else []) + [hub]:
        if cand.is_file():
            return cand
    raise CheckpointError(
        f"InceptionV3 weights not found: put {INCEPTION_FILE} (torch-fidelity release) in "
        f"{hub.parent} or pass --inception-weights PATH (or use --features xray)"
    )


def _inception_extractor(weights: Path) -> Any:
    import torch
    from torch import nn
    from torchmetrics.image.fid import NoTrainInceptionV3

    from cxr.data.images.intensity import from_network

    class InceptionFeatures(nn.Module):
        num_features = 2048

        def __init__(self) -> None:
            super().__init__()
            self.net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["2048"],
                feature_extractor_weights_path=str(weights),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(from_network(x).expand(-1, 3, -1, -1).contiguous()).reshape(len(x), -1)

    return InceptionFeatures()


def _xray_extractor(classifier: Any) -> Any:
    from torch import nn

    class ClassifierFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = classifier

        def forward(self, x: Any) -> Any:
            return self.model.features(x)

    return ClassifierFeatures().eval()


def _txv_extractor(spec: str, inputs: dict[str, Any]) -> tuple[Any, int, str]:
    """torchxrayvision features (extractor, its input size, the spec without a path).

    The network is cxr's backbone initialised from the file (:mod:`cxr.classifier.txv_weights`),
    so it reads cxr's ``[-1, 1]`` input; images are loaded at the weights' resolution, where
    its features equal torchxrayvision's own. The file and its sha256 go into ``inputs``.
    """
    from cxr.classifier.factory import create_backbone
    from cxr.classifier.txv_weights import parse_txv

    weights = parse_txv(spec)
    net = create_backbone(weights.backbone, 1, pretrained=spec).eval()
    report = net.load_report
    inputs["feature_weights"] = {"spec": weights.spec, "file": report.file,
                                 "sha256": report.sha256}
    return _xray_extractor(net), weights.resolution, weights.spec


def _load_images(paths: list[str], size: int, mode: str) -> Any:
    import numpy as np

    from cxr.data.images.preprocess import load_preprocessed

    return np.stack([load_preprocessed(p, size, mode) for p in paths]) if paths else None


def _run_batches(fn: Any, images: Any, batch: int = 32) -> Any:
    import torch

    from cxr.data.images.intensity import to_network

    out = []
    with torch.inference_mode():
        for s in range(0, len(images), batch):
            out.append(fn(to_network(images[s : s + batch]).unsqueeze(1)).float())
            safe_point()  # SIGTERM/SIGINT: stop between feature batches
    return torch.cat(out)


def _synthetic_rows(synthetic: Path) -> Any:
    from cxr.data.manifest import load_manifest

    path = synthetic / "manifest.csv" if synthetic.is_dir() else synthetic
    syn = load_manifest(path)
    syn = syn[syn["origin"] == "gan"]
    if syn.empty:
        raise ManifestError(f"{path}: no rows with origin=gan")
    return syn.reset_index(drop=True)


def run_gan_eval(
    *,
    manifest: str | Path,
    synthetic_manifest: str | Path,
    out_dir: str | Path | None = None,
    features: str = "auto",
    classifier: str | Path | None = None,
    inception_weights: str | Path | None = None,
    kid_subsets: int = 100,
    progress: bool = True,
    audit: GanAuditConfig | None = None,
) -> EvalResult:
    """FID/KID, label preservation and lesion-region change of synthetic images; with
    ``audit``, the synthetic-data audit (:mod:`cxr.pipelines.gan.synthetic_checks`)
    under ``audit``."""
    from cxr.data.manifest import load_manifest

    if features not in ("auto", "inception", "xray") and not features.startswith("txv:"):
        raise ConfigError(
            f"--features must be inception, xray, txv:NAME or auto (got {features!r})"
        )
    df = load_manifest(manifest)
    syn = _synthetic_rows(Path(synthetic_manifest))
    target = str(syn["label"].iat[0])
    res = EvalResult(out_dir=Path(out_dir) if out_dir else None)
    m = res.metrics
    m["n_synthetic"] = len(syn)
    m["target"] = target
    m["inputs"] = {  # what was evaluated (the report groups evaluations by these)
        "manifest": str(Path(manifest).resolve()),
        "synthetic_manifest": str(
            (Path(synthetic_manifest) / "manifest.csv" if Path(synthetic_manifest).is_dir()
             else Path(synthetic_manifest)).resolve()
        ),
        "classifier": None if classifier is None else str(Path(classifier).resolve()),
    }
    src_paths = set(syn["source_image"].astype(str)) if "source_image" in syn else set()
    src_rows = df[df["image_path"].isin(src_paths)]
    sources = sorted(set(src_rows["label"])) or ["normal"]
    m["source"] = sources
    held = df[df["split"].isin(["val", "test"]) & (df["origin"] == "real")]
    real_t = held[held["label"] == target]
    real_s = held[held["label"].isin(sources)]
    m["n_real_target_heldout"], m["n_real_source_heldout"] = len(real_t), len(real_s)

    model = info = None
    if classifier is not None:
        from cxr.classifier.checkpoint import load_classifier

        model, info = load_classifier(classifier)
    kind = features
    if kind == "auto":
        kind = "xray" if model is not None else "inception"
    extractor, size, mode = None, int(syn["width"].iat[0]) or 256, "pad"
    try:
        if kind == "inception":
            extractor = _inception_extractor(find_inception_weights(inception_weights))
        elif kind.startswith("txv:"):
            extractor, size, kind = _txv_extractor(kind, m["inputs"])
        elif model is None or info is None:
            raise ConfigError(
                "--features xray needs --classifier CKPT (a classifier on real images)"
            )
        else:
            extractor, size, mode = _xray_extractor(model), info.image_size, info.resize_mode
    except CheckpointError as exc:
        if features != "auto":
            raise
        res.warnings.append(f"FID/KID skipped: {exc}")
    m["features"] = kind if extractor is not None else None

    syn_imgs = _load_images(syn["image_path"].tolist(), size, mode)
    if extractor is not None:
        _feature_metrics(res, extractor, syn_imgs, real_t, real_s, size, mode, kid_subsets)
    if model is not None:
        _label_preservation(res, model, info, syn, target)
    _region_metrics(res, syn, df)
    if audit is not None:
        import numpy as np

        from cxr.pipelines.gan.synthetic_checks import run_synthetic_audit

        def load(paths: list[str]) -> Any:
            imgs = _load_images(paths, size, mode)
            return imgs if imgs is not None else np.zeros((0, size, size), np.uint8)

        m["audit"] = run_synthetic_audit(df, syn, target=target, sources=sources,
                                         extractor=extractor, load=load, cfg=audit,
                                         out_dir=res.out_dir)
    if res.out_dir is not None:
        from cxr.pipelines.gan.difference_figures import write_gan_figures

        res.out_dir.mkdir(parents=True, exist_ok=True)
        figures, note = write_gan_figures(syn, res.out_dir)
        if figures is not None:
            m["figures"] = figures
        if note:
            res.warnings.append(note)
        payload = {**m, "warnings": res.warnings}
        atomic_write_text(res.out_dir / "eval.json", json.dumps(payload, indent=2))
    return res


def _feature_metrics(
    res: EvalResult,
    extractor: Any,
    syn_imgs: Any,
    real_t: Any,
    real_s: Any,
    size: int,
    mode: str,
    kid_subsets: int,
) -> None:
    from cxr.cyclegan.fid_kid import fid_kid

    if len(real_t) < 2:
        res.warnings.append("FID/KID skipped: fewer than 2 held-out real target images")
        return
    f_syn = _run_batches(extractor, syn_imgs)
    f_t = _run_batches(extractor, _load_images(real_t["image_path"].tolist(), size, mode))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res.metrics["synthetic_vs_real_target"] = fid_kid(f_t, f_syn, kid_subsets=kid_subsets)
        if len(real_s) >= 2:
            f_s = _run_batches(extractor, _load_images(real_s["image_path"].tolist(), size, mode))
            res.metrics["real_source_vs_real_target"] = fid_kid(f_t, f_s, kid_subsets=kid_subsets)
    n_min = min(len(real_t), len(syn_imgs))
    if n_min < MIN_STABLE_FID:
        res.warnings.append(
            f"FID from {n_min} images per set is biased, unstable (>= {MIN_STABLE_FID} advised); "
            "compare only numbers computed with the same sample sizes"
        )


def _label_preservation(res: EvalResult, model: Any, info: Any, syn: Any, target: str) -> None:
    import torch

    from cxr.classifier.tasks import TASKS

    imgs = _load_images(syn["image_path"].tolist(), info.image_size, info.resize_mode)
    logits = _run_batches(model, imgs)
    classes = list(info.classes)
    target_class = TASKS.get(info.task, {}).get(target, target)
    if target_class not in classes:
        res.warnings.append(
            f"label preservation skipped: classifier classes {classes} lack {target}"
        )
        return
    k = classes.index(target_class)
    probs = torch.softmax(logits, dim=1) if logits.shape[1] > 1 else torch.sigmoid(logits)
    if info.threshold is not None and len(classes) == 2:
        pred_target = probs[:, k] >= (info.threshold if k == 1 else 1 - info.threshold)
    else:
        pred_target = probs.argmax(dim=1) == k
    res.metrics["label_preservation"] = float(pred_target.float().mean())
    res.metrics["mean_p_target"] = float(probs[:, k].mean())


def _region_metrics(res: EvalResult, syn: Any, df: Any) -> None:
    import numpy as np

    from cxr.cyclegan.fid_kid import region_change
    from cxr.cyclegan.translate import apply_augmentation
    from cxr.data.images.preprocess import load_preprocessed
    from cxr.pipelines.gan.difference_figures import unaugmented

    if "source_image" not in syn or "lung_mask_path" not in syn:
        res.warnings.append("lesion-region change skipped: no source images / lung masks recorded")
        return
    inside, outside = [], []
    for _, r in syn[unaugmented(syn)].iterrows():
        if not isinstance(r["lung_mask_path"], str) or not r["lung_mask_path"]:
            continue  # augmented sources (filtered above) are displaced relative to their mask
        size = int(r["width"])
        src = apply_augmentation(load_preprocessed(r["source_image"], size, "pad"), -1)
        lung = load_preprocessed(r["lung_mask_path"], size, "pad") > 127
        out = region_change(src, load_preprocessed(r["image_path"], size, "pad"), lung)
        if out is not None:
            inside.append(out[0])
            outside.append(out[1])
    if not inside:
        res.warnings.append("lesion-region change skipped: no unaugmented outputs with lung masks")
        return
    res.metrics["lesion_region"] = {
        "n_images": len(inside),
        "mean_change_inside": float(np.mean(inside)),
        "mean_change_outside": float(np.mean(outside)),
        "inside_minus_outside": float(np.mean(inside) - np.mean(outside)),
    }


def eval_table(res: EvalResult) -> Any:
    from rich.table import Table

    from cxr.runtime.fmt import fmt_num, fmt_pm

    m = res.metrics
    t = Table(title=f"CycleGAN evaluation ({m.get('features') or 'no'} features)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("synthetic images", str(m["n_synthetic"]))
    t.add_row(
        f"held-out real {m['target']} / {','.join(m['source'])}",
        f"{m['n_real_target_heldout']} / {m['n_real_source_heldout']}",
    )
    for key, label in (
        ("synthetic_vs_real_target", "synthetic vs real target"),
        ("real_source_vs_real_target", "real source vs real target (baseline)"),
    ):
        if key in m:
            d = m[key]
            t.add_row(f"FID {label}", fmt_num(d["fid"]))
            t.add_row(f"KID {label}", fmt_pm(d["kid_mean"], d["kid_std"]))
    if "label_preservation" in m:
        t.add_row("label preservation (classified as target)", fmt_num(m["label_preservation"]))
    if "lesion_region" in m:
        lr = m["lesion_region"]
        t.add_row("mean change inside lesion region", fmt_num(lr["mean_change_inside"]))
        t.add_row("mean change outside (rest of lungs)", fmt_num(lr["mean_change_outside"]))
    if "audit" in m:
        from cxr.pipelines.gan.synthetic_checks_summary import audit_rows

        for measure, syn, base, _ in audit_rows(m["audit"]):
            t.add_row(measure, f"{syn}  (real: {base})" if base else syn)
    return t
