"""torchxrayvision weight files with random weights, laid out as a user places the real ones.

``place_densenet`` pickles a whole ``xrv.models.DenseNet`` (as the DenseNet releases are) and
``place_resnet`` saves the state dict of torchxrayvision's one-channel ResNet-50 (as the
ResNet release is), each under the release's file name in ``<home>/.torchxrayvision/models_data/``
or a folder given. Batch-norm statistics are randomised too, so that a wrong mapping shows.
Downloads are made impossible: the reference models are built from these files only.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from cxr.classifier.txv_weights import import_xrv
from cxr.runtime.errors import ConfigError

DENSENET = "densenet121-res224-all"
RESNET = "resnet50-res512-all"


def xrv_or_skip() -> ModuleType:
    try:
        xrv = import_xrv()
    except ConfigError:
        pytest.skip("torchxrayvision is not installed (pip install 'cxr[txv]')")
    return xrv


def no_downloads(monkeypatch: pytest.MonkeyPatch, xrv: ModuleType) -> None:
    def refuse(url: str, *_: object) -> None:
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(xrv.utils, "download", refuse)


def release_file(xrv: ModuleType, name: str) -> str:
    return str(xrv.models.model_urls[name]["weights_url"]).rsplit("/", 1)[-1]


@torch.no_grad()
def randomise(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.copy_(0.2 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
    return model.eval()


def place_densenet(xrv: ModuleType, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = randomise(xrv.models.DenseNet(), seed)
    path = folder / release_file(xrv, DENSENET)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, path)
    return path


def place_resnet(xrv: ModuleType, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    n = len(xrv.models.model_urls[RESNET]["labels"])
    model = torchvision.models.resnet50(num_classes=n, weights=None)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    path = folder / release_file(xrv, RESNET)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(randomise(model, seed).state_dict(), path)
    return path


def radiograph(size: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 image with noise, dark lungs and the full 0..255 range."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 200 - 80 * yy + rng.normal(0, 12, (size, size))
    lungs = (((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1) | (
        ((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1
    )
    img[lungs] -= 120
    img[:4, :4], img[-4:, -4:] = 0, 255
    return np.clip(img, 0, 255).astype(np.uint8)
