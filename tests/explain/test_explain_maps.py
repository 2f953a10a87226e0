"""Grad-CAM / Grad-CAM++ / saliency maps: shapes, agreement with pytorch-grad-cam, hook hygiene."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cxr.explain import cam, explain_batch, fastcam, saliency
from cxr.explain.targets import class_score, probabilities


class TinyNet(nn.Module):
    """A backbone-shaped toy: ``forward_features``/``forward_head`` and ``cam_layer``."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, num_classes)
        self.cam_layer = self.block

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._backward_hooks)
        + len(m._forward_pre_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )


def _batch(n: int = 4, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("num_classes", [3, 1])
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_fast_cam_matches_pytorch_grad_cam(method: str, num_classes: int) -> None:
    torch.manual_seed(0)
    model = TinyNet(num_classes).eval()
    x = _batch(6)
    target = (
        torch.tensor([0, 1, 0, 1, 1, 0]) if num_classes == 1 else torch.tensor([0, 1, 2, 0, 1, 2])
    )
    ref = cam.library_cam(model, x, target.tolist(), method=method)
    fast, logits = fastcam.fast_cam(model, x, target, method=method)
    assert ref.shape == fast.shape == (6, 32, 32)
    assert float(np.abs(ref - fast.numpy()).max()) < 1e-4
    assert logits.shape == (6, num_classes)
    assert _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_binary_target_flips_sign() -> None:
    logits = torch.tensor([[2.0], [-1.0]])
    assert class_score(logits, torch.tensor([1, 0])).tolist() == [2.0, 1.0]
    assert probabilities(logits)[:, 1].tolist() == pytest.approx(
        torch.sigmoid(logits[:, 0]).tolist()
    )
    multi = torch.tensor([[1.0, 3.0], [0.5, -2.0]])
    assert class_score(multi, torch.tensor([1, 0])).tolist() == [3.0, 0.5]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "saliency", "smoothgrad"])
@pytest.mark.parametrize("engine", ["fast", "library"])
def test_explain_batch_shapes_and_range(method: str, engine: str) -> None:
    model = TinyNet().eval()
    x = _batch(3, 40)
    maps, logits = explain_batch(
        model, x, torch.tensor([0, 1, 2]), method=method, engine=engine, smooth_samples=3
    )
    assert maps.shape == (3, 40, 40) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    assert logits.shape == (3, 3)
    assert _hooks(model) == 0


def test_saliency_is_the_input_gradient() -> None:
    model = TinyNet().eval()
    x = _batch(2)
    target = torch.tensor([1, 2])
    maps, _ = saliency.saliency(model, x, target)
    assert all(p.grad is None for p in model.parameters())  # only the input got a gradient
    xr = x.clone().requires_grad_(True)
    model(xr).gather(1, target.view(-1, 1)).sum().backward()
    assert xr.grad is not None
    g = xr.grad.abs()[:, 0]
    # normalisation by a per-image percentile keeps the ordering of pixels
    flat_ref, flat = g[0].flatten(), maps[0].flatten()
    top = flat_ref.argsort(descending=True)[:20]
    assert torch.all(flat[top] >= flat.median())


def test_smoothgrad_is_seeded() -> None:
    model = TinyNet().eval()
    x = _batch(2)
    t = torch.tensor([0, 1])
    a, _ = saliency.smoothgrad(model, x, t, samples=4, seed=3)
    b, _ = saliency.smoothgrad(model, x, t, samples=4, seed=3)
    c, _ = saliency.smoothgrad(model, x, t, samples=4, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


class Boom(TinyNet):
    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("head exploded")


@pytest.mark.parametrize("method", ["gradcam", "saliency"])
@pytest.mark.parametrize("engine", ["fast", "library"])
def test_hooks_released_on_error(method: str, engine: str) -> None:
    model = Boom().eval()
    with pytest.raises(RuntimeError, match="exploded"):
        explain_batch(model, _batch(2), torch.tensor([0, 1]), method=method, engine=engine)
    assert _hooks(model) == 0


def test_missing_cam_layer_is_a_clear_error() -> None:
    from cxr.runtime.errors import ConfigError

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ConfigError, match="cam_layer"):
        fastcam.fast_cam(model, _batch(1), torch.tensor([0]))


class CornerNet(nn.Module):
    """Hand-set local detector: the cam layer responds only where the input is bright.

    A 3x3 box filter -> ReLU(sum - 4.5) is positive only where a 3x3 window is
    bright (pixels at +1 on a -1 background), then 2x2 average pooling halves
    the grid (so upsampling must map cells back to the right pixels). The head
    is ``sign * mean``: the bright spot is evidence for class 1 (``sign=+1``)
    or, through the one-logit sign flip, for class 0 (``sign=-1``).
    """

    def __init__(self, num_classes: int, sign: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(-4.5)
        self.cam_layer = nn.Sequential(nn.ReLU(), nn.AvgPool2d(2))
        self.fc = nn.Linear(1, num_classes)
        with torch.no_grad():
            self.fc.bias.zero_()
            w = torch.full((num_classes, 1), -sign)
            w[-1] = sign
            self.fc.weight.copy_(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.cam_layer(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("engine", ["fast", "library"])
@pytest.mark.parametrize(
    ("num_classes", "sign", "target"), [(2, 1.0, 1), (1, 1.0, 1), (1, -1.0, 0), (3, 1.0, 2)]
)
def test_cam_peak_lands_on_the_evidence(
    engine: str, num_classes: int, sign: float, target: int
) -> None:
    """Regression: the map's maximum sits on the only evidence, in an asymmetric corner.

    Catches transposed axes, flips, off-by-one upsampling and a wrong target
    sign (a flipped sign makes the map flat, so the peak spreads everywhere).
    """
    from cxr.explain.scores import pointing_game

    x = torch.full((2, 1, 32, 32), -1.0)
    evidence = np.zeros((2, 32, 32), dtype=bool)
    evidence[0, 2:8, 22:28] = True  # top right
    evidence[1, 24:30, 3:9] = True  # bottom left
    x[torch.from_numpy(evidence)[:, None]] = 1.0
    model = CornerNet(num_classes, sign).eval()
    for method in ("gradcam", "gradcam++"):
        maps, _ = explain_batch(
            model, x, torch.tensor([target, target]), method=method, engine=engine
        )
        for i in range(2):
            assert pointing_game(maps[i], evidence[i]) == 1.0, (method, i)
            assert maps[i][evidence[i]].mean() > 4 * maps[i][~evidence[i]].mean()


def test_cam_grid_and_coarse_grid_note() -> None:
    model = TinyNet().train()
    assert cam.cam_grid(model, 32) == (16, 16)
    assert model.training  # the probe restores the mode it found
    assert cam.cam_grid(model, 12) == (6, 6)
    assert cam.coarse_grid_note((16, 16), 32) is None
    note = cam.coarse_grid_note((4, 4), 128)
    assert note is not None and "4x4" in note and "128 px" in note


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "saliency", "smoothgrad"])
def test_raw_maps_give_back_the_per_image_maps(method: str) -> None:
    from cxr.explain import map_peaks, normalise_maps

    model = TinyNet().eval()
    with torch.no_grad():  # raw maps of order 1: the 1e-7 guards of min-max stay negligible
        model.fc.weight.mul_(1000.0)
    x = _batch(3, 32)
    t = torch.tensor([0, 1, 2])
    kw = {"method": method, "smooth_samples": 3, "seed": 1}
    norm, _ = explain_batch(model, x, t, **kw)
    raw, logits = explain_batch(model, x, t, normalise=False, **kw)
    assert raw.shape == (3, 32, 32) and logits.shape == (3, 3)
    assert np.isfinite(raw).all() and raw.min() >= 0.0
    np.testing.assert_allclose(normalise_maps(raw, method), norm, atol=1e-4)
    peaks = map_peaks(raw, method)
    assert peaks.shape == (3,)
    if method in ("gradcam", "gradcam++"):
        np.testing.assert_allclose(peaks, raw.reshape(3, -1).max(axis=1))
    else:
        assert np.all(peaks <= raw.reshape(3, -1).max(axis=1))


def test_raw_cam_scales_with_the_class_score() -> None:
    """Doubling the head's weights doubles dy/dA and the raw map; the per-image map is unchanged."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    x, t = _batch(2), torch.tensor([0, 1])
    raw1, _ = explain_batch(model, x, t, normalise=False)
    norm1, _ = explain_batch(model, x, t)
    with torch.no_grad():
        model.fc.weight.mul_(2.0)
    raw2, _ = explain_batch(model, x, t, normalise=False)
    norm2, _ = explain_batch(model, x, t)
    np.testing.assert_allclose(raw2, 2.0 * raw1, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(norm2, norm1, atol=1e-5)


def test_raw_maps_need_the_fast_engine() -> None:
    from cxr.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="engine fast"):
        explain_batch(
            TinyNet().eval(), _batch(1), torch.tensor([0]), engine="library", normalise=False
        )


def test_cam_stage_choice_follows_the_grid() -> None:
    """auto: the last stage when it has >= 7 cells a side, else the deepest finer stage that
    has; last and a stage name are taken as given; an unknown name names the valid ones."""
    from cxr.classifier import create_backbone
    from cxr.runtime.errors import ConfigError

    model = create_backbone("resnet18", 1, in_chans=1).eval()
    assert model.cam_layer is model.model.layer4  # the default is the last stage
    stage, grid, note = cam.choose_cam_stage(model, "auto", 224)
    assert (stage, grid, note) == ("layer4", (7, 7), None)
    stage, grid, note = cam.choose_cam_stage(model, "auto", 64)
    assert (stage, grid) == ("layer2", (8, 8)) and model.cam_layer is model.model.layer2
    assert note is not None and "instead of the last stage layer4 (2x2" in note
    assert cam.choose_cam_stage(model, "auto", 112)[:2] == ("layer3", (7, 7))
    assert cam.choose_cam_stage(model, "last", 64)[:2] == ("layer4", (2, 2))
    assert model.cam_layer is model.model.layer4
    assert cam.choose_cam_stage(model, "layer3", 64)[:2] == ("layer3", (4, 4))
    with pytest.raises(ConfigError, match="valid: last, layer4, layer3, layer2"):
        cam.choose_cam_stage(model, "layer9", 64)
    # a custom network with a fixed cam_layer keeps it
    tiny = TinyNet()
    assert cam.choose_cam_stage(tiny, "auto", 32) == ("", (16, 16), None)
    with pytest.raises(ConfigError, match="names no Grad-CAM stages"):
        cam.choose_cam_stage(tiny, "layer3", 32)


def test_every_backbone_names_hookable_cam_stages() -> None:
    """Each named stage exists, and finer stages have at least as many cells."""
    from cxr.classifier import create_backbone, list_backbones

    for name in list_backbones():
        model = create_backbone(name, 2, in_chans=1).eval()
        size = max(96, model.min_input_size)
        cells = []
        for stage in model.cam_stages:
            model.set_cam_stage(stage)
            assert model.cam_layer is model.model.get_submodule(stage)
            cells.append(min(cam.cam_grid(model, size)))
        assert cells == sorted(cells) and cells[-1] > cells[0], (name, cells)
