"""Adapt an RGB first convolution to one-channel X-rays, once, at build time.

ImageNet backbones expect an RGB image ``u`` in ``[0, 1]`` normalised per channel,
``(u - m_c) / s_c``. Our network input is one grey channel ``x = 2u - 1`` in
``[-1, 1]`` (:mod:`cxr.data.images.intensity`). Feeding the grey image as an RGB copy
would mean repeating it three times on every step; instead the first
convolution is rewritten so that it computes the same thing directly.

Derivation, for a convolution with kernels ``W_c`` (one per input channel) and
bias ``b``, at an output position whose receptive field lies inside the image::

    y = sum_c W_c * (u - m_c) / s_c + b
      = sum_c (W_c / s_c) * (x + 1) / 2  -  sum_c (m_c / s_c) * sum(W_c) + b
      = [sum_c W_c / (2 s_c)] * x  +  b + sum_c sum(W_c) * (0.5 - m_c) / s_c
        ------- W' -------           ----------------- b' ---------------

``sum(W_c)`` is the sum of the kernel's weights. So ``W'`` is the
std-weighted sum of the RGB kernels ("sum the RGB kernels", Yosinski-style
channel collapse) and ``b'`` absorbs the mean shift.

**Padding.** The identity above holds where the kernel sees only image pixels.
With zero padding the two paths pad with different values: the RGB path pads
normalised zeros (``u = m_c``), the grey path pads ``x = 0`` (``u = 0.5``).
So outputs within ``padding`` pixels of the border differ slightly; the interior
is exact. Convolutions without padding (SqueezeNet 1.1, Inception v3 stems) are
exact everywhere, and so is the whole network after them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@torch.no_grad()
def fold_grey_input(
    conv: nn.Conv2d, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> nn.Conv2d:
    """Return a 1-channel conv equal to ``conv`` applied to the normalised RGB copy of a grey input.

    The grey input is in ``[-1, 1]``; see the module docstring for the algebra
    and the border caveat under zero padding.
    """
    if conv.groups != 1 or conv.in_channels != len(mean):
        raise ValueError(
            f"fold_grey_input needs an ungrouped conv with {len(mean)} input channels, "
            f"got in_channels={conv.in_channels}, groups={conv.groups}"
        )
    w = conv.weight.detach().double()  # (O, 3, k, k): double keeps the fold exact to fp32
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    w_grey = (w / (2.0 * s)).sum(dim=1, keepdim=True)
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0]).double()
    b_grey = b + (w * ((0.5 - m) / s)).sum(dim=(1, 2, 3))
    new = nn.Conv2d(
        1,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    new.weight.copy_(w_grey.to(conv.weight.dtype))
    assert new.bias is not None
    new.bias.copy_(b_grey.to(conv.weight.dtype))
    return new


def grey_to_normalised_rgb(
    x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """Reference path: grey ``[-1, 1]`` (B,1,H,W) -> the ImageNet-normalised RGB copy (B,3,H,W)."""
    u = (x + 1.0) / 2.0
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (u.expand(-1, len(mean), -1, -1) - m) / s


def get_submodule_parent(root: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    """``root``'s submodule holding the last component of ``dotted``, and that component."""
    parent_path, _, leaf = dotted.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    return parent, leaf


def replace_first_conv(
    root: nn.Module, dotted: str, mean: Sequence[float], std: Sequence[float]
) -> None:
    """Swap the conv at ``dotted`` for its grey-input fold (in place)."""
    parent, leaf = get_submodule_parent(root, dotted)
    conv = root.get_submodule(dotted)
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"{dotted} is {type(conv).__name__}, not Conv2d")
    # setattr also replaces numbered children of nn.Sequential ("features.0")
    setattr(parent, leaf, fold_grey_input(conv, mean, std))
