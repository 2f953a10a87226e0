"""The compact U-Net: shapes, and a few training steps on exact phantom masks improve Dice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cxr.lungs.mask_dataset import MaskPairs
from cxr.lungs.seg_losses import dice_bce_loss, soft_dice_loss
from cxr.lungs.seg_module import hard_dice
from cxr.lungs.unet import UNet


def test_unet_keeps_the_input_size_and_checks_it() -> None:
    net = UNet(base=4, depth=3)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="not divisible"):
        net(torch.zeros(1, 1, 30, 30))


def test_soft_dice_loss_is_zero_for_a_confident_exact_prediction() -> None:
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    logits = (target * 2 - 1) * 50
    assert soft_dice_loss(logits, target).item() < 1e-3
    assert soft_dice_loss(-logits, target).item() > 0.9


def test_augmented_pairs_are_replayable_and_aligned() -> None:
    img = np.zeros((1, 32, 32), np.uint8)
    img[0, 8:24, 8:24] = 200
    ds = MaskPairs(img, img > 0, augment=True, seed=3)
    ds.set_epoch(2)
    x1, y1 = ds[0]
    x2, y2 = ds[0]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    # the mask moves with the image: bright pixels are lung pixels
    assert ((x1[0] > 0.2) == (y1[0] > 0.5)).float().mean() > 0.95


def test_a_few_steps_on_phantom_masks_raise_dice(tmp_path) -> None:
    from cxr.config import PhantomConfig
    from cxr.data.images.imageio import read_image_u8
    from cxr.data.images.preprocess import square_resize
    from cxr.phantom import generate_phantoms

    ds = generate_phantoms(tmp_path / "ph", PhantomConfig(patients=8, seed=1, image_size=32),
                           workers=1, progress=False)
    imgs, masks = [], []
    for p in sorted((ds / "images").glob("*.png"))[:12]:
        imgs.append(square_resize(read_image_u8(p), 32))
        masks.append(square_resize(read_image_u8(ds / "masks" / "lung" / p.name), 32) > 127)
    pairs = MaskPairs(np.stack(imgs), np.stack(masks))
    x = torch.stack([pairs[i][0] for i in range(len(pairs))])
    y = torch.stack([pairs[i][1] for i in range(len(pairs))])
    torch.manual_seed(0)
    net = UNet(base=8, depth=3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.eval()
    with torch.no_grad():
        before = hard_dice(net(x), y).mean().item()
    net.train()
    for _ in range(60):
        opt.zero_grad()
        dice_bce_loss(net(x), y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        after = hard_dice(net(x), y).mean().item()
    assert after > before + 0.2 and after > 0.7, (before, after)
