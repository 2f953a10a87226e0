"""`cxr predict`: class probabilities for image files from a trained classifier.

Each image is decoded and square-resized exactly as the training cache was
(:func:`cxr.data.images.preprocess.load_preprocessed` with the checkpoint's size and
resize mode) and mapped to the network range with
:func:`cxr.data.images.intensity.to_network`. The decision uses the checkpoint's
validation threshold for binary models (``P(covid) >= t``), argmax otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxr.runtime.errors import ConfigError
from cxr.runtime.fmt import fmt_num


def run_predict(
    checkpoint: str | Path,
    images: Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 16,
    out_csv: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Probabilities per image as dicts ``{image, p_<class>..., prediction}``; prints a table."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from cxr.classifier import load_classifier
    from cxr.classifier.metrics import predict_labels
    from cxr.data.images.intensity import to_network
    from cxr.data.images.preprocess import load_preprocessed
    from cxr.runtime.files import atomic_open

    if not images:
        raise ConfigError("no image given to predict")
    model, info = load_classifier(checkpoint, map_location=device)
    # decode everything first: an unreadable file stops the run before any output
    arrays = [load_preprocessed(p, info.image_size, info.resize_mode) for p in images]
    probs = []
    with torch.no_grad():
        for s in range(0, len(arrays), batch_size):
            x = to_network(np.stack(arrays[s : s + batch_size]))[:, None].to(device)
            probs.append(model(x).float().softmax(1).cpu().numpy())
    p = np.concatenate(probs)
    pos = info.classes.index(info.positive) if info.positive in info.classes else 0
    pred = predict_labels(p, pos, info.threshold)
    rows = [
        {"image": str(path), **{f"p_{c}": float(p[i, k]) for k, c in enumerate(info.classes)},
         "prediction": info.classes[int(pred[i])]}
        for i, path in enumerate(images)
    ]
    thr = info.threshold
    rule = "argmax" if thr is None else f"P({info.positive}) >= {fmt_num(thr)}"
    table = Table(title=f"{info.backbone} ({info.task}), decision: {rule}")
    table.add_column("image")
    for c in info.classes:
        table.add_column(f"p({c})", justify="right")
    table.add_column("prediction")
    for r in rows:
        table.add_row(Path(str(r["image"])).name,
                      *[f"{r[f'p_{c}']:.3f}" for c in info.classes], str(r["prediction"]))
    Console(quiet=not progress).print(table)
    if out_csv is not None:
        import csv

        with atomic_open(out_csv, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return rows
