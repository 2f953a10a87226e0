"""Classifier stage: backbone registry, losses, LightningModule, checkpoints.

Public entry points: :func:`create_backbone`, :func:`list_backbones`,
:func:`load_classifier` and :class:`ClassifierInfo`. Metrics and plots live in
``metrics.py`` / ``plots.py``. This package never imports ``cxr.augment`` or
``cxr.cyclegan`` (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from cxr.classifier.backbones import Backbone
from cxr.classifier.checkpoint import ClassifierInfo, load_classifier, save_classifier
from cxr.classifier.factory import create_backbone, list_backbones
from cxr.classifier.registry import register_backbone

__all__ = [
    "Backbone",
    "ClassifierInfo",
    "create_backbone",
    "list_backbones",
    "load_classifier",
    "register_backbone",
    "save_classifier",
]
