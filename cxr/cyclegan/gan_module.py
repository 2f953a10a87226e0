"""CycleGAN training step as a LightningModule (Zhu et al., ICCV 2017).

Follows the Lightning GAN template: manual optimisation, ``toggle_optimizer``
around each update, and the four networks built outside and injected. Name
map to the paper (as in the reference code):

* ``G_A`` = ``G``: A -> B (source -> target, e.g. normal -> covid)
* ``G_B`` = ``F``: B -> A
* ``D_A`` = ``D_Y``: judges images in B (real B vs ``G_A(A)``)
* ``D_B`` = ``D_X``: judges images in A (real A vs ``G_B(B)``)

One step = a joint generator update on ``L_GAN(G, D_Y) + L_GAN(F, D_X) +
lambda * L_cyc + 0.5 * lambda * L_idt`` (Eq. 3 plus identity), then a joint
discriminator update on fakes drawn through the 50-image history pools.
Learning rates are constant for ``epochs`` and then decay linearly to zero
over ``epochs_decay`` (reference ``lambda_rule``).

Every random draw is seeded from ``(seed, epoch, step)`` or lives in a seeded
generator whose state is checkpointed (pools), so resuming from an epoch
checkpoint reproduces the uninterrupted run.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cxr.cyclegan.gan_losses import cycle_loss, identity_loss, lsgan_d_loss, lsgan_g_loss
from cxr.cyclegan.image_pool import ImagePool
from cxr.data.images.intensity import to_network

__all__ = ["CycleGANModule", "LOSS_NAMES", "linear_decay"]

LOSS_NAMES: tuple[str, ...] = (
    "G",
    "G_A",
    "G_B",
    "cycle_A",
    "cycle_B",
    "idt_A",
    "idt_B",
    "D_A",
    "D_B",
)


def linear_decay(epochs: int, epochs_decay: int):  # noqa: ANN201 - returns a LambdaLR rule
    """Reference ``lambda_rule`` (epoch_count=1): 1 for ``epochs``, then linear to ~0."""

    def rule(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1)

    return rule


def shift_flip(x: torch.Tensor, shift: float, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Light on-device augmentation: random integer shift with reflection, optional h-flip.

    A stand-in for the reference ``resize 286 -> random crop 256`` that keeps the
    image size; random draws come from ``gen`` (CPU) so they do not depend on the device.
    """
    b, _, h, w = x.shape
    if shift > 0:
        p = max(1, round(shift * min(h, w)))
        dy = torch.randint(-p, p + 1, (b,), generator=gen)
        dx = torch.randint(-p, p + 1, (b,), generator=gen)
        padded = F.pad(x, (p, p, p, p), mode="reflect")
        x = torch.stack(
            [
                padded[
                    i, :, p + int(dy[i]) : p + int(dy[i]) + h, p + int(dx[i]) : p + int(dx[i]) + w
                ]
                for i in range(b)
            ]
        )
    if flip:
        mask = (torch.rand(b, generator=gen) < 0.5).to(x.device).view(b, 1, 1, 1)
        x = torch.where(mask, x.flip(-1), x)
    return x


def _np_state_to_torch(state: tuple[Any, ...]) -> dict[str, Any]:
    # plain types + tensors only, so checkpoints load with torch.load(weights_only=True)
    name, keys, pos, has_gauss, gauss = state
    return {
        "name": str(name),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }


def _np_state_from_torch(d: dict[str, Any]) -> tuple[Any, ...]:
    keys = d["keys"].numpy().astype(np.uint32)
    return (d["name"], keys, d["pos"], d["has_gauss"], d["gauss"])


class CycleGANModule(L.LightningModule):
    """Orchestrates the two generators and two discriminators; owns no architecture."""

    def __init__(
        self,
        G_A: nn.Module,
        G_B: nn.Module,
        D_A: nn.Module,
        D_B: nn.Module,
        *,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        epochs: int = 100,
        epochs_decay: int = 100,
        pool_size: int = 50,
        aug_shift: float = 0.06,
        aug_flip: bool = False,
        seed: int = 0,
        record: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Adam ``lr``/``betas``; ``lambda_cycle`` (lambda) and ``lambda_identity`` (the identity
        weight as a fraction of lambda); constant LR for ``epochs`` then linear decay over
        ``epochs_decay``; ``pool_size`` images per history pool; on-device shift/flip
        augmentation; ``seed`` for every draw. ``record`` (the run's resolved config) and
        ``meta`` are stored in each checkpoint for synthesis and resuming."""
        super().__init__()
        self.automatic_optimization = False
        self.G_A, self.G_B, self.D_A, self.D_B = G_A, G_B, D_A, D_B
        self.lr, self.betas = lr, betas
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity
        self.epochs, self.epochs_decay = epochs, epochs_decay
        self.aug_shift, self.aug_flip, self.seed = aug_shift, aug_flip, seed
        self.record = dict(record or {})
        self.meta = dict(meta or {})
        # history of generated images shown to the discriminators (reference: fake_B_pool
        # holds G_A's outputs, in domain B, for D_A; fake_A_pool holds G_B's, for D_B)
        self.fake_B_pool = ImagePool(pool_size, seed=seed * 1000 + 1)
        self.fake_A_pool = ImagePool(pool_size, seed=seed * 1000 + 2)

    # ------------------------------------------------------------ optimisers
    def configure_optimizers(self) -> Any:
        lr, betas = self.lr, self.betas
        opt_g = torch.optim.Adam(
            itertools.chain(self.G_A.parameters(), self.G_B.parameters()), lr=lr, betas=betas
        )
        opt_d = torch.optim.Adam(
            itertools.chain(self.D_A.parameters(), self.D_B.parameters()), lr=lr, betas=betas
        )
        rule = linear_decay(self.epochs, self.epochs_decay)
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], scheds

    # ------------------------------------------------------------------ step
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]
        gen = torch.Generator().manual_seed(
            int(
                np.random.SeedSequence([self.seed, self.current_epoch, batch_idx])
                .generate_state(1)[0]
            )
        )
        shift, flip = self.aug_shift, self.aug_flip
        real_A = shift_flip(to_network(batch["A"]).unsqueeze(1), shift, flip, gen)
        real_B = shift_flip(to_network(batch["B"]).unsqueeze(1), shift, flip, gen)
        lam, lam_idt = self.lambda_cycle, self.lambda_cycle * self.lambda_identity

        # --- generators G (G_A) and F (G_B); discriminators frozen by toggle_optimizer
        self.toggle_optimizer(opt_g)
        fake_B = self.G_A(real_A)  # G(x)
        rec_A = self.G_B(fake_B)  # F(G(x))
        fake_A = self.G_B(real_B)  # F(y)
        rec_B = self.G_A(fake_A)  # G(F(y))
        losses: dict[str, torch.Tensor] = {}
        if lam_idt > 0:
            losses["idt_A"] = identity_loss(self.G_A(real_B), real_B, lam_idt)
            losses["idt_B"] = identity_loss(self.G_B(real_A), real_A, lam_idt)
        else:
            losses["idt_A"] = losses["idt_B"] = real_A.new_zeros((), dtype=torch.float32)
        losses["G_A"] = lsgan_g_loss(self.D_A(fake_B))
        losses["G_B"] = lsgan_g_loss(self.D_B(fake_A))
        losses["cycle_A"] = cycle_loss(rec_A, real_A, lam)
        losses["cycle_B"] = cycle_loss(rec_B, real_B, lam)
        loss_g = torch.stack(
            [losses[k] for k in ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B")]
        ).sum()
        losses["G"] = loss_g
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # --- discriminators D_Y (D_A) and D_X (D_B) on real vs pooled fakes
        self.toggle_optimizer(opt_d)
        pooled_B = self.fake_B_pool.query(fake_B.detach())
        pooled_A = self.fake_A_pool.query(fake_A.detach())
        losses["D_A"] = lsgan_d_loss(self.D_A(real_B), self.D_A(pooled_B))
        losses["D_B"] = lsgan_d_loss(self.D_B(real_A), self.D_B(pooled_A))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(losses["D_A"] + losses["D_B"])
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        bs = real_A.shape[0]
        self.log_dict(
            {
                f"loss/{k}": v.detach().float()
                for k, v in losses.items()
                if k in ("G", "D_A", "D_B")
            },
            prog_bar=True,
            on_step=True,
            on_epoch=False,
            batch_size=bs,
        )
        self.log_dict(
            {f"epoch/{k}": losses[k].detach().float() for k in LOSS_NAMES},
            on_step=False,
            on_epoch=True,
            batch_size=bs,
            sync_dist=True,
        )

    def on_train_epoch_end(self) -> None:
        for sch in self.lr_schedulers():  # type: ignore[union-attr]
            sch.step()

    # ------------------------------------------------------------ translate
    @torch.no_grad()
    def translate(
        self, x: torch.Tensor, direction: str = "AtoB"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(translated, reconstructed)`` for network-range input ``(B, 1, S, S)``."""
        g, f = (self.G_A, self.G_B) if direction == "AtoB" else (self.G_B, self.G_A)
        fake = g(x)
        return fake, f(fake)

    # ---------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cxr_gan"] = {
            "config": self.record,
            "meta": self.meta,
            # the checkpoint format names the pools by the generator that fills them
            "pool_A": self.fake_B_pool.state_dict(),
            "pool_B": self.fake_A_pool.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": _np_state_to_torch(tuple(np.random.get_state())),
                "python": random.getstate(),
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["cxr_gan"]
        self.fake_B_pool.load_state_dict(state["pool_A"])
        self.fake_A_pool.load_state_dict(state["pool_B"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(_np_state_from_torch(rng["numpy"]))
        random.setstate(rng["python"])
