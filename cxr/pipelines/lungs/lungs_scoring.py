"""Score a lung segmenter on reference masks: Dice/IoU with patient-bootstrap CIs, failures shown.

For every scored image the prediction is cleaned and checked exactly as `cxr lungs predict`
does (:mod:`cxr.lungs.plausibility`, on the radiograph's own area inside the padded square),
then compared with the reference at the network's resolution. Results: overall, per
collection and per reference source, as means with 95 % patient-bootstrap intervals; the
per-image CSV; and a figure of the worst cases (reference outline green, prediction red).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.lungs.lung_model import content_box, predict_probs
from cxr.lungs.plausibility import PlausibilityRules, check_mask, clean_mask
from cxr.lungs.seg_metrics import bootstrap_scores, dice_iou
from cxr.runtime.files import atomic_save

if TYPE_CHECKING:
    import pandas as pd

    from cxr.config import LungsConfig


def rules_of(cfg: LungsConfig) -> PlausibilityRules:
    return PlausibilityRules(min_area=cfg.min_area, max_area=cfg.max_area,
                             min_component=cfg.min_component, min_balance=cfg.min_balance,
                             margin=cfg.edge_margin)


def cleaned_and_checked(prob: np.ndarray, h: int, w: int, cfg: LungsConfig, mode: str
                        ) -> tuple[np.ndarray, str]:
    """The cleaned ``(S, S)`` mask and its plausibility flag (checked on the image area)."""
    mask = clean_mask(prob, cfg.threshold)
    top, left, nh, nw = content_box(h, w, prob.shape[-1], mode)
    return mask, check_mask(mask[top : top + nh, left : left + nw], rules_of(cfg)).flag


def score_set(net: Any, df: pd.DataFrame, images: np.ndarray, masks: np.ndarray,
              cfg: LungsConfig, *, mode: str, name: str, source: str,
              out_dir: Path) -> dict[str, Any]:
    """Score ``net`` on rows ``df``; writes ``<name>_scores.csv`` and ``<name>_worst.png``."""
    probs = predict_probs(net, images)
    preds, flags = [], []
    heights, widths = df["height"].to_numpy(int), df["width"].to_numpy(int)
    for i, p in enumerate(probs):
        m, f = cleaned_and_checked(p, int(heights[i]), int(widths[i]), cfg, mode)
        preds.append(m)
        flags.append(f)
    pred = np.stack(preds) if preds else np.zeros_like(masks)
    dice, iou = dice_iou(pred, masks)
    pids = df["patient_id"].astype(str).tolist()
    res: dict[str, Any] = {"name": name, "reference": source, "n_images": len(df),
                           "n_patients": len(set(pids)),
                           **bootstrap_scores({"dice": dice, "iou": iou}, pids,
                                              n_boot=cfg.bootstrap, seed=cfg.seed),
                           "flagged": int(sum(bool(f) for f in flags))}
    for col in ("dataset", "_mask_source"):
        res[f"by_{col.strip('_')}"] = {
            str(k): bootstrap_scores({"dice": dice[idx], "iou": iou[idx]},
                                     [pids[j] for j in idx], n_boot=cfg.bootstrap, seed=cfg.seed)
            for k, idx in df.groupby(col, sort=True).indices.items()}
    table = df[["image_path", "patient_id", "dataset", "_mask_source"]].rename(
        columns={"_mask_source": "reference_source"}).assign(dice=dice, iou=iou, flag=flags)
    from cxr.runtime.files import atomic_open

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / f"{name}_scores.csv") as fh:
        table.to_csv(fh, index=False)
    res["worst_figure"] = worst_figure(images, masks, pred, dice, df, out_dir / f"{name}_worst.png",
                                       title=f"{name}: lowest Dice")
    return res


def worst_figure(images: np.ndarray, ref: np.ndarray, pred: np.ndarray, dice: np.ndarray,
                 df: pd.DataFrame, path: Path, *, title: str, n: int = 8) -> str:
    """The ``n`` lowest-Dice images: reference outline green, prediction red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(dice, kind="stable")[:n]
    if order.size == 0:
        return ""
    cols = min(4, order.size)
    rows = int(np.ceil(order.size / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), order, strict=False):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        for m, colour in ((ref[i], "lime"), (pred[i], "red")):
            if m.any() and not m.all():
                ax.contour(m.astype(float), levels=[0.5], colors=colour, linewidths=1)
        ax.set_title(f"{Path(str(df['image_path'].iat[i])).name[:22]}\nDice {dice[i]:.3f}",
                     fontsize=8)
    fig.suptitle(f"{title} (green: reference, red: predicted)", fontsize=9)
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    return str(path)


def scores_table(results: list[dict[str, Any]], title: str) -> Any:
    """Rich table: one row per scored set and per collection inside it."""
    from rich.table import Table

    from cxr.runtime.fmt import fmt_ci

    t = Table(title=title)
    for col, just in (("set", "left"), ("reference", "left"), ("images (patients)", "right"),
                      ("Dice [95% CI]", "right"), ("IoU [95% CI]", "right"),
                      ("flagged", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in results:
        t.add_row(r["name"], r["reference"], f"{r['n_images']} ({r['n_patients']})",
                  fmt_ci(r["dice"]["mean"], r["dice"]["ci_low"], r["dice"]["ci_high"]),
                  fmt_ci(r["iou"]["mean"], r["iou"]["ci_low"], r["iou"]["ci_high"]),
                  str(r["flagged"]))
        if len(r["by_dataset"]) > 1:
            for ds, s in r["by_dataset"].items():
                t.add_row(f"  {ds}", "", f"{s['dice']['n_images']} ({s['dice']['n_patients']})",
                          fmt_ci(s["dice"]["mean"], s["dice"]["ci_low"], s["dice"]["ci_high"]),
                          fmt_ci(s["iou"]["mean"], s["iou"]["ci_low"], s["iou"]["ci_high"]), "")
    return t
