"""Score a trained classifier on manifest rows and write what a reader opens.

One code path for every evaluated set — the internal test split of `cxr
classify`, each ``--external`` set, and `cxr evaluate` — so that `cxr evaluate`
on a run's own test split reproduces its ``metrics.json`` exactly: the network
is rebuilt from ``best.ckpt`` (:func:`cxr.classifier.load_classifier`), images
come from the uint8 cache in manifest order, batches have the checkpoint's
``eval_batch_size``, and the bootstrap uses the checkpoint's ``bootstrap`` and
``seed``.

A set's metrics are those of :func:`cxr.classifier.metrics.evaluate` (headline
with patient-level bootstrap CIs, per class, confusion matrix) plus
``by_dataset`` and ``within_source`` (:mod:`cxr.classifier.source_metrics`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.runtime.errors import ManifestError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from cxr.classifier import ClassifierInfo
    from cxr.classifier.backbones import Backbone


@dataclasses.dataclass
class Scored:
    rows: pd.DataFrame  # the evaluated manifest rows, in order
    y: np.ndarray  # class index per row
    probs: np.ndarray  # (N, K) softmax


def task_rows(df: pd.DataFrame, info: ClassifierInfo, *, what: str) -> tuple[pd.DataFrame,
                                                                             np.ndarray]:
    """Real rows whose label the checkpoint's task uses, and their class indices."""
    from cxr.classifier.tasks import task_targets

    real = df[df["origin"].astype(str) == "real"]
    targets = task_targets(real["label"].to_numpy(), info.task)
    keep = targets >= 0
    if not keep.any():
        raise ManifestError(f"{what}: no real image with a label of the {info.task} task "
                            f"({', '.join(info.classes)})")
    return real[keep].reset_index(drop=True), targets[keep]


def score(model: Backbone, info: ClassifierInfo, rows: pd.DataFrame, y: np.ndarray, *,
          cache_dir: str, workers: int, device: torch.device, progress: bool,
          label: str) -> Scored:
    """Softmax probabilities of ``model`` on ``rows`` (cached at the checkpoint's size)."""
    from torch.utils.data import DataLoader

    from cxr.data.images.cache import build_cache
    from cxr.data.images.dataset import XrayDataset
    from cxr.pipelines.classify.classify_outputs import predict_probs

    cache = build_cache(rows, image_size=info.image_size, resize_mode=info.resize_mode,
                        cache_dir=cache_dir, workers=max(1, workers), progress=progress)
    loader = DataLoader(XrayDataset(rows, cache, targets=y), batch_size=info.eval_batch_size,
                        shuffle=False, num_workers=workers)
    probs, order = predict_probs(model, loader, device, progress=progress, label=label)
    if not np.array_equal(order, np.arange(len(rows))):
        raise RuntimeError("evaluation loader returned rows out of manifest order")
    return Scored(rows, y, probs)


def set_metrics(scored: Scored, info: ClassifierInfo) -> dict[str, Any]:
    """``evaluate()`` + ``by_dataset`` + ``within_source`` at the checkpoint's decision."""
    from cxr.classifier.metrics import evaluate
    from cxr.classifier.source_metrics import source_breakdown

    kw: dict[str, Any] = dict(positive=info.positive, threshold=info.threshold,
                              n_boot=info.bootstrap, seed=info.seed)
    pids = scored.rows["patient_id"].astype(str).tolist()
    metrics = evaluate(scored.y, scored.probs, pids, info.classes, **kw)
    return metrics | source_breakdown(scored.y, scored.probs, pids,
                                      scored.rows["dataset"].astype(str).tolist(),
                                      info.classes, **kw)


def write_set(out: Path, scored: Scored, info: ClassifierInfo, *,
              metrics_name: str | None = None, metrics: dict[str, Any] | None = None) -> None:
    """``predictions.csv`` and ``plots/`` (and ``metrics_name`` with ``metrics``) into ``out``."""
    from cxr.classifier.metrics import predict_labels
    from cxr.classifier.plots import save_all
    from cxr.pipelines.classify.classify_outputs import write_json, write_predictions

    out.mkdir(parents=True, exist_ok=True)
    pos = info.classes.index(info.positive)
    write_predictions(out / "predictions.csv", scored.rows, scored.y, scored.probs,
                      predict_labels(scored.probs, pos, info.threshold), info.classes)
    save_all(scored.y, scored.probs, info.classes, out / "plots", positive=info.positive,
             threshold=info.threshold)
    if metrics_name and metrics is not None:
        write_json(out / metrics_name, metrics)
