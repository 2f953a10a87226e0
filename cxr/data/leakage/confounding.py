"""Source confounding: does the collection an image came from give its label away?

When every COVID-19 image comes from one collection and every normal or
pneumonia image from another (e.g. the Hannover repository against the Kaggle
pediatric set), a classifier can score well by recognising the hospital,
scanner or preprocessing instead of the disease. Zech et al. (PLOS Med 2018,
"Variable generalization performance of a deep learning model to detect
pneumonia in chest radiographs") showed CNNs identify the source hospital
almost perfectly; DeGrave, Janizek & Lee (Nat. Mach. Intell. 2021) showed
COVID-19 detectors trained on such mixes rely on these shortcuts; Roberts et
al. (Nat. Mach. Intell. 2021) list it among the commonest flaws.

:func:`source_confounding` looks at real-origin rows only (GAN images inherit
their source's collection) and reports:

- the label x dataset count table;
- per label, the share of its images coming from *single-label datasets*
  (datasets that hold no other label of the manifest);
- how well ``dataset`` alone predicts ``label``: the accuracy of predicting
  every image's label by its dataset's majority label, against the
  majority-class baseline, and Cramér's V of the contingency table
  (Cramér, *Mathematical Methods of Statistics*, 1946; computed with
  :func:`scipy.stats.contingency.association`, 0 = independent, 1 = the
  dataset determines the label).

A warning is raised for a label whose single-label share is ``>= threshold``
(0.9 by default) and when the dataset predicts every label perfectly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cxr.data.manifest import LABELS

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLD = 0.9


def _pct(x: float) -> str:
    """A share as a percentage that never rounds up across a threshold (89.6% stays 89.6%)."""
    v = 100.0 * x
    return f"{v:.0f}%" if abs(v - round(v)) < 1e-9 else f"{int(v * 10) / 10:.1f}%"


@dataclass
class ConfoundingReport:
    """Outcome of :func:`source_confounding`; ``counts`` maps dataset -> label -> images."""

    counts: dict[str, dict[str, int]]
    labels: list[str]
    datasets: list[str]
    single_label_share: dict[str, float]  # label -> share of its images in single-label datasets
    single_label_sources: dict[str, list[str]]  # label -> those datasets
    dataset_accuracy: float | None  # label predicted by the dataset's majority label
    baseline_accuracy: float | None  # majority class of the whole table
    cramers_v: float | None  # None when the table is not at least 2 x 2
    threshold: float = DEFAULT_THRESHOLD
    scope: str = "all splits"
    warnings: list[str] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(sum(row.values()) for row in self.counts.values())

    @property
    def perfect(self) -> bool:
        """The dataset alone predicts every image's label (with >= 2 labels present)."""
        return len(self.labels) > 1 and self.dataset_accuracy == 1.0

    def frame(self) -> pd.DataFrame:
        """Label x dataset counts as a DataFrame (datasets as rows, labels as columns)."""
        import pandas as pd

        rows = [
            {"dataset": ds, **{lb: self.counts[ds].get(lb, 0) for lb in self.labels}}
            for ds in self.datasets
        ]
        return pd.DataFrame(rows, columns=["dataset", *self.labels])

    def summary(self) -> list[str]:
        """One line for the measures, one per label, then the warnings."""
        if len(self.labels) < 2:
            return [
                f"source confounding ({self.scope}): {self.images} real images, "
                f"{len(self.labels)} label; nothing to confound"
            ]
        assert self.dataset_accuracy is not None and self.baseline_accuracy is not None
        v = "n/a" if self.cramers_v is None else f"{self.cramers_v:.2f}"
        lines = [
            f"source confounding ({self.scope}, {self.images} real images, "
            f"{_plural(len(self.datasets), 'dataset')}): the dataset alone predicts the label of "
            f"{_pct(self.dataset_accuracy)} of images (majority-class baseline "
            f"{_pct(self.baseline_accuracy)}); Cramér's V {v}"
        ]
        for lb in self.labels:
            per = ", ".join(
                f"{ds} {self.counts[ds][lb]}" for ds in self.datasets if self.counts[ds].get(lb)
            )
            lines.append(
                f"  {lb}: {per}; {_pct(self.single_label_share[lb])} from single-label datasets"
            )
        return lines + [f"warning: {w}" for w in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for run.json)."""
        return {
            "scope": self.scope,
            "images": self.images,
            "labels": self.labels,
            "datasets": self.datasets,
            "counts": self.counts,
            "single_label_share": self.single_label_share,
            "single_label_sources": self.single_label_sources,
            "dataset_accuracy": self.dataset_accuracy,
            "baseline_accuracy": self.baseline_accuracy,
            "cramers_v": self.cramers_v,
            "threshold": self.threshold,
            "warnings": list(self.warnings),
        }


def _warnings(rep: ConfoundingReport) -> list[str]:
    out: list[str] = []
    if len(rep.labels) < 2:
        return out
    for lb in rep.labels:
        share = rep.single_label_share[lb]
        if share < rep.threshold:
            continue
        srcs = rep.single_label_sources[lb]
        others = [ds for ds in rep.datasets if ds not in srcs]
        where = (
            "from the other collections (" + ", ".join(others) + ")"
            if others
            else "from collections that also hold other labels"
        )
        out.append(
            f"label {lb!r}: {_pct(share)} of images come from {', '.join(srcs)}, which "
            f"{'holds' if len(srcs) == 1 else 'hold'} no other label — a classifier can learn "
            f"the collection instead of the disease; add {lb} images {where} or evaluate "
            "per source"
        )
    if rep.perfect:
        out.append(
            f"the dataset column alone predicts every label perfectly ({rep.images} real "
            f"images, majority-class baseline {_pct(rep.baseline_accuracy or 0.0)}): "
            "label and source are fully confounded, so test metrics cannot separate "
            "disease from collection"
        )
    return out


def source_confounding(
    df: pd.DataFrame,
    *,
    split: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    scope: str | None = None,
) -> ConfoundingReport:
    """Label x dataset confounding on the real rows of ``df`` (of one ``split`` if given).

    ``df`` may be any manifest or subset of one (a test split, an external test
    set); ``scope`` names it in the messages (default: "all splits" or "split X").
    """
    import numpy as np

    rows = df[df["origin"].astype(str) == "real"]
    if split is not None:
        rows = rows[rows["split"].astype(str) == split]
    counts: dict[str, dict[str, int]] = {}
    sizes = rows.groupby(["dataset", "label"], sort=True).size()
    for key, n in sizes.items():
        ds, lb = (str(k) for k in key)  # type: ignore[attr-defined]  # (dataset, label) key
        counts.setdefault(ds, {})[lb] = int(n)
    present = {lb for row in counts.values() for lb in row}
    labels = [lb for lb in LABELS if lb in present] + sorted(present - set(LABELS))
    datasets = sorted(counts)
    table = np.array([[counts[ds].get(lb, 0) for lb in labels] for ds in datasets], dtype=np.int64)
    total = int(table.sum())
    single = [ds for ds in datasets if len(counts[ds]) == 1]
    share: dict[str, float] = {}
    sources: dict[str, list[str]] = {}
    for j, lb in enumerate(labels):
        sources[lb] = [ds for ds in single if lb in counts[ds]]
        n = int(table[:, j].sum())
        share[lb] = sum(counts[ds][lb] for ds in sources[lb]) / n if n else 0.0
    acc = base = v = None
    if total:
        acc = float(table.max(axis=1).sum() / total)
        base = float(table.sum(axis=0).max() / total)
    if table.shape[0] > 1 and table.shape[1] > 1:
        from scipy.stats.contingency import association

        v = float(association(table, method="cramer"))
    rep = ConfoundingReport(
        counts={ds: counts[ds] for ds in datasets},
        labels=labels,
        datasets=datasets,
        single_label_share=share,
        single_label_sources=sources,
        dataset_accuracy=acc,
        baseline_accuracy=base,
        cramers_v=v,
        threshold=threshold,
        scope=scope or ("all splits" if split is None else f"split {split}"),
    )
    rep.warnings = _warnings(rep)
    return rep


#: Cramér's V at or above which an evaluation set's label counts as predictable from its source
EVAL_V_THRESHOLD = 0.5


def test_confounding_warnings(rep: ConfoundingReport) -> list[str]:
    """Warnings for an evaluation set (a test split, an external test set), with the numbers.

    On an evaluation set the question is whether a model could score by
    recognising the collection: warned when the dataset alone predicts the
    label better than the majority class and Cramér's V reaches
    :data:`EVAL_V_THRESHOLD`, or when a label comes only from single-label
    collections (the pooled check's rule).
    """
    if len(rep.labels) < 2 or len(rep.datasets) < 2 or not rep.images:
        return []
    acc, base, v = rep.dataset_accuracy or 0.0, rep.baseline_accuracy or 0.0, rep.cramers_v
    out = []
    if v is not None and v >= EVAL_V_THRESHOLD and acc > base:
        out.append(
            f"{rep.scope}: the label is predictable from the source collection - the dataset "
            f"alone predicts {_pct(acc)} of {rep.images} images (majority-class baseline "
            f"{_pct(base)}; Cramér's V {v:.2f}), so its metrics can reward recognising the "
            "collection instead of the disease"
        )
    out.extend(f"{rep.scope}: {w}" for w in rep.warnings if not w.startswith("the dataset column"))
    return out


def print_confounding(rep: ConfoundingReport, console: Any) -> None:
    """Print the report's warnings in yellow (nothing when there are none)."""
    from rich.markup import escape

    for w in rep.warnings:  # soft_wrap: one line each, so the text can be searched
        console.print(f"[yellow]warning: {escape(w)}[/yellow]", highlight=False, soft_wrap=True)


def _plural(n: int, word: str) -> str:
    """``1 dataset``, ``2 datasets``."""
    return f"{n} {word}" + ("" if n == 1 else "s")
