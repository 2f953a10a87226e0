"""A fast stand-in for a classify cell: writes metrics.json and predictions.csv.

Scores get better with the synthetic ratio (so paired gains are positive) and
vary with the seed; all cells share the same test images and patients, as real
cells of one split do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from cxr.data.leakage.lineage import record_lineage
from cxr.data.manifest import new_manifest, save_manifest
from cxr.pipelines.ablate.grid import Cell, CellTask
from cxr.pipelines.ablate.run_ablate import SplitInputs

N_PATIENTS = 40
LABELS = ("covid", "pneumonia", "normal")


def resolve(cell: Cell, inputs: SplitInputs) -> dict:
    return {
        "backbone": cell.backbone,
        "synthetic_ratio": cell.ratio,
        "loss": cell.loss,
        "seed": cell.seed,
        "balance": "oversample" if cell.baseline == "oversample" else "none",
        "augment": "standard" if cell.baseline == "augment" else "none",
        "manifest": inputs.manifest,
    }


def fake_predictions(cell_seed: int, ratio: float) -> list[dict]:
    rng = np.random.default_rng(1000 + cell_seed * 7 + int(ratio * 100))
    rows = []
    for p in range(N_PATIENTS):
        label = LABELS[p % 3]
        for k in range(2):  # two images per patient
            signal = (1.0 + 3.0 * ratio) * (label == "covid")
            score = 1 / (1 + np.exp(-(signal + rng.normal(0, 1) - 0.8)))
            rest = (1 - score) / 2
            pred = "covid" if score > 0.5 else ("pneumonia" if label == "pneumonia" else "normal")
            rows.append(
                {
                    "image_path": f"/data/p{p}_{k}.png",
                    "patient_id": f"ds:p{p}",
                    "label": label,
                    "p_covid": round(float(score), 6),
                    "p_pneumonia": round(float(rest), 6),
                    "p_normal": round(float(rest), 6),
                    "prediction": pred,
                }
            )
    return rows


def fake_cell(task: CellTask) -> None:
    import pandas as pd

    c = task.cell
    rows = fake_predictions(c.seed, c.ratio)
    run = Path(task.run_dir)
    pd.DataFrame(rows).to_csv(run / "predictions.csv", index=False)
    df = pd.DataFrame(rows)
    auroc = 0.7 + 0.2 * c.ratio + 0.01 * c.seed
    acc = float((df["prediction"] == df["label"]).mean())
    headline = {
        "auroc": {"value": auroc, "ci_low": auroc - 0.05, "ci_high": auroc + 0.05},
        "accuracy": {"value": acc, "ci_low": acc - 0.05, "ci_high": acc + 0.05},
    }
    # per-source figures as cxr classify writes them (one collection, "ds")
    from cxr.classifier.source_metrics import source_breakdown

    y = (df["label"] == "covid").to_numpy().astype(int)
    probs = np.c_[1 - df["p_covid"].to_numpy(), df["p_covid"].to_numpy()]
    sources = source_breakdown(y, probs, df["patient_id"].tolist(), ["ds"] * len(df),
                               ("rest", "covid"), threshold=0.5, n_boot=20)
    metrics = {"headline": headline, **sources}
    (run / "metrics.json").write_text(json.dumps(metrics))


def constant_for_tiny(task: CellTask) -> None:
    """fake_cell, except that the 'tiny' backbone predicts one score for every image."""
    import pandas as pd

    fake_cell(task)
    if task.cell.backbone != "tiny":
        return
    run = Path(task.run_dir)
    preds = pd.read_csv(run / "predictions.csv")
    preds["p_covid"] = 0.464
    preds.to_csv(run / "predictions.csv", index=False)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["headline"]["auroc"] = {"value": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    (run / "metrics.json").write_text(json.dumps(metrics))

def png(path: Path, seed: int, size: int = 32) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = (120 + 60 * np.sin(xx / 4 + seed) + rng.normal(0, 10, (size, size))).clip(0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.astype(np.uint8)).save(path)


def make_manifests(root: Path) -> tuple[Path, Path]:
    rows, gan = [], []
    for p in range(12):
        split = ("train", "train", "val", "test")[p % 4]
        label = ("covid", "normal", "pneumonia")[p % 3]
        img = root / "images" / f"p{p}.png"
        png(img, p)
        rows.append(
            {
                "image_path": str(img),
                "patient_id": f"ph:p{p}",
                "label": label,
                "dataset": "ph",
                "split": split,
                "content_hash": f"h{p}",
            }
        )
    for k, p in enumerate(q for q in range(12) if q % 4 in (0, 1)):
        img = root / "gan" / f"g{k}.png"
        png(img, 100 + k)
        gan.append(
            {
                "image_path": str(img),
                "patient_id": f"gan:p{p}-{k}",
                "label": "covid",
                "dataset": "gan",
                "origin": "gan",
                "split": "train",
                "content_hash": f"g{k}",
                "source_image": str(root / "images" / f"p{p}.png"),
                "source_patient": f"ph:p{p}",
                "gan_lineage": str(root / "gan_lineage.json"),
            }
        )
    # the fake GAN "trained" on the train split, as `cxr gan train` records it
    real = new_manifest(rows)
    lineage = record_lineage(real[real["split"] == "train"], real)
    (root / "gan_lineage.json").write_text(json.dumps({"lineage": lineage.to_dict()}))
    return (
        save_manifest(new_manifest(rows), root / "manifest.csv"),
        save_manifest(new_manifest(gan), root / "synthetic.csv"),
    )
