"""CycleGAN objectives (Zhu et al., ICCV 2017, Sec. 3 and 4).

* Adversarial: least-squares GAN (Mao et al., ICCV 2017), the form used in
  the paper's experiments: ``D`` regresses real patches to 1 and fake to 0,
  ``G`` pushes ``D(G(x))`` to 1.
* Cycle consistency (Eq. 2): ``||F(G(x)) - x||_1`` and ``||G(F(y)) - y||_1``,
  weighted by ``lambda`` (10).
* Identity (Sec. 5.2, from Taigman et al., ICLR 2017): ``||G(y) - y||_1``,
  weighted by ``0.5 * lambda`` in the reference code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cycle_loss", "identity_loss", "lsgan_d_loss", "lsgan_g_loss"]


def _mse_to(pred: torch.Tensor, value: float) -> torch.Tensor:
    # in float32 even under autocast: the squared error of fp16 logits overflows easily
    pred = pred.float()
    # a broadcast scalar, as the reference's expanded label: no target tensor filled per call
    return F.mse_loss(pred, pred.new_tensor(value).expand_as(pred))


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator side: ``E[(D(G(x)) - 1)^2]``."""
    return _mse_to(d_fake, 1.0)


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator side, halved as in the reference (slows D relative to G)."""
    return 0.5 * (_mse_to(d_real, 1.0) + _mse_to(d_fake, 0.0))


def cycle_loss(reconstructed: torch.Tensor, real: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * ||F(G(x)) - x||_1`` (mean over pixels)."""
    return weight * F.l1_loss(reconstructed.float(), real.float())


def identity_loss(mapped: torch.Tensor, real: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * ||G(y) - y||_1``: keeps target-domain inputs unchanged (tone preservation)."""
    return weight * F.l1_loss(mapped.float(), real.float())
