"""The backbone interface: one contract for every classifier network.

The interface follows timm (Wightman, *PyTorch Image Models*, 2019):
``forward_features(x)`` returns the last feature map, ``forward_head(f)`` pools
and classifies it, ``features(x)`` is the pooled penultimate embedding (used for
FID by the GAN stage), ``cam_layer`` is the module Grad-CAM hooks (Selvaraju et
al., ICCV 2017) and ``num_features`` the embedding width. The networks are
registered by decorator in :mod:`cxr.classifier.zoo` (names in
:mod:`cxr.classifier.registry`) and built by name in :mod:`cxr.classifier.factory`.

One-channel X-rays are handled once, at build time, by folding the RGB kernels
and the input normalisation into the first convolution
(:mod:`cxr.classifier.stem`), not by repeating the channel every step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cxr.classifier.stem import IMAGENET_MEAN, IMAGENET_STD, replace_first_conv
from cxr.runtime.errors import ConfigError


class Backbone(nn.Module):
    """A torchvision network behind the timm-style interface.

    The torchvision model lives in ``self.model`` with its own parameter names,
    so ImageNet state dicts load into it unchanged.
    """

    name: str = ""
    num_features: int = 0
    #: the wrapped torchvision network (typed loosely: its submodules differ per architecture)
    model: Any
    #: what the pretrained-weight load did (a cxr.classifier.pretrained.LoadReport)
    load_report: Any
    #: dotted path (inside ``self.model``) of the first convolution
    first_conv: str = ""
    #: normalisation the pretrained weights expect for an RGB image in [0, 1]
    input_mean: tuple[float, ...] = IMAGENET_MEAN
    input_std: tuple[float, ...] = IMAGENET_STD
    #: smallest square input the architecture accepts
    min_input_size: int = 32
    #: state-dict key prefixes of the torchvision model that we drop on purpose
    ignored_key_prefixes: tuple[str, ...] = ()

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.in_chans = 3
        self.num_classes = 0
        self._cam_stage = ""

    # -- to be provided by each architecture ---------------------------------
    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the feature map; return the embedding (``pre_logits``) or the logits."""
        raise NotImplementedError

    #: modules Grad-CAM may hook (dotted paths inside ``self.model``), the last stage first,
    #: then finer (earlier, higher-resolution) stages; ``cam_layer`` is the chosen one
    cam_stages: tuple[str, ...] = ()

    @property
    def cam_stage(self) -> str:
        """The stage ``cam_layer`` hooks (the first of ``cam_stages`` unless chosen otherwise)."""
        return self._cam_stage or self.cam_stages[0]

    def set_cam_stage(self, stage: str) -> None:
        """Make ``cam_layer`` the module at ``stage`` (one of ``cam_stages``, or ``last``)."""
        if stage == "last":
            stage = self.cam_stages[0]
        if stage not in self.cam_stages:
            raise ConfigError(
                f"{self.name} has no Grad-CAM stage {stage!r} "
                f"(valid: last, {', '.join(self.cam_stages)})"
            )
        self._cam_stage = stage

    @property
    def cam_layer(self) -> nn.Module:
        """The module whose activations and gradients Grad-CAM uses."""
        if not self.cam_stages:
            raise NotImplementedError
        module: nn.Module = self.model.get_submodule(self.cam_stage)
        return module

    @property
    def head(self) -> nn.Module:
        """The final classification layer (the only trainable part in a linear probe)."""
        raise NotImplementedError

    def reset_head(self, num_classes: int) -> None:
        """Replace the classification layer with a fresh one for ``num_classes``."""
        raise NotImplementedError

    def remap_state_dict(self, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename legacy keys of published checkpoints (identity by default)."""
        return sd

    # -- shared --------------------------------------------------------------
    @classmethod
    def check_input_size(cls, size: int) -> None:
        """Raise ``ConfigError`` when ``size`` is below the architecture's minimum."""
        if size < cls.min_input_size:
            raise ConfigError(
                f"backbone {cls.name} needs inputs of at least {cls.min_input_size} px, "
                f"got --image-size {size}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature map (B, C, h, w) for input (B, in_chans, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(
                f"{self.name}: expected input (B, {self.in_chans}, H, W), got {tuple(x.shape)}"
            )
        if not torch.jit.is_tracing() and min(x.shape[-2:]) < self.min_input_size:
            self.check_input_size(int(min(x.shape[-2:])))
        return self._forward_features(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate embedding (B, num_features)."""
        return self.forward_head(self.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def adapt_input(self, in_chans: int) -> None:
        """Make the network take ``in_chans`` channels (1: grey [-1, 1] with the fold; 3: as is)."""
        if in_chans == self.in_chans:
            return
        if in_chans != 1 or self.in_chans != 3:
            raise ConfigError(f"in_chans must be 1 (grey X-ray) or 3, got {in_chans}")
        replace_first_conv(self.model, self.first_conv, self.input_mean, self.input_std)
        self.in_chans = 1
