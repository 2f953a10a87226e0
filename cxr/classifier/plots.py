"""Evaluation figures: ROC and precision-recall curves, confusion matrix, reliability diagram.

ROC/PR curves are one-vs-rest per class (Fawcett, "An introduction to ROC
analysis", Pattern Recogn. Lett. 2006; Saito & Rehmsmeier, "The
precision-recall plot is more informative than the ROC plot when evaluating
binary classifiers on imbalanced datasets", PLoS ONE 2015 -- hence the PR plot
shows the positive class's prevalence as its chance line). The reliability
diagram bins top-label confidence as the ECE of :mod:`cxr.classifier.metrics`
does (Guo et al., ICML 2017). Figures use matplotlib's object API with the Agg
canvas (no pyplot state, safe in worker threads) and are written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxr.classifier.metrics import ECE_BINS, calibration_bins, predict_labels
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_save


def _figure(width: float = 5.5, height: float = 5.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def _style(positive: bool) -> dict[str, Any]:
    return {"lw": 2.4 if positive else 1.3, "alpha": 1.0 if positive else 0.8}


def plot_roc(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], pos: int,
             path: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance")
    for k, name in enumerate(classes):
        truth = y == k
        if truth.all() or not truth.any():
            continue  # undefined one-vs-rest curve
        fpr, tpr, _ = roc_curve(truth, probs[:, k])
        auc = roc_auc_score(truth, probs[:, k])
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})", **_style(k == pos))
    ax.set(xlabel="1 - specificity (false-positive rate)", ylabel="sensitivity",
           title="ROC, one-vs-rest", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_pr(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], pos: int,
            path: Path) -> Path:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure()
    ax = fig.add_subplot()
    for k, name in enumerate(classes):
        truth = y == k
        if truth.all() or not truth.any():
            continue
        prec, rec, _ = precision_recall_curve(truth, probs[:, k])
        ap = average_precision_score(truth, probs[:, k])
        ax.step(rec, prec, where="post", label=f"{name} (AP {ap:.3f})", **_style(k == pos))
    prevalence = float((y == pos).mean())
    ax.axhline(prevalence, ls="--", color="0.6", lw=1,
               label=f"chance for {classes[pos]} ({prevalence:.2f})")
    ax.set(xlabel="sensitivity (recall)", ylabel="PPV (precision)",
           title="Precision-recall, one-vs-rest", xlim=(0, 1), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def plot_confusion(y: np.ndarray, pred: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    n = len(classes)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = _figure(1.2 * n + 2.8, 1.1 * n + 2.2)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center",
                    fontsize=9, color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels=list(classes), rotation=30, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (count, row %)")
    return _save(fig, path)


def reliability_table(y: np.ndarray, probs: np.ndarray,
                      n_bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-bin (count, accuracy, mean confidence) over ``n_bins`` and the ECE.

    Bins as torchmetrics; images with confidence exactly 1.0 are counted in the last bin.
    """
    conf = probs.max(axis=1).astype(np.float32).astype(np.float64)
    correct = probs.argmax(axis=1) == y
    bins = np.minimum(calibration_bins(conf, n_bins), n_bins)
    count = np.bincount(bins, minlength=n_bins + 1).astype(float)
    hits = np.bincount(bins, weights=correct, minlength=n_bins + 1)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins + 1)
    ece = float(np.abs(hits - conf_sum).sum() / count.sum())
    count[n_bins - 1] += count[n_bins]
    hits[n_bins - 1] += hits[n_bins]
    conf_sum[n_bins - 1] += conf_sum[n_bins]
    safe = np.maximum(count[:n_bins], 1)
    return count[:n_bins], hits[:n_bins] / safe, conf_sum[:n_bins] / safe, ece


def plot_calibration(y: np.ndarray, probs: np.ndarray, path: Path, n_bins: int = ECE_BINS) -> Path:
    count, acc, mean_conf, ece = reliability_table(y, probs, n_bins)
    width = 1.0 / n_bins
    centres = (np.arange(n_bins) + 0.5) * width
    used = count > 0
    fig = _figure(5.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="perfect calibration")
    top.bar(centres[used], acc[used], width=width, edgecolor="k", alpha=0.8,
            label="accuracy in bin")
    top.plot(mean_conf[used], acc[used], "o", color="C3", ms=4,
             label="(mean confidence, accuracy)")
    top.set(ylabel="accuracy", ylim=(0, 1), title=f"Reliability diagram (ECE {ece:.3f})")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(centres, count, width=width, color="0.5", edgecolor="k")
    bottom.set(xlabel="top-label confidence", ylabel="images", xlim=(0, 1))
    return _save(fig, path)


def save_all(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    out_dir: str | Path,
    *,
    positive: str = "covid",
    threshold: float | None = None,
) -> dict[str, Path]:
    """Write ``roc.png``, ``pr.png``, ``confusion.png``, ``calibration.png`` into ``out_dir``.

    The confusion matrix uses the decision rule of :func:`cxr.classifier.metrics.evaluate`
    (``threshold`` on P(positive) if given, else argmax). Returns name -> path.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if positive not in classes:
        raise ConfigError(f"plots: positive class '{positive}' not in classes {list(classes)}")
    if p.ndim != 2 or p.shape != (y.size, len(classes)) or y.size == 0:
        raise ConfigError(
            f"plots: probs must have shape (N={y.size}, C={len(classes)}), got {p.shape}"
        )
    if y.min() < 0 or y.max() >= len(classes):
        raise ConfigError(f"plots: y_true must be class indices in [0, {len(classes)})")
    pos = list(classes).index(positive)
    out = Path(out_dir)
    jobs: dict[str, Callable[[Path], Path]] = {
        "roc": lambda f: plot_roc(y, p, classes, pos, f),
        "pr": lambda f: plot_pr(y, p, classes, pos, f),
        "confusion": lambda f: plot_confusion(y, predict_labels(p, pos, threshold), classes, f),
        "calibration": lambda f: plot_calibration(y, p, f),
    }
    return {name: job(out / f"{name}.png") for name, job in jobs.items()}
