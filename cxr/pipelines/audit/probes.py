"""The measurements of `cxr audit shortcuts`, each a function of images and manifest rows.

* :func:`source_probe`: a probe classifier (:mod:`cxr.classifier.probe`)
  trained to predict ``dataset`` from the image on a patient-level split
  (the manifest's: train vs val+test; without a usable split, 30 % of each
  collection's patients held out); macro one-vs-rest AUROC with a patient
  bootstrap interval (Zech et al., PLOS Med 2018, read the hospital from the
  image almost perfectly).
* :func:`masking_probe`: the classifier's AUROC for the positive class on the
  full images, with the lung field hidden and with only the border band kept
  (:mod:`cxr.data.regions`; DeGrave et al., Nat. Mach. Intell. 2021).
* :func:`gradcam_energy`: Grad-CAM (Selvaraju et al., ICCV 2017) energy share
  on the lung field per collection, next to the field's area share (what a
  uniform map would give); only where lung masks exist.
* :func:`source_gap`: pooled vs within-source AUROC (:mod:`cxr.stats.auroc`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.runtime.runguard import safe_point
from cxr.stats.auroc import auroc_ci, macro_auroc_ci, within_source_auroc_ci

if TYPE_CHECKING:
    import pandas as pd

    from cxr.config import AuditConfig

HOLDOUT = 0.3


@dataclass
class AuditImages:
    """Real-origin rows (RangeIndex) with their images and lung fields at one size."""

    df: pd.DataFrame
    images: np.ndarray  # uint8 (N, S, S)
    lung: np.ndarray  # bool (N, S, S): lung mask (dilated) or the central box
    lung_kind: np.ndarray  # per row: the mask's source (manual, predicted, ...) or "box"

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])


def load_images(
    df: pd.DataFrame, cfg: AuditConfig, size: int, mode: str, *, progress: bool = True
) -> AuditImages:
    """Cache ``df``'s images at ``size`` and load each row's lung field."""
    from cxr.data.images.cache import build_cache
    from cxr.data.images.preprocess import load_preprocessed
    from cxr.data.regions import field_kind, lung_field, lung_mask_sources

    df = df.reset_index(drop=True)
    cache = build_cache(df, image_size=size, resize_mode=mode, cache_dir=cfg.cache_dir,
                        workers=cfg.workers, progress=progress)
    images = np.asarray(cache.images)
    sources = lung_mask_sources(df)  # "" for no mask or a flagged (implausible) one
    lung = np.zeros(images.shape, dtype=bool)
    kinds = []
    for i, source in enumerate(sources):
        path = str(df["lung_mask_path"].iat[i]) if source else ""
        m = load_preprocessed(path, size, mode) if path else None
        lung[i], kind = lung_field(m, size, margin=cfg.box_margin)
        kinds.append(field_kind(source, kind))
    return AuditImages(df, images, lung, np.asarray(kinds, dtype=str))


def lung_field_counts(data: AuditImages, rows: np.ndarray | None = None) -> dict[str, Any]:
    """Which lung field the rows used: ``mask`` / ``box`` totals, per kind (the mask's source
    or ``box``) and per collection x kind, for the report."""
    sel = np.ones(len(data.df), dtype=bool) if rows is None else rows
    kinds = data.lung_kind[sel]
    ds = data.df["dataset"].astype(str).to_numpy()[sel]
    by_kind = {str(k): int((kinds == k).sum()) for k in sorted(set(kinds.tolist()))}
    by_ds = {str(d): {str(k): int(((ds == d) & (kinds == k)).sum())
                      for k in sorted(set(kinds[ds == d].tolist()))}
             for d in sorted(set(ds.tolist()))}
    return {"mask": int((kinds != "box").sum()), "box": int((kinds == "box").sum()),
            "by_kind": by_kind, "by_dataset": by_ds}


def probe_split(df: pd.DataFrame, key: str, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(train_mask, eval_mask, how)`` at patient level: the manifest's split when every
    ``key`` value has rows in train and in val/test, else a seeded patient holdout."""
    split = df["split"].astype(str).to_numpy()
    train, held = split == "train", np.isin(split, ["val", "test"])
    values = df[key].astype(str).to_numpy()
    if all(train[values == v].any() and held[values == v].any() for v in set(values)):
        return train, held, "the manifest's patient-level split (train vs val+test)"
    rng = np.random.default_rng(seed)
    held = np.zeros(len(df), dtype=bool)
    patients = df["patient_id"].astype(str).to_numpy()
    for v in sorted(set(values)):
        pts = np.unique(patients[values == v])
        rng.shuffle(pts)
        k = max(1, int(round(HOLDOUT * len(pts)))) if len(pts) > 1 else 0
        held |= np.isin(patients, pts[:k]) & (values == v)
    return ~held, held, f"a seeded patient holdout ({HOLDOUT:.0%} of each {key}'s patients)"


def fit_probe(cfg: AuditConfig, images: np.ndarray, y: np.ndarray, n_classes: int,
           device: Any, on_epoch: Callable[[int, float], None] | None) -> Any:
    from cxr.classifier.probe import train_probe

    return train_probe(images, y, n_classes=n_classes, backbone=cfg.backbone, epochs=cfg.epochs,
                       batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=device,
                       on_epoch=on_epoch)


def source_probe(data: AuditImages, cfg: AuditConfig, device: Any,
                 on_epoch: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Can the collection be read from the pixels? (not applicable with one collection)"""
    from cxr.classifier.probe import predict_probe

    df = data.df
    datasets = sorted(set(df["dataset"].astype(str)))
    if len(datasets) < 2:
        return {"applicable": False, "datasets": datasets,
                "reason": f"one collection ({datasets[0] if datasets else 'none'}): the source "
                          "cannot stand in for the label"}
    y = np.searchsorted(datasets, df["dataset"].astype(str).to_numpy())
    train, held, how = probe_split(df, "dataset", cfg.seed)
    if len(set(y[held])) < 2 or len(set(y[train])) < 2:
        return {"applicable": False, "datasets": datasets,
                "reason": "too few patients to hold out two collections"}
    model = fit_probe(cfg, data.images[train], y[train], len(datasets), device, on_epoch)
    probs = predict_probe(model, data.images[held])
    pids = df["patient_id"].astype(str).to_numpy()[held]
    res = macro_auroc_ci(y[held], probs, pids.tolist(), n_boot=cfg.bootstrap, seed=cfg.seed)
    res["class_counts"] = {datasets[k]: v for k, v in res["class_counts"].items()}
    return {"applicable": True, "datasets": datasets, "split": how,
            "n_train": int(train.sum()), "n_eval": int(held.sum()),
            "accuracy": round(float((probs.argmax(axis=1) == y[held]).mean()), 6),
            "image_size": data.size, "backbone": cfg.backbone, "epochs": cfg.epochs, **res}


def masked_variants(data: AuditImages, rows: np.ndarray, cfg: AuditConfig) -> dict[str, Any]:
    """``full``, ``lungs_hidden`` and ``border_only`` uint8 stacks of ``rows``."""
    from cxr.data.regions import border_band

    imgs = data.images[rows]
    band = border_band(data.size, cfg.border_width)
    fill = np.uint8(128)
    return {"full": imgs,
            "lungs_hidden": np.where(data.lung[rows], fill, imgs),
            "border_only": np.where(band[None], imgs, fill)}


def masking_probe(data: AuditImages, rows: np.ndarray, model: Any, pos: int,
                  cfg: AuditConfig) -> dict[str, Any]:
    """The classifier's AUROC for class ``pos`` on ``rows`` under the three views."""
    from cxr.classifier.probe import predict_probe

    df = data.df.iloc[np.flatnonzero(rows)]
    positive = (df["label"].astype(str) == cfg.positive).to_numpy()
    pids = df["patient_id"].astype(str).tolist()
    out: dict[str, Any] = {"n": int(rows.sum()),
                           "lung_field": lung_field_counts(data, rows),
                           "box_margin": cfg.box_margin, "border_width": cfg.border_width}
    scores = {}
    for name, imgs in masked_variants(data, rows, cfg).items():
        scores[name] = predict_probe(model, imgs)[:, pos]
        out[name] = auroc_ci(positive, scores[name], pids, n_boot=cfg.bootstrap, seed=cfg.seed)
    lo = out["full"].get("ci_low")
    out["informative"] = lo is not None and lo > 0.5
    if not out["informative"]:
        out["note"] = ("the classifier does not separate the classes on the full images either "
                       "(AUROC CI reaches 0.5), so the masked AUROCs cannot show a shortcut")
    out["_scores"] = scores  # popped by the caller (not JSON)
    return out


def gradcam_energy(data: AuditImages, rows: np.ndarray, model: Any, pos: int,
                   cfg: AuditConfig) -> dict[str, Any]:
    """Share of Grad-CAM energy on the lung field, per collection (rows with lung masks)."""
    from cxr.data.images.intensity import to_network
    from cxr.explain.cam import cam_grid, coarse_grid_note, library_cam
    from cxr.explain.scores import energy_share

    idx = np.flatnonzero(rows & (data.lung_kind != "box"))
    if idx.size == 0:
        return {"applicable": False, "reason": "no lung masks among the evaluated images"}
    rng = np.random.default_rng(cfg.seed)
    if idx.size > cfg.cam_images:
        idx = np.sort(rng.choice(idx, cfg.cam_images, replace=False))
    device = next(model.parameters()).device
    shares, areas = [], []
    for s in range(0, idx.size, 16):
        b = idx[s : s + 16]
        x = to_network(data.images[b]).unsqueeze(1).to(device)
        maps = library_cam(model, x, [pos] * len(b))
        safe_point()  # SIGTERM/SIGINT: stop between Grad-CAM batches
        for m, i in zip(maps, b, strict=True):
            shares.append(energy_share(m, data.lung[i]))
            areas.append(float(data.lung[i].mean()))
    share, area = np.asarray(shares), np.asarray(areas)
    ds = data.df["dataset"].astype(str).to_numpy()[idx]
    by: dict[str, Any] = {}
    for name in sorted(set(ds)):
        m = (ds == name) & ~np.isnan(share)
        if not m.any():
            by[name] = {"n": 0, "median_energy_share": None, "mean_area_share": None}
            continue
        kinds = data.lung_kind[idx][m]
        by[name] = {"n": int(m.sum()),
                    "median_energy_share": round(float(np.median(share[m])), 4),
                    "mean_area_share": round(float(area[m].mean()), 4),
                    "lung_field": {str(k): int((kinds == k).sum())
                                   for k in sorted(set(kinds.tolist()))}}
    return {"applicable": True, "n": int(idx.size), "by_dataset": by,
            "zero_maps": int(np.isnan(share).sum()),
            "note": coarse_grid_note(cam_grid(model, data.size), data.size)}


def source_gap(data: AuditImages, rows: np.ndarray, score: np.ndarray,
               cfg: AuditConfig) -> dict[str, Any]:
    """Pooled vs within-source AUROC of ``score`` on ``rows``."""
    df = data.df.iloc[np.flatnonzero(rows)]
    positive = (df["label"].astype(str) == cfg.positive).to_numpy()
    res = within_source_auroc_ci(positive, score, df["dataset"].astype(str).tolist(),
                                 df["patient_id"].astype(str).tolist(),
                                 n_boot=cfg.bootstrap, seed=cfg.seed)
    if not res["sources_with_both_classes"]:
        return {"applicable": False, "pooled": res["pooled"], "by_source": res["by_source"],
                "reason": f"no collection holds both {cfg.positive} and other images, so no "
                          "within-source comparison exists"}
    return {"applicable": True, **res}
