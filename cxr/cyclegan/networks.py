"""CycleGAN networks: ResNet generator and 70x70 PatchGAN discriminator.

Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017 (arXiv:1703.10593).
The architecture follows the authors' reference implementation
(``pytorch-CycleGAN-and-pix2pix``, ``models/networks.py``):

* **Generator** (Johnson et al., ECCV 2016 style): ``c7s1-ngf, d2ngf, d4ngf,
  n_blocks x R4ngf, u2ngf, u1ngf, c7s1-out`` with reflection padding, instance
  normalisation without affine parameters (so every conv keeps its bias) and a
  ``tanh`` output. 9 residual blocks for 256 px images, 6 for 128 px and below.
* **Discriminator**: PatchGAN (Isola et al., CVPR 2017) with ``n_layers=3``,
  whose output units each see a 70x70 patch; LeakyReLU(0.2), no norm on the
  first layer.

Weights are initialised N(0, 0.02) as in the reference code. Channels are a
parameter: cxr uses native one-channel radiographs (``in_ch=out_ch=1``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "NLayerDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "auto_n_blocks",
    "count_parameters",
    "init_weights",
]


def _norm(ch: int) -> nn.Module:
    # reference: InstanceNorm2d(affine=False, track_running_stats=False) -> convs keep bias
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


def auto_n_blocks(image_size: int) -> int:
    """Residual blocks used by the reference code: 9 for 256 px, 6 for 128 px and below."""
    return 9 if image_size > 128 else 6


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convs with an identity shortcut (He et al., CVPR 2016)."""

    def __init__(self, dim: int, use_dropout: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, bias=True),
            _norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=True), _norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator: 2 stride-2 downsamplings, residual blocks, 2 upsamplings.

    Input height and width must be multiples of 4. Output in ``[-1, 1]`` (tanh),
    the network range of :mod:`cxr.data.images.intensity`.
    """

    def __init__(
        self,
        in_ch: int = 1,
        out_ch: int = 1,
        ngf: int = 64,
        n_blocks: int = 9,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, kernel_size=7, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # downsampling
            mult = 2**i
            layers += [
                nn.Conv2d(
                    ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=True
                ),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, use_dropout) for _ in range(n_blocks)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=True,
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f"generator input size must be a multiple of 4, got {tuple(x.shape[-2:])}"
            )
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, one per (70x70 for n_layers=3) patch."""

    def __init__(self, in_ch: int = 1, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        kw, padw = 4, 1
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, ndf, kernel_size=kw, stride=2, padding=padw),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(
                    ndf * prev, ndf * mult, kernel_size=kw, stride=2, padding=padw, bias=True
                ),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, kernel_size=kw, stride=1, padding=padw, bias=True),
            _norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, kernel_size=kw, stride=1, padding=padw),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02, seed: int | None = None) -> nn.Module:
    """Reference ``init_type='normal'``: conv weights N(0, gain), biases 0.

    ``seed`` makes the initialisation reproducible without touching the global RNG.
    """
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
