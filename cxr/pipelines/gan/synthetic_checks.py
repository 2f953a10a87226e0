"""Synthetic-data audit of `cxr gan eval`: every figure beside a real-image baseline.

FID/KID and label preservation do not say whether GAN images carry a
fingerprint, copy their training set, or collapsed to a few modes. Sets (real
rows only; at most ``audit_images`` each, drawn at random):
``S`` synthetic; ``T`` real target-class images (``T_train``: the train split
the GAN saw, ``T_held``: val + test); the GAN's source classes likewise.

* **separability**: a probe classifier (:mod:`cxr.classifier.probe`) trained
  to tell ``S`` from ``T`` on 70 % of the patients, AUROC on the rest; near 1.0
  = a fingerprint a downstream model can exploit ("synthetic = COVID").
  Baseline: the same probe telling two patient-disjoint halves of ``T`` apart
  (about 0.5), at the same sample size.
* **memorisation**: each synthetic image's nearest GAN-training image (train
  split of the source and target classes, its own source patient excluded):
  feature distance and SSIM; baseline: the same for held-out real images.
  A synthetic image is flagged as a copy when its SSIM is >= ``copy_ssim`` and
  it lies nearer to a training image than every held-out real image does.
* **diversity**: mean pairwise MS-SSIM within ``S`` and within ``T`` (equal n).
* **precision / recall / density / coverage** (Naeem et al., ICML 2020) of
  ``S`` against half of ``T``; baseline: the other half of ``T`` against it.
* **train on synthetic, test on real** (TSTR; Esteban et al., 2017): a probe
  trained with ``S`` as the only positives (real train negatives), tested on
  held-out real images; baseline: the same with ``T_train`` as positives.
* **FID/KID at equal sample size**: synthetic vs ``T_held``, real source vs
  ``T_held``, and ``T_train`` vs ``T_held`` (two real samples of one class),
  each set subsampled to the same ``n``, repeated; mean and spread.

Features: the evaluation's feature space (x-ray classifier or Inception);
without one, a randomly initialised resnet18 (random embeddings rank
generative models sensibly: Naeem et al. 2020, sec. 5), said in the output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from cxr.classifier.probe import group_holdout, predict_probe, train_probe
from cxr.cyclegan import synthetic_metrics as am
from cxr.stats.auroc import auroc_ci

if TYPE_CHECKING:
    import pandas as pd

    from cxr.config import GanAuditConfig

HOLDOUT = 0.3


class _Sets:
    """Image sets at one size, loaded once, with patient ids."""

    def __init__(self, load: Callable[[list[str]], np.ndarray], cfg: GanAuditConfig) -> None:
        self.load, self.cfg = load, cfg
        self.rng = np.random.default_rng(cfg.seed)

    def take(self, rows: pd.DataFrame, limit: int | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                         pd.DataFrame]:
        """At most ``limit`` random rows: ``(images, patient ids, rows)``."""
        limit = self.cfg.audit_images if limit is None else limit
        if len(rows) > limit:
            rows = rows.iloc[np.sort(self.rng.choice(len(rows), limit, replace=False))]
        imgs = self.load(rows["image_path"].astype(str).tolist())
        return imgs, rows["patient_id"].astype(str).to_numpy(), rows


def _probe_auroc(a: np.ndarray, pa: np.ndarray, b: np.ndarray, pb: np.ndarray,
                 cfg: GanAuditConfig) -> dict[str, Any]:
    """Held-out AUROC of a probe telling ``a`` (1) from ``b`` (0), patient-level split."""
    imgs = np.concatenate([a, b])
    y = np.r_[np.ones(len(a)), np.zeros(len(b))].astype(np.int64)
    pids = np.r_[np.char.add("a:", pa.astype(str)), np.char.add("b:", pb.astype(str))]
    held = np.r_[group_holdout(pa, HOLDOUT, cfg.seed), group_holdout(pb, HOLDOUT, cfg.seed + 1)]
    model = train_probe(imgs[~held], y[~held], n_classes=2, backbone=cfg.probe_backbone,
                        epochs=cfg.probe_epochs, batch_size=cfg.probe_batch_size,
                        lr=cfg.probe_lr, seed=cfg.seed)
    p = predict_probe(model, imgs[held])[:, 1]
    return {**auroc_ci(y[held] == 1, p, pids[held].tolist(), n_boot=cfg.bootstrap,
                       seed=cfg.seed), "n_train": int((~held).sum())}


def _halves(pids: np.ndarray, seed: int) -> np.ndarray:
    """Patient-disjoint halves of a set: True for the first half."""
    return group_holdout(pids, 0.5, seed)


def separability(s: np.ndarray, ps: np.ndarray, t: np.ndarray, pt: np.ndarray,
                 cfg: GanAuditConfig) -> dict[str, Any]:
    half = _halves(pt, cfg.seed)
    n = min(len(s), int(half.sum()), int((~half).sum()))
    if n < 4:
        return {"skipped": f"too few images ({len(s)} synthetic, {len(t)} real target)"}
    a, b = np.flatnonzero(half)[:n], np.flatnonzero(~half)[:n]
    return {"n_per_set": n,
            "synthetic_vs_real": _probe_auroc(s[:n], ps[:n], t[a], pt[a], cfg),
            "baseline_real_vs_real": _probe_auroc(t[a], pt[a], t[b], pt[b], cfg)}


def memorisation(s: np.ndarray, fs: np.ndarray, s_src: np.ndarray, ref: np.ndarray,
                 fref: np.ndarray, pref: np.ndarray, held: np.ndarray, fheld: np.ndarray,
                 cfg: GanAuditConfig) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    syn = am.nearest_training(fs, fref, s, ref, query_patients=s_src, ref_patients=pref,
                              k=cfg.nearest_k)
    base = am.nearest_training(fheld, fref, held, ref, k=cfg.nearest_k) if len(held) else None
    floor = float(np.min(base["distance"])) if base is not None else 0.0
    copies = (syn["ssim"] >= cfg.copy_ssim) & (syn["distance"] < floor if base is not None
                                               else syn["distance"] <= 1e-9)

    def stats(d: dict[str, np.ndarray]) -> dict[str, Any]:
        return {"n": int(len(d["distance"])),
                "median_distance": float(np.median(d["distance"])),
                "min_distance": float(np.min(d["distance"])),
                "median_ssim": float(np.nanmedian(d["ssim"])),
                "max_ssim": float(np.nanmax(d["ssim"]))}

    out = {"reference": f"{len(ref)} GAN-training images (train split, source and target "
                        "classes; a synthetic image's own source patient excluded)",
           "synthetic": stats(syn), "baseline_heldout_real": stats(base) if base else None,
           "copy_rule": f"SSIM >= {cfg.copy_ssim} to a feature-nearest training image and "
                        "nearer to the training set than every held-out real image "
                        f"(distance < {floor:.4g})",
           "copies": int(copies.sum()), "copy_share": float(copies.mean())}
    return out, {**syn, "copies": copies}


def _equal(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n]


def diversity(s: np.ndarray, t: np.ndarray, cfg: GanAuditConfig) -> dict[str, Any]:
    n = min(len(s), len(t))
    syn = am.mean_pairwise_ms_ssim(_equal(s, n), pairs=cfg.ms_ssim_pairs, seed=cfg.seed)
    real = am.mean_pairwise_ms_ssim(_equal(t, n), pairs=cfg.ms_ssim_pairs, seed=cfg.seed)
    out = {"n_per_set": n, "synthetic": syn, "baseline_real_target": real}
    if syn.get("scales", 5) < 5:
        out["note"] = (f"MS-SSIM with {syn['scales']} scale(s) at {syn['image_size']} px "
                       "(5 scales need > 160 px); compare only within one size")
    return out


def coverage(fs: np.ndarray, ft: np.ndarray, pt: np.ndarray, cfg: GanAuditConfig) -> dict:
    half = _halves(pt, cfg.seed)
    n = min(len(fs), int(half.sum()), int((~half).sum()))
    if n < 3:
        return {"skipped": "too few images for density/coverage"}
    a, b = ft[np.flatnonzero(half)[:n]], ft[np.flatnonzero(~half)[:n]]
    return {"n_per_set": n, "synthetic": am.prdc(a, fs[:n], k=cfg.nearest_k),
            "baseline_real_vs_real": am.prdc(a, b, k=cfg.nearest_k)}


def tstr(s: np.ndarray, ps: np.ndarray, t_train: np.ndarray, pt_train: np.ndarray,
         neg: np.ndarray, pneg: np.ndarray, test: np.ndarray, ptest: np.ndarray,
         ytest: np.ndarray, cfg: GanAuditConfig) -> dict[str, Any]:
    n = min(len(s), len(t_train))
    if n < 2 or len(neg) < 2 or len(set(ytest.tolist())) < 2:
        return {"skipped": "needs synthetic and real train positives, real train negatives "
                           "and held-out real images of both classes"}

    def run(pos: np.ndarray) -> dict[str, Any]:
        x = np.concatenate([pos[:n], neg])
        y = np.r_[np.ones(n), np.zeros(len(neg))].astype(np.int64)
        model = train_probe(x, y, n_classes=2, backbone=cfg.probe_backbone,
                            epochs=cfg.probe_epochs, batch_size=cfg.probe_batch_size,
                            lr=cfg.probe_lr, seed=cfg.seed)
        p = predict_probe(model, test)[:, 1]
        return auroc_ci(ytest, p, ptest.tolist(), n_boot=cfg.bootstrap, seed=cfg.seed)

    return {"n_positives": n, "n_negatives": int(len(neg)), "n_test": int(len(test)),
            "train_on_synthetic": run(s), "baseline_train_on_real": run(t_train)}


def matched_fid(feats: dict[str, torch.Tensor], cfg: GanAuditConfig) -> dict[str, Any]:
    ref = feats["real_target_heldout"]
    others = {k: v for k, v in feats.items() if k != "real_target_heldout" and len(v) >= 2}
    n = min([len(ref), *(len(v) for v in others.values())])
    if n < 2 or "synthetic" not in others:
        return {"skipped": "fewer than 2 images in a set"}
    out: dict[str, Any] = {"n": n, "repeats": cfg.fid_repeats}
    for name, f in others.items():
        out[f"{name}_vs_real_target_heldout"] = am.matched_fid_kid(
            f, ref, n=n, repeats=cfg.fid_repeats, seed=cfg.seed, kid_subsets=20)
    return out


def random_features(seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Pooled features of a randomly initialised resnet18 (seeded)."""
    from cxr.classifier.factory import create_backbone

    torch.manual_seed(seed)
    net = create_backbone("resnet18", 2, pretrained="none").eval()
    return net.features


def run_synthetic_audit(
    df: pd.DataFrame, syn: pd.DataFrame, *, target: str, sources: list[str],
    extractor: Any, load: Callable[[list[str]], np.ndarray], cfg: GanAuditConfig,
    out_dir: Path | None,
) -> dict[str, Any]:
    """Every audit measure with its baseline, as one JSON-ready dict. ``load(paths)``
    returns uint8 ``(N, S, S)`` images at the evaluation size (``(0, S, S)`` for none)."""
    from cxr.data.images.intensity import to_network

    sets = _Sets(load, cfg)
    real = df[df["origin"].astype(str) == "real"]
    split, label = real["split"].astype(str), real["label"].astype(str)
    train, held = real[split == "train"], real[split.isin(["val", "test"])]
    tlab, hlab = train["label"].astype(str), held["label"].astype(str)
    s, _, srows = sets.take(syn)
    src_col = "source_patient" if "source_patient" in srows else "patient_id"
    ps: np.ndarray = srows[src_col].astype(str).to_numpy()
    t, pt, _ = sets.take(real[label == target])
    tt, ptt, _ = sets.take(train[tlab == target])
    th, _, _ = sets.take(held[hlab == target])
    sh, _, _ = sets.take(held[hlab.isin(sources)])
    ref, pref, _ = sets.take(train[tlab.isin([*sources, target])], 4 * cfg.audit_images)
    neg, pneg, _ = sets.take(train[tlab != target])
    test, ptest, trows = sets.take(held)
    fx = extractor if extractor is not None else random_features(cfg.seed)

    def feats(imgs: np.ndarray) -> torch.Tensor:
        if not len(imgs):
            return torch.zeros(0, 1, dtype=torch.float64)
        with torch.inference_mode():
            return torch.cat([fx(to_network(imgs[i : i + 32]).unsqueeze(1)).double()
                              for i in range(0, len(imgs), 32)])

    out: dict[str, Any] = {
        "features": "evaluation features" if extractor is not None else
        "random-init resnet18 (no classifier or Inception given)",
        "image_size": int(s.shape[-1]),
        "sets": {"synthetic": len(s), "real_target": len(t), "real_target_train": len(tt),
                 "real_target_heldout": len(th), "real_source_heldout": len(sh),
                 "gan_training_reference": len(ref), "heldout_real_test": len(test)},
    }
    f_s, f_t = feats(s), feats(t)
    out["separability"] = separability(s, ps, t, pt, cfg)
    held_imgs = np.concatenate([th, sh])
    mem, nn = memorisation(s, f_s.numpy(), ps, ref, feats(ref).numpy(), pref, held_imgs,
                           feats(held_imgs).numpy(), cfg)
    out["memorisation"] = mem
    out["diversity"] = diversity(s, t, cfg)
    out["coverage"] = coverage(f_s.numpy(), f_t.numpy(), pt, cfg)
    ytest = (trows["label"].astype(str) == target).to_numpy()
    out["tstr"] = tstr(s, ps, tt, ptt, neg, pneg, test, ptest, ytest, cfg)
    out["fid_kid_equal_n"] = matched_fid(
        {"synthetic": f_s, "real_source_heldout": feats(sh), "real_target_train": feats(tt),
         "real_target_heldout": feats(th)}, cfg)
    if out_dir is not None and len(ref):
        from cxr.pipelines.gan.memorisation_figure import memorisation_figure

        out["memorisation"]["figure"] = memorisation_figure(s, ref, nn,
                                                            out_dir / "memorisation.png")
    return out
