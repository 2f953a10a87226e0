"""The reference CycleGAN training step, for side-by-side timings with cxr's.

A harness of ``CycleGANModel.optimize_parameters`` from the authors' reference
implementation (junyanz/pytorch-CycleGAN-and-pix2pix, ``models/cycle_gan_model.py``,
``models/networks.py`` ``GANLoss('lsgan')``, ``util/image_pool.py``), written out in
plain PyTorch without the options object, on the same generator and discriminator
that cxr trains (:mod:`cxr.cyclegan.networks`, which follow the reference's
``networks.py``). One step: forward ``G_A(A), G_B(G_A(A)), G_B(B), G_A(G_B(B))``;
the joint generator loss (LSGAN + lambda * cycle + 0.5 * lambda * identity) with the
discriminators frozen; then ``D_A`` and ``D_B`` on real vs pooled fakes, halved.

``precision`` and ``channels_last`` are what the reference lacks; they wrap the same
step (``torch.autocast``, ``memory_format``) so that a comparison is at equal
settings. Nothing here is imported by cxr.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import torch
from torch import nn

from cxr.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, init_weights


class ReferenceImagePool:
    """``util/image_pool.py``: python ``random`` draws; the stored tensor is the new image."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                j = random.randint(0, self.pool_size - 1)
                tmp = self.images[j].clone()
                self.images[j] = image
                out.append(tmp)
            else:
                out.append(image)
        return torch.cat(out, 0)


class ReferenceLSGAN(nn.Module):
    """``networks.GANLoss('lsgan')``: MSE against a registered 1/0 label expanded to the output."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("real_label", torch.tensor(1.0))
        self.register_buffer("fake_label", torch.tensor(0.0))
        self.loss = nn.MSELoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        target = self.real_label if target_is_real else self.fake_label
        return self.loss(prediction, target.expand_as(prediction))


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


class ReferenceCycleGAN:
    """The four networks, two Adam optimisers, two pools and the reference's step."""

    def __init__(
        self,
        *,
        ngf: int = 64,
        ndf: int = 64,
        n_blocks: int = 9,
        channels: int = 1,
        device: str | torch.device = "cpu",
        precision: str = "32-true",
        channels_last: bool = False,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        lr: float = 2e-4,
        pool_size: int = 50,
        seed: int = 0,
        nets: dict[str, nn.Module] | None = None,
    ) -> None:
        self.device = torch.device(device)
        if nets is None:
            nets = {
                "G_A": ResnetGenerator(channels, channels, ngf, n_blocks),
                "G_B": ResnetGenerator(channels, channels, ngf, n_blocks),
                "D_A": NLayerDiscriminator(channels, ndf, 3),
                "D_B": NLayerDiscriminator(channels, ndf, 3),
            }
            for i, net in enumerate(nets.values()):
                init_weights(net, seed=seed * 100 + i)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.memory_format = fmt
        self.G_A, self.G_B, self.D_A, self.D_B = (
            nets[k].to(self.device, memory_format=fmt) for k in ("G_A", "G_B", "D_A", "D_B")
        )
        self.crit_gan = ReferenceLSGAN().to(self.device)
        self.crit_cycle = nn.L1Loss()
        self.crit_idt = nn.L1Loss()
        self.lambda_A = self.lambda_B = lambda_cycle
        self.lambda_idt = lambda_identity
        self.opt_G = torch.optim.Adam(
            itertools.chain(self.G_A.parameters(), self.G_B.parameters()), lr=lr, betas=(0.5, 0.999)
        )
        self.opt_D = torch.optim.Adam(
            itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr=lr, betas=(0.5, 0.999)
        )
        self.fake_A_pool = ReferenceImagePool(pool_size)
        self.fake_B_pool = ReferenceImagePool(pool_size)
        self.autocast_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(
            precision
        )
        if precision not in ("32-true", "bf16-mixed", "16-mixed"):
            raise ValueError(f"precision: 32-true, bf16-mixed or 16-mixed, not {precision!r}")
        # fp16 needs loss scaling (the reference has none; torch's GradScaler, as Lightning does)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "16-mixed")
        random.seed(seed)

    def compile(self) -> None:
        for net in (self.G_A, self.G_B, self.D_A, self.D_B):
            net.compile()

    def _autocast(self) -> Any:
        return torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        )

    def set_input(self, real_A: torch.Tensor, real_B: torch.Tensor) -> None:
        fmt = self.memory_format
        self.real_A = real_A.to(self.device, memory_format=fmt)
        self.real_B = real_B.to(self.device, memory_format=fmt)

    def _backward_D_basic(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> Any:
        with self._autocast():
            loss = (self.crit_gan(net(real), True) + self.crit_gan(net(fake.detach()), False)) * 0.5
        self.scaler.scale(loss).backward()
        return loss

    def optimize_parameters(self) -> dict[str, float]:
        """One reference training step; returns the G and D losses (host floats only on demand)."""
        with self._autocast():
            self.fake_B = self.G_A(self.real_A)
            self.rec_A = self.G_B(self.fake_B)
            self.fake_A = self.G_B(self.real_B)
            self.rec_B = self.G_A(self.fake_A)
        _set_requires_grad([self.D_A, self.D_B], False)
        self.opt_G.zero_grad()
        with self._autocast():
            lam_idt = self.lambda_idt
            if lam_idt > 0:
                idt_A = self.G_A(self.real_B)
                loss_idt_A = self.crit_idt(idt_A, self.real_B) * self.lambda_B * lam_idt
                idt_B = self.G_B(self.real_A)
                loss_idt_B = self.crit_idt(idt_B, self.real_A) * self.lambda_A * lam_idt
            else:
                loss_idt_A = loss_idt_B = torch.zeros((), device=self.device)
            loss_G = (
                self.crit_gan(self.D_A(self.fake_B), True)
                + self.crit_gan(self.D_B(self.fake_A), True)
                + self.crit_cycle(self.rec_A, self.real_A) * self.lambda_A
                + self.crit_cycle(self.rec_B, self.real_B) * self.lambda_B
                + loss_idt_A
                + loss_idt_B
            )
        self.scaler.scale(loss_G).backward()
        self.scaler.step(self.opt_G)
        _set_requires_grad([self.D_A, self.D_B], True)
        self.opt_D.zero_grad()
        fake_B = self.fake_B_pool.query(self.fake_B)
        loss_D_A = self._backward_D_basic(self.D_A, self.real_B, fake_B)
        fake_A = self.fake_A_pool.query(self.fake_A)
        loss_D_B = self._backward_D_basic(self.D_B, self.real_A, fake_A)
        self.scaler.step(self.opt_D)
        self.scaler.update()
        self.losses = {"G": loss_G.detach(), "D": (loss_D_A + loss_D_B).detach()}
        return self.losses
