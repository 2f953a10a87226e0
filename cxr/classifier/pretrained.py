"""Pretrained weights: torchvision's ImageNet weights, or a local state dict.

(torchxrayvision's chest X-ray weights, ``txv:NAME``, are in :mod:`cxr.classifier.txv_weights`.)

* ``imagenet``: the file torchvision's multi-weight API names
  (``get_model_weights(name).DEFAULT``), read from ``<torch hub dir>/checkpoints/``
  only; nothing is downloaded at run time. A missing file is a one-line error
  saying which file to put where.
* a PATH: ``torch.load(weights_only=True)`` (no pickle code execution), a
  ``state_dict`` entry is unwrapped (Lightning or cxr checkpoints), common
  wrapper prefixes (``module.``, ``model.``, ``backbone.``) are stripped, tensors
  whose shape does not fit (typically the 1000-class ImageNet head) are skipped,
  and missing / unexpected / skipped keys are reported, not hidden.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import torch

from cxr.runtime.errors import CheckpointError
from cxr.runtime.files import safe_torch_load

if TYPE_CHECKING:
    from cxr.classifier.backbones import Backbone

PREFIXES: tuple[str, ...] = ("module.", "model.", "backbone.")


@dataclasses.dataclass
class LoadReport:
    """What a weight load did. ``loaded`` counts tensors copied into the model."""

    source: str
    loaded: int = 0
    missing: list[str] = dataclasses.field(default_factory=list)
    unexpected: list[str] = dataclasses.field(default_factory=list)
    mismatched: list[str] = dataclasses.field(default_factory=list)
    #: the weights file read and its sha256 (provenance), where one file was read
    file: str = ""
    sha256: str = ""
    #: the square input side the weights were trained at, when they say (torchxrayvision)
    input_size: int | None = None
    #: what the load changed beyond copying tensors (e.g. an input rescaling)
    notes: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (f", ... (+{len(keys) - 4})" if len(keys) > 4 else "")

        parts = [f"{self.source}: {self.loaded} tensors loaded"]
        if self.file:
            parts.append(f"{Path(self.file).name}, sha256 {self.sha256[:12]}")
        for what, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape mismatch, skipped", self.mismatched),
        ):
            if keys:
                parts.append(f"{what}: {few(keys)}")
        return "; ".join(parts + self.notes)


def strip_prefixes(sd: dict[str, Any], prefixes: tuple[str, ...] = PREFIXES) -> dict[str, Any]:
    """Remove leading wrapper prefixes from every key (repeatedly: ``module.model.x`` -> ``x``)."""
    out: dict[str, Any] = {}
    for key, val in sd.items():
        k = key
        while True:
            for p in prefixes:
                if k.startswith(p):
                    k = k[len(p) :]
                    break
            else:
                break
        out[k] = val
    return out


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict (or a checkpoint holding one) from ``path``, safely."""
    obj = safe_torch_load(path, what="weights file")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return obj


def load_into(model: Backbone, sd: dict[str, torch.Tensor], source: str) -> LoadReport:
    """Copy matching tensors of ``sd`` into ``model.model``; report the rest."""
    sd = model.remap_state_dict(strip_prefixes(sd))
    sd = {k: v for k, v in sd.items() if not k.startswith(model.ignored_key_prefixes or ("\0",))}
    target = model.model.state_dict()
    report = LoadReport(source=source)
    usable: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k not in target:
            report.unexpected.append(k)
        elif target[k].shape != v.shape:
            report.mismatched.append(f"{k} {tuple(v.shape)}->{tuple(target[k].shape)}")
        else:
            usable[k] = v
    report.missing = [k for k in target if k not in usable and not any(
        m.startswith(k + " ") for m in report.mismatched)]
    if not usable:
        raise CheckpointError(
            f"{source}: no tensor fits backbone {model.name} "
            f"(first keys: {', '.join(list(sd)[:3]) or 'none'})"
        )
    model.model.load_state_dict(usable, strict=False)
    report.loaded = len(usable)
    return report


def load_local(model: Backbone, path: Path, *, in_chans: int) -> LoadReport:
    """Load a local state dict; fold the first conv before or after, as the file needs."""
    sd = read_state_dict(path)
    stripped = strip_prefixes(sd)
    conv_w = stripped.get(f"{model.first_conv}.weight")
    if conv_w is not None and conv_w.ndim == 4 and conv_w.shape[1] == 1 and in_chans == 1:
        model.adapt_input(1)  # the file is already grey (e.g. a cxr checkpoint)
    return load_into(model, sd, str(path))


def imagenet_weights_file(name: str) -> tuple[str, Path]:
    """(download URL, expected cache path) of torchvision's default ImageNet weights."""
    from torchvision.models import get_model_weights

    url = get_model_weights(name).DEFAULT.url
    filename = Path(urlparse(url).path).name
    return url, Path(torch.hub.get_dir()) / "checkpoints" / filename


def load_imagenet(model: Backbone) -> LoadReport:
    """torchvision's default ImageNet weights for ``model.name``, from the local torch hub cache.

    Nothing is downloaded: when the file is missing the error names it, the URL it comes
    from and the folder to put it in, before any network access could be tried.
    """
    from torchvision.models import get_model_weights

    weights = get_model_weights(model.name).DEFAULT
    url, cached = imagenet_weights_file(model.name)
    if not cached.is_file():
        raise CheckpointError(
            f"ImageNet weights for {model.name} not found: {cached.name} is not in {cached.parent} "
            f"(cxr never downloads; fetch {url} and put it there, set TORCH_HOME, "
            "or pass --pretrained PATH)"
        )
    sd = safe_torch_load(cached, what=f"ImageNet weight file for {model.name}")
    report = load_into(model, sd, f"imagenet:{weights}")
    if report.missing:
        raise CheckpointError(f"{cached}: does not fit {model.name} ({report.summary()})")
    return report
