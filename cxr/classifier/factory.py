"""Build any registered backbone by name (timm's ``create_model``).

Importing this module imports :mod:`cxr.classifier.zoo`, whose decorators fill
the registry, so every name is known here; an unknown name fails with the valid
ones. Pretrained weights are loaded by :mod:`cxr.classifier.pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import cxr.classifier.zoo  # noqa: F401  (registers the architectures)
from cxr.classifier.backbones import Backbone
from cxr.classifier.pretrained import LoadReport, load_imagenet, load_local
from cxr.classifier.registry import BUILDERS, REGISTRY
from cxr.classifier.txv_weights import is_txv, load_txv
from cxr.runtime.errors import ConfigError


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`."""
    return sorted(REGISTRY)


def backbone_class(name: str) -> type[Backbone]:
    valid = list_backbones()
    if name not in REGISTRY:
        raise ConfigError(f"unknown backbone '{name}' (valid: {', '.join(valid)})")
    return REGISTRY[name]


def create_backbone(
    name: str, num_classes: int, pretrained: str | Path = "none", in_chans: int = 1
) -> Backbone:
    """Build backbone ``name`` with a fresh ``num_classes`` head.

    ``pretrained``: ``"none"`` (random init), ``"imagenet"`` (torchvision weights
    from the torch hub cache, never downloaded), ``"txv:NAME[=PATH]"`` (torchxrayvision's
    chest X-ray weights, one grey channel already: :mod:`cxr.classifier.txv_weights`)
    or a path to a local state dict. Loading happens on the RGB network before the grey
    fold, so the fold sees the pretrained kernels. A state dict whose first conv already has one
    input channel (e.g. a cxr checkpoint) is loaded after the fold instead.
    What did not load is kept in ``model.load_report``.
    """
    cls = backbone_class(name)
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    model = cls(BUILDERS[name]())
    report = LoadReport(source="none")
    spec = str(pretrained)
    if spec == "imagenet":
        report = load_imagenet(model)
    elif is_txv(spec):
        report = load_txv(model, spec, in_chans=in_chans)
    elif spec not in ("", "none"):
        report = load_local(model, Path(spec), in_chans=in_chans)
    if model.in_chans != in_chans:
        model.adapt_input(in_chans)
    model.reset_head(num_classes)
    model.num_classes = num_classes
    model.load_report = report
    return model
