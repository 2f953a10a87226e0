"""The classify run folder as a typed contract: its file names and the keys of run.json.

A finished ``cxr classify`` run is a folder that other commands read: ``cxr report`` (metrics,
predictions, the run's facts), ``cxr ablate`` (which cell to keep, its results), ``cxr evaluate``
(the saved config), ``cxr demo``, ``cxr export`` and ``cxr serve``
(the model card). :class:`ClassifyRunFolder` owns the file names, so no
module spells ``"metrics.json"`` itself, and :class:`RunRecord` owns ``run.json``'s keys, so a
key that is written is a key that can be read (an unknown key in an older file is kept aside,
a missing one reads as None).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxr.runtime.files import atomic_write_text


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` says of one classify run (every key optional when read back)."""

    backbone: str | None = None
    task: str | None = None
    classes: list[str] | None = None
    #: what the run consumed; the report follows these links to the GAN evaluation
    inputs: dict[str, str | None] | None = None
    threshold: float | None = None
    #: the validation sensitivity the threshold was chosen for
    target: float | None = None
    train_rows: dict[str, int] | None = None
    real_covid_train: int | None = None
    #: distinct GAN images per epoch: G = rnd(R r / (1 - r)); oversampling may repeat them
    gan_per_epoch: int | None = None
    gan_draws_per_epoch: int | None = None
    draws_per_epoch: dict[str, Any] | None = None
    left_out: dict[str, int] | None = None
    unsplit_rows: int | None = None
    val_images: int | None = None
    test_images: int | None = None
    epochs_run: int | None = None
    best_val_auroc: float | None = None
    lightning_checkpoints: str | None = None
    cache: str | None = None
    class_weights: list[float] | None = None
    external: list[str] | None = None
    source_confounding: dict[str, Any] | None = None
    gan_lineage: dict[str, Any] | None = None
    #: the data the model saw: collections, images and patients per split and class, duplicate
    #: groups (read by the model card, :mod:`cxr.pipelines.classify.model_card`)
    data: dict[str, Any] | None = None
    #: keys of an older or newer run.json that this version does not know (kept, not lost)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return out | self.extra

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class ClassifyRunFolder:
    """One classify run's folder: where each of its files lives, and reading them back."""

    root: Path

    CONFIG = "config.yaml"
    METRICS = "metrics.json"
    RUN = "run.json"
    WEIGHTS = "best.ckpt"
    PREDICTIONS = "predictions.csv"
    CHECKPOINTS = "checkpoints"
    #: the model card, in the Hugging Face layout (YAML metadata + Markdown) and as JSON
    MODEL_CARD_MD = "MODEL_CARD.md"
    MODEL_CARD_JSON = "model_card.json"

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.root / self.METRICS

    @property
    def run(self) -> Path:
        return self.root / self.RUN

    @property
    def weights(self) -> Path:
        return self.root / self.WEIGHTS

    @property
    def predictions(self) -> Path:
        return self.root / self.PREDICTIONS

    @property
    def checkpoints(self) -> Path:
        return self.root / self.CHECKPOINTS

    @property
    def model_card_md(self) -> Path:
        return self.root / self.MODEL_CARD_MD

    @property
    def model_card_json(self) -> Path:
        return self.root / self.MODEL_CARD_JSON

    def read_model_card(self, *, tolerant: bool = False) -> dict[str, Any]:
        """model_card.json as a dict ({} when absent; also when unreadable if ``tolerant``)."""
        return _read_json(self.model_card_json, tolerant)

    def is_finished(self) -> bool:
        """Every file a finished run leaves: config, metrics, run record and weights."""
        return all(p.is_file() for p in (self.config, self.metrics, self.run, self.weights))

    def has_results(self) -> bool:
        """Metrics or predictions to show (a report can be built from either)."""
        return self.metrics.is_file() or self.predictions.is_file()

    def read_metrics(self, *, tolerant: bool = False) -> dict[str, Any]:
        """metrics.json as a dict ({} when absent; also when unreadable if ``tolerant``)."""
        return _read_json(self.metrics, tolerant)

    def read_run(self, *, tolerant: bool = False) -> RunRecord:
        """run.json as a :class:`RunRecord` (all None when absent; unreadable too if tolerant)."""
        return RunRecord.from_dict(_read_json(self.run, tolerant))

    def write_run(self, record: RunRecord) -> Path:
        atomic_write_text(self.run, json.dumps(record.to_dict(), indent=2, default=str) + "\n")
        return self.run


def _read_json(path: Path, tolerant: bool) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        if tolerant:
            return {}
        raise
    return data if isinstance(data, dict) else {}
