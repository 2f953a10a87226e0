"""Which scalar a map explains: the class score for multi-class and binary heads.

Gradient-based explanations (Grad-CAM, Grad-CAM++, saliency) differentiate one
scalar per image. For a head with ``K >= 2`` logits that scalar is the logit of
the explained class (pre-softmax, as Selvaraju et al. 2017 recommend). A binary
head with a single logit ``z`` scores the positive class (index 1 of
``classes``) as ``+z`` and the negative class (index 0) as ``-z``, which is
pytorch-grad-cam's ``BinaryClassifierOutputTarget``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def class_score(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The explained score ``(B,)`` for ``logits (B, K)`` and class indices ``target (B,)``."""
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.shape[1] == 1:
        sign = target.to(logits.dtype).mul(2.0).sub(1.0)  # class 1 -> +1, class 0 -> -1
        return logits[:, 0] * sign
    return logits.gather(1, target.long().view(-1, 1))[:, 0]


def library_targets(target: Sequence[int], num_outputs: int) -> list[Any]:
    """pytorch-grad-cam target objects equivalent to :func:`class_score`."""
    from pytorch_grad_cam.utils.model_targets import (
        BinaryClassifierOutputTarget,
        ClassifierOutputTarget,
    )

    if num_outputs == 1:
        return [BinaryClassifierOutputTarget(int(t)) for t in target]
    return [ClassifierOutputTarget(int(t)) for t in target]


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(B, C)``: softmax, or ``[1 - p, p]`` for a one-logit head."""
    if logits.ndim == 1:
        logits = logits[:, None]
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1.0 - p, p], dim=1)
    return torch.softmax(logits, dim=1)
