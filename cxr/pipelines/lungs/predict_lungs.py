"""`cxr lungs predict` and `cxr lungs evaluate`: apply a trained lung segmenter to a manifest.

**predict** writes a mask for every row without a usable one (no ``lung_mask_path``, or one
flagged earlier; with ``overwrite`` also rows whose mask cxr predicted before), at the
radiograph's own size (:func:`cxr.lungs.lung_model.to_image_frame`), as 0/255 PNG, each
written atomically under ``out/masks/`` (``<stem>-<hash8>.png``; a rerun reuses the files
already there, so an interrupted run resumes). Every mask is cleaned and checked
(:mod:`cxr.lungs.plausibility`): a plausible one fills ``lung_mask_path`` with
``lung_mask_source=predicted``; an implausible one goes to ``out/masks/flagged/``, its row
keeps no lung mask and ``lung_mask_flag`` says why, so the consumers fall back to the box.
Rows that had a mask keep it and their source. ``out/manifest.csv`` is the input manifest
with those columns filled; ``out/predict.json`` counts what happened per collection.

**evaluate** scores the model on a manifest's reference masks (see
:mod:`.lungs_data` for which masks count as a reference) - an external set it never saw.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr.config import LungsConfig
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.runguard import safe_point


@dataclass
class PredictResult:
    manifest: Path
    summary: dict[str, Any]


def _model(cfg: LungsConfig, checkpoint: str | Path) -> tuple[Any, Any, LungsConfig]:
    """The network, its info, and ``cfg`` with the model's image size and resize mode."""
    import dataclasses

    from cxr.lungs.lung_model import load_lung_model
    from cxr.runtime.device import resolve_device

    net, info = load_lung_model(checkpoint, map_location=resolve_device(cfg.device))
    return net, info, dataclasses.replace(cfg, image_size=info.image_size,
                                          resize_mode=info.resize_mode)


def run_lungs_evaluate(cfg: LungsConfig, *, checkpoint: str | Path, manifest: str | Path,
                       out_dir: str | Path, split: str = "all",
                       progress: bool = True) -> dict[str, Any]:
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.lungs.lungs_data import load_pairs, reference_rows, with_sources
    from cxr.pipelines.lungs.lungs_scoring import score_set
    from cxr.runtime.errors import ManifestError

    if split not in ("train", "val", "test", "all"):
        raise ConfigError(f"--split must be train, val, test or all, got {split!r}")
    net, info, cfg = _model(cfg, checkpoint)
    df = with_sources(load_manifest(manifest))
    if split != "all":
        df = df[df["split"].astype(str) == split]
    ref, source = reference_rows(df[df["_mask_source"] != ""])
    if ref.empty:
        raise ManifestError(f"{manifest}: no reference lung masks (manual, phantom or of "
                            f"unknown source) in split {split}")
    images, masks = load_pairs(ref, cfg, progress=progress)
    out = Path(out_dir)
    res = score_set(net, ref, images, masks, cfg, mode=info.resize_mode, name="evaluate",
                    source=source, out_dir=out)
    res.update(checkpoint=str(checkpoint), manifest=str(manifest), split=split)
    atomic_write_text(out / "scores.json", json.dumps(res, indent=2))
    return res


def _key(path: str, content_hash: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("_")[:60] or "image"
    h = content_hash[:8] if content_hash else hashlib.sha1(path.encode()).hexdigest()[:8]
    return f"{stem}-{h}"


def run_lungs_predict(cfg: LungsConfig, *, checkpoint: str | Path, manifest: str | Path,
                      out_dir: str | Path, progress: bool = True) -> PredictResult:
    """Write predicted masks and ``out/manifest.csv``; see the module docstring."""
    from cxr.data.images.imageio import read_image_u8, write_png
    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.data.regions import lung_mask_sources
    from cxr.lungs.lung_model import predict_probs, to_image_frame
    from cxr.lungs.plausibility import check_mask, clean_mask
    from cxr.pipelines.lungs.lungs_scoring import rules_of
    from cxr.runtime.progress import make_progress

    net, info, cfg = _model(cfg, checkpoint)
    df = load_manifest(manifest)
    sources = lung_mask_sources(df)
    for col in ("lung_mask_path", "lung_mask_source", "lung_mask_flag"):
        df[col] = df[col].fillna("").astype(str) if col in df.columns else ""
    todo = [i for i, s in enumerate(sources)
            if s == "" or (cfg.overwrite and s == "predicted")]
    out = Path(out_dir)
    (out / "masks" / "flagged").mkdir(parents=True, exist_ok=True)
    rules = rules_of(cfg)
    outcome: dict[int, str] = {}
    chunk = 64
    with make_progress(disable=not progress) as bar:
        task = bar.add_task("predicting lung masks", total=len(todo))
        for s in range(0, len(todo), chunk):
            safe_point()  # SIGTERM/SIGINT: stop between chunks; masks written so far are kept
            rows = todo[s : s + chunk]
            keys = [_key(str(df["image_path"].iat[i]), str(df["content_hash"].iat[i]))
                    for i in rows]
            need = [i for i, k in zip(rows, keys, strict=True)
                    if not (out / "masks" / f"{k}.png").is_file()
                    and not (out / "masks" / "flagged" / f"{k}.png").is_file()]
            probs = (dict(zip(need, predict_probs(net, _images(df, need, cfg, info)),
                              strict=True)) if need else {})
            for i, k in zip(rows, keys, strict=True):
                if i in probs:
                    img_h, img_w = _size(df, i)
                    full = to_image_frame(probs[i], img_h, img_w, info.resize_mode)
                    mask = clean_mask(full, info.threshold)
                else:  # written by an earlier (interrupted) run
                    done = out / "masks" / f"{k}.png"
                    done = done if done.is_file() else out / "masks" / "flagged" / f"{k}.png"
                    mask = read_image_u8(done) > 127
                flag = check_mask(mask, rules).flag
                path = out / "masks" / ("flagged" if flag else "") / f"{k}.png"
                if i in probs:
                    write_png(path, mask.astype(np.uint8) * 255)
                outcome[i] = flag
                df.at[i, "lung_mask_flag"] = flag
                df.at[i, "lung_mask_path"] = "" if flag else str(path.resolve())
                df.at[i, "lung_mask_source"] = "" if flag else "predicted"
                bar.advance(task)
    for i, kept in enumerate(sources):  # rows that kept their mask: record its source
        if i not in outcome and kept:
            df.at[i, "lung_mask_source"] = kept
    path = out / "manifest.csv"
    save_manifest(df, path)
    summary = _summary(df, sources, outcome, checkpoint, manifest)
    atomic_write_text(out / "predict.json", json.dumps(summary, indent=2))
    return PredictResult(path, summary)


def _size(df: Any, i: int) -> tuple[int, int]:
    from cxr.data.images.imageio import read_image_u8

    h, w = int(df["height"].iat[i]), int(df["width"].iat[i])
    if h > 0 and w > 0:
        return h, w
    shape = read_image_u8(str(df["image_path"].iat[i])).shape
    return int(shape[0]), int(shape[1])


def _images(df: Any, rows: list[int], cfg: LungsConfig, info: Any) -> np.ndarray:
    from cxr.data.images.preprocess import load_preprocessed

    size = info.image_size
    if not rows:
        return np.zeros((0, size, size), np.uint8)
    return np.stack([load_preprocessed(str(df["image_path"].iat[i]), size, info.resize_mode)
                     for i in rows])


def _summary(df: Any, sources: list[str], outcome: dict[int, str], checkpoint: Any,
             manifest: Any) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {}
    reasons: dict[str, int] = {}
    for i, ds in enumerate(df["dataset"].astype(str)):
        d = by.setdefault(ds, {"images": 0, "had_mask": 0, "predicted": 0, "flagged": 0})
        d["images"] += 1
        if i not in outcome:
            d["had_mask"] += 1 if sources[i] else 0
        elif outcome[i]:
            d["flagged"] += 1
            for r in outcome[i].split(";"):
                key = re.sub(r"[\d.]+", "N", r)
                reasons[key] = reasons.get(key, 0) + 1
        else:
            d["predicted"] += 1
    return {"checkpoint": str(checkpoint), "manifest": str(manifest), "by_dataset": by,
            "flag_reasons": reasons}


def predict_table(res: PredictResult) -> Any:
    from rich.table import Table

    t = Table(title="cxr lungs predict: lung fields per collection")
    for col in ("dataset", "images", "had a mask", "predicted", "flagged (not used)"):
        t.add_column(col, justify="left" if col == "dataset" else "right")
    for ds, d in res.summary["by_dataset"].items():
        t.add_row(ds, str(d["images"]), str(d["had_mask"]), str(d["predicted"]),
                  str(d["flagged"]))
    for reason, n in sorted(res.summary["flag_reasons"].items()):
        t.add_row(f"  flag: {reason}", "", "", "", str(n))
    return t
