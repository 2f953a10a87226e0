"""Self-describing classifier checkpoints: ``best.ckpt`` of a ``cxr classify`` run.

The file is a plain ``torch.save`` dict that loads with ``weights_only=True``::

    {"format": "cxr-classifier/1",
     "info": {classes, task, backbone, image_size, resize_mode, threshold,
              positive, in_chans, manifest_key, eval_batch_size, bootstrap, seed},
     "state_dict": backbone weights}

so predict / explain / gan-eval rebuild the network from the registry without
the training config, and never unpickle code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from cxr.classifier.backbones import Backbone
from cxr.classifier.factory import create_backbone
from cxr.runtime.errors import CheckpointError, CxrError
from cxr.runtime.files import atomic_torch_save, safe_torch_load

FORMAT = "cxr-classifier/1"


@dataclasses.dataclass(frozen=True)
class ClassifierInfo:
    """Everything needed to use a trained classifier on new images."""

    classes: tuple[str, ...]
    task: str
    backbone: str
    image_size: int
    resize_mode: str
    #: decision threshold on p(positive) chosen on validation (binary); None: argmax
    threshold: float | None = None
    positive: str = "covid"
    in_chans: int = 1
    #: manifest_key of the training manifest (provenance)
    manifest_key: str = ""
    #: how the run evaluated its test split, so `cxr evaluate` can reproduce it exactly:
    #: inference batch size, patient-bootstrap resamples and seed
    eval_batch_size: int = 32
    bootstrap: int = 1000
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["classes"] = tuple(kw["classes"])
        return cls(**kw)


def save_classifier(path: str | Path, model: Backbone, info: ClassifierInfo) -> Path:
    """Write ``model``'s weights and ``info`` atomically."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "info": info.to_dict(), "state_dict": state}
    atomic_torch_save(payload, path)
    return path


def load_classifier(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Backbone, ClassifierInfo]:
    """Rebuild a trained classifier: ``(model.eval(), info)``.

    A missing, truncated or foreign file raises :class:`CheckpointError` naming it.
    """
    path = Path(path)
    obj = safe_torch_load(path, what="checkpoint", map_location=map_location)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a cxr classifier checkpoint (expected format {FORMAT}; "
            "use the best.ckpt of a `cxr classify` run)"
        )
    try:
        info = ClassifierInfo.from_dict(obj["info"])
        model = create_backbone(
            info.backbone, len(info.classes), pretrained="none", in_chans=info.in_chans
        )
        model.load_state_dict(obj["state_dict"], strict=True)
    except CxrError:
        raise
    except (KeyError, TypeError, RuntimeError) as exc:
        msg = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: checkpoint does not fit its own description ({msg})"
        ) from None
    return model.to(map_location).eval(), info
