"""CycleGAN networks, losses, pool and one optimisation step of the LightningModule."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from cxr.config import GanConfig
from cxr.cyclegan.gan_losses import cycle_loss, lsgan_d_loss, lsgan_g_loss
from cxr.cyclegan.gan_module import LOSS_NAMES, linear_decay
from cxr.cyclegan.image_pool import ImagePool
from cxr.cyclegan.networks import (
    NLayerDiscriminator,
    ResnetGenerator,
    auto_n_blocks,
    count_parameters,
)
from cxr.pipelines.gan.train_gan import build_module, build_networks


def test_reference_parameter_counts() -> None:
    # resnet_9blocks, ngf 64, 3->3 channels: the published 11.378 M; basic D (3 layers): 2.765 M
    assert count_parameters(ResnetGenerator(3, 3, 64, 9)) == 11_378_179
    assert count_parameters(NLayerDiscriminator(3, 64, 3)) == 2_764_737
    # native one-channel radiographs: only the first and last convs shrink
    assert count_parameters(ResnetGenerator(1, 1, 64, 9)) == 11_365_633
    assert count_parameters(NLayerDiscriminator(1, 64, 3)) == 2_762_689
    assert count_parameters(ResnetGenerator(1, 1, 64, 6)) == 7_825_153


def test_shapes_and_ranges() -> None:
    g, d = ResnetGenerator(1, 1, 8, 2), NLayerDiscriminator(1, 8, 3)
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert d(x).shape == (2, 1, 6, 6)  # 70x70 receptive field patches
    with pytest.raises(ValueError, match="multiple of 4"):
        g(torch.zeros(1, 1, 30, 30))
    assert auto_n_blocks(256) == 9 and auto_n_blocks(128) == 6 and auto_n_blocks(64) == 6


def test_losses() -> None:
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert lsgan_g_loss(ones) == 0 and lsgan_g_loss(zeros) == 1
    assert lsgan_d_loss(ones, zeros) == 0 and lsgan_d_loss(zeros, ones) == 1
    assert cycle_loss(ones, zeros, 10.0) == 10


def test_image_pool_state_round_trip() -> None:
    pool = ImagePool(3, seed=5)
    for _ in range(4):
        pool.query(torch.randn(2, 1, 4, 4))
    twin = ImagePool(3, seed=99)
    twin.load_state_dict(pool.state_dict())
    x = torch.randn(4, 1, 4, 4)
    assert torch.equal(pool.query(x), twin.query(x))
    assert len(pool) == 3
    assert torch.equal(ImagePool(0).query(x), x)


def test_linear_decay_matches_reference_rule() -> None:
    rule = linear_decay(3, 3)
    assert [round(rule(e), 4) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]


def test_one_step_updates_all_four_networks() -> None:
    cfg = GanConfig(image_size=32, ngf=4, ndf=4, n_blocks=1, batch_size=2, pool_size=2)
    nets = build_networks(cfg)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in nets.items()}
    module = build_module(nets, cfg)
    u8 = torch.randint(0, 256, (2, 32, 32), dtype=torch.uint8)
    batch = {"A": u8, "B": u8.flip(-1), "A_row": torch.zeros(2), "B_row": torch.zeros(2)}
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, train_dataloaders=DataLoader([batch], batch_size=None))
    for name, net in nets.items():
        changed = [
            not torch.equal(a, p) for a, p in zip(before[name], net.parameters(), strict=True)
        ]
        assert all(changed), f"{name}: {changed.count(False)} parameter tensors not updated"
    logged = trainer.callback_metrics
    for k in LOSS_NAMES:
        assert torch.isfinite(logged[f"epoch/{k}"]), k
