"""GAN evaluation: FID/KID against torchmetrics and scipy, lesion region, eval run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from cxr.cyclegan.fid_kid import expected_lesion_region, fid_kid, region_change
from cxr.pipelines.gan.gan_eval import find_inception_weights
from cxr.runtime.errors import CheckpointError


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


class TinyNet(nn.Module):
    num_features = 6

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 6, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3)).double()


def test_fid_equals_torchmetrics_and_scipy() -> None:
    g = torch.Generator().manual_seed(0)
    real_img = torch.rand(60, 1, 16, 16, generator=g) * 2 - 1
    fake_img = (torch.rand(50, 1, 16, 16, generator=g) * 2 - 1) * 0.7 + 0.2
    net = TinyNet()
    direct = FrechetInceptionDistance(feature=net)
    direct.update(real_img, real=True)
    direct.update(fake_img, real=False)
    with torch.no_grad():
        fr, ff = net(real_img), net(fake_img)
    ours = fid_kid(fr, ff, kid_subsets=5)
    assert ours["fid"] == pytest.approx(float(direct.compute()), rel=1e-6)
    assert ours["fid"] == pytest.approx(scipy_fid(fr.numpy(), ff.numpy()), rel=1e-5)
    rnd_a = torch.randn(200, 8, generator=g, dtype=torch.float64)
    rnd_b = torch.randn(150, 8, generator=g, dtype=torch.float64) * 1.3 + 0.4
    res = fid_kid(rnd_a, rnd_b, kid_subsets=10)
    assert res["fid"] == pytest.approx(scipy_fid(rnd_a.numpy(), rnd_b.numpy()), rel=1e-5)
    assert res["kid_mean"] > 0 and res["kid_subset_size"] == 150
    same = fid_kid(rnd_a, rnd_a.clone(), kid_subsets=5)
    assert abs(same["fid"]) < 1e-6


def test_lesion_region_and_change() -> None:
    lung = np.zeros((32, 32), bool)
    lung[6:26, 4:13] = True
    lung[6:26, 19:28] = True
    inside, outside = expected_lesion_region(lung)
    ys, xs = np.nonzero(inside)
    assert ys.min() > 15 and set(np.unique(xs < 16)) == {True, False}
    assert all(x < 9 or x > 23 for x in xs)  # lateral halves only
    assert not (inside & outside).any() and ((inside | outside) == lung).all()
    src = np.full((32, 32), 100, np.uint8)
    syn = src.copy()
    syn[inside] = 151
    change = region_change(src, syn, lung)
    assert change is not None
    assert change[0] == pytest.approx(51 / 255) and change[1] == 0


def test_missing_inception_weights_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(CheckpointError, match="pt_inception-2015-12-05-6726825d.pth"):
        find_inception_weights(None)
    f = tmp_path / "w.pth"
    f.write_bytes(b"x")
    assert find_inception_weights(f) == f
