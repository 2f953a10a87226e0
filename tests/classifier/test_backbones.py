"""Backbone registry, grey-input fold, weight loading and classifier checkpoints."""

from __future__ import annotations

import copy
import urllib.error

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from cxr.classifier import ClassifierInfo, create_backbone, list_backbones, load_classifier
from cxr.classifier.checkpoint import save_classifier
from cxr.classifier.pretrained import imagenet_weights_file, strip_prefixes
from cxr.classifier.stem import fold_grey_input, grey_to_normalised_rgb
from cxr.runtime.errors import CheckpointError, ConfigError

EXPECTED = {
    "vgg16", "resnet50", "efficientnet_b0", "resnet18", "densenet121", "squeezenet1_1",
    "inception_v3",
}  # fmt: skip


def _size(name: str) -> int:
    return 75 if name == "inception_v3" else 32


def test_registry_names_and_unknown_name() -> None:
    assert set(list_backbones()) == EXPECTED
    with pytest.raises(ConfigError, match="unknown backbone 'resnet51'.*resnet50"):
        create_backbone("resnet51", 2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_backbone_trains_and_predicts(name: str) -> None:
    torch.manual_seed(0)
    model = create_backbone(name, 3)
    s = _size(name)
    x = torch.rand(4, 1, s, s) * 2 - 1
    y = torch.tensor([0, 1, 2, 1])
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    before = model.head.weight.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    assert not torch.equal(before, model.head.weight), "head did not train"
    model.eval()
    with torch.no_grad():
        logits = model(x)
        emb = model.features(x)
    assert logits.shape == (4, 3) and not torch.isnan(logits).any()
    assert emb.shape == (4, model.num_features) and not torch.isnan(emb).any()
    probs = logits.softmax(1)
    torch.testing.assert_close(probs.sum(1), torch.ones(4))
    assert any(m is model.cam_layer for m in model.modules())
    assert model.in_chans == 1
    # the hooked layer produces a spatial map
    seen: list[torch.Tensor] = []
    h = model.cam_layer.register_forward_hook(lambda _m, _i, o: seen.append(o))
    with torch.no_grad():
        model(x)
    h.remove()
    assert seen and seen[0].ndim == 4


def test_inception_needs_75_px() -> None:
    model = create_backbone("inception_v3", 2)
    with pytest.raises(ConfigError, match="at least 75 px"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ConfigError, match="--image-size 64"):
        model.check_input_size(64)


def test_fold_is_exact_in_the_interior_and_differs_only_at_the_border() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False).double()
    grey = fold_grey_input(conv).double()
    x = (torch.rand(2, 1, 16, 16, dtype=torch.float64) * 2 - 1)
    ref = conv(grey_to_normalised_rgb(x))
    out = grey(x)
    torch.testing.assert_close(out[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], rtol=0, atol=1e-10)
    assert (out[..., 0, :] - ref[..., 0, :]).abs().max() > 1e-3  # zero padding differs


def test_fold_without_padding_is_exact_for_the_whole_network() -> None:
    torch.manual_seed(0)
    rgb = create_backbone("squeezenet1_1", 2, in_chans=3).eval()
    grey = copy.deepcopy(rgb)
    grey.adapt_input(1)
    x = torch.rand(2, 1, 48, 48) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(grey_to_normalised_rgb(x)), rtol=1e-4, atol=1e-5)


def test_inception_fold_matches_torchvision_transform_input() -> None:
    torch.manual_seed(0)
    ref = tvm.inception_v3(aux_logits=False, transform_input=True, init_weights=False).eval()
    ours = create_backbone("inception_v3", 1000, in_chans=3)
    ours.model.load_state_dict(ref.state_dict())
    ours.adapt_input(1)
    ours.eval()
    x = torch.rand(1, 1, 80, 80) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(grey_to_normalised_rgb(x)), rtol=1e-4, atol=1e-4)


def test_local_weights_strip_prefixes_and_report(tmp_path) -> None:
    torch.manual_seed(1)
    src = tvm.resnet18()
    sd = {f"module.{k}": v for k, v in src.state_dict().items()}
    sd["module.extra.weight"] = torch.zeros(3)
    path = tmp_path / "r18.pth"
    torch.save(sd, path)
    model = create_backbone("resnet18", 2, pretrained=path)
    expected = fold_grey_input(src.conv1)
    torch.testing.assert_close(model.model.conv1.weight, expected.weight)
    torch.testing.assert_close(model.model.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    rep = model.load_report
    assert rep.unexpected == ["extra.weight"] and not rep.missing
    assert "unexpected: extra.weight" in rep.summary()
    assert model.head.out_features == 2


def test_local_weights_from_a_grey_cxr_model_load_after_the_fold(tmp_path) -> None:
    a = create_backbone("resnet18", 2)
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in a.state_dict().items()}},
               tmp_path / "a.ckpt")
    b = create_backbone("resnet18", 3, pretrained=tmp_path / "a.ckpt")
    torch.testing.assert_close(b.model.conv1.weight, a.model.conv1.weight)
    assert any(m.startswith("fc.weight") for m in b.load_report.mismatched)


def test_bad_local_weights_name_the_file(tmp_path) -> None:
    bad = tmp_path / "junk.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        create_backbone("resnet18", 2, pretrained=bad)
    with pytest.raises(CheckpointError, match="not found"):
        create_backbone("resnet18", 2, pretrained=tmp_path / "nope.pth")
    torch.save({"foo.bar": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(CheckpointError, match="no tensor fits"):
        create_backbone("resnet18", 2, pretrained=tmp_path / "foreign.pth")


def test_densenet_legacy_keys_are_renamed() -> None:
    model = create_backbone("densenet121", 2, in_chans=3)
    sd = model.remap_state_dict({"features.denseblock1.denselayer1.norm.1.weight": torch.ones(1)})
    assert list(sd) == ["features.denseblock1.denselayer1.norm1.weight"]


def test_imagenet_from_cache_only_never_downloads(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    attempts: list[str] = []

    def no_download(url, *_a, **_k):
        attempts.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    _url, cached = imagenet_weights_file("squeezenet1_1")
    with pytest.raises(CheckpointError, match=str(cached.name)) as err:
        create_backbone("squeezenet1_1", 2, pretrained="imagenet")
    assert str(cached.parent) in str(err.value) and "never downloads" in str(err.value)
    assert attempts == []  # failed at once: no download was even tried
    torch.manual_seed(3)
    src = tvm.squeezenet1_1()
    cached.parent.mkdir(parents=True, exist_ok=True)
    torch.save(src.state_dict(), cached)
    model = create_backbone("squeezenet1_1", 2, pretrained="imagenet")
    torch.testing.assert_close(model.model.features[3].squeeze.weight,
                               src.features[3].squeeze.weight)


def test_strip_prefixes_repeats() -> None:
    assert list(strip_prefixes({"module.model.backbone.conv1.weight": 0})) == ["conv1.weight"]


def test_load_classifier_roundtrip_and_errors(tmp_path) -> None:
    model = create_backbone("resnet18", 2).eval()
    info = ClassifierInfo(classes=("rest", "covid"), task="binary", backbone="resnet18",
                          image_size=32, resize_mode="pad", threshold=0.4)
    path = save_classifier(tmp_path / "best.ckpt", model, info)
    loaded, info2 = load_classifier(path)
    assert info2 == info and not loaded.training
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(CheckpointError, match="missing.ckpt"):
        load_classifier(tmp_path / "missing.ckpt")
    (tmp_path / "trunc.ckpt").write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="trunc.ckpt"):
        load_classifier(tmp_path / "trunc.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a cxr classifier checkpoint"):
        load_classifier(tmp_path / "other.ckpt")
