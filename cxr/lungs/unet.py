"""A compact U-Net for binary lung-field segmentation (Ronneberger et al., MICCAI 2015).

The encoder halves the resolution ``depth`` times (max pooling), doubling the channels from
``base`` at every level; the decoder upsamples with transposed convolutions and concatenates
the encoder's features at the same scale (the skip connections of the paper). Each level is
two 3x3 convolutions with batch normalisation and ReLU (Ioffe & Szegedy 2015), padded so the
output has the input's size (the paper's unpadded convolutions crop instead). The head is one
1x1 convolution giving one logit per pixel (lung vs not). Random initialisation only: nothing
is downloaded. ``base=16, depth=4`` has about 1.9 M parameters and runs at 128 px on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["UNet"]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """``(N, in_channels, H, W)`` -> ``(N, 1, H, W)`` logits; ``H`` and ``W`` divisible by
    ``2**depth``."""

    def __init__(self, in_channels: int = 1, base: int = 16, depth: int = 4) -> None:
        super().__init__()
        if depth < 1 or base < 1:
            raise ValueError(f"UNet needs depth >= 1 and base >= 1, got {depth}, {base}")
        self.depth = depth
        chans = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, chans[0])])
        self.down.extend(_block(chans[i], chans[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.fuse = nn.ModuleList(_block(2 * chans[i], chans[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = 2**self.depth
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"UNet input {tuple(x.shape[-2:])} is not divisible by {side}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, fuse in zip(self.up, self.fuse, strict=True):
            x = fuse(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)
