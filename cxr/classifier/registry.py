"""The backbone registry: a leaf module that names the networks (timm's ``_registry``).

:func:`register_backbone` is the decorator :mod:`cxr.classifier.zoo` puts on each
architecture. This module imports no network, so the zoo can import it without a
cycle; :mod:`cxr.classifier.factory` imports the zoo and builds by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from torch import nn

if TYPE_CHECKING:
    from cxr.classifier.backbones import Backbone

B = TypeVar("B", bound="type[Backbone]")
REGISTRY: dict[str, type[Backbone]] = {}
BUILDERS: dict[str, Callable[[], nn.Module]] = {}


def register_backbone(name: str, builder: Callable[[], nn.Module]) -> Callable[[B], B]:
    """Class decorator: ``@register_backbone("resnet50", lambda: tv.resnet50())``.

    ``builder`` makes the bare torchvision network (1000 ImageNet classes, no weights).
    """

    def deco(cls: B) -> B:
        if name in REGISTRY:
            raise ValueError(f"backbone {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        BUILDERS[name] = builder
        return cls

    return deco
