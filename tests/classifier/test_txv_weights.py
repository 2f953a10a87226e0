"""`--pretrained txv:NAME`: torchxrayvision's weights in a cxr backbone, checked against
torchxrayvision's own forward pass on the same image (random weights in placed files)."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from support.txv_fixtures import (
    DENSENET,
    RESNET,
    no_downloads,
    place_densenet,
    place_resnet,
    radiograph,
    release_file,
    xrv_or_skip,
)

from cxr.classifier.checkpoint import ClassifierInfo, load_classifier, save_classifier
from cxr.classifier.factory import create_backbone
from cxr.classifier.txv_weights import (
    XRV_SCALE,
    import_xrv,
    parse_txv,
    read_txv_state_dict,
    txv_names,
)
from cxr.data.images.intensity import to_network
from cxr.runtime.errors import CheckpointError, ConfigError


@pytest.fixture(scope="module")
def xrv():
    return xrv_or_skip()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xrv) -> Path:
    """A HOME whose ~/.torchxrayvision/models_data/ is torchxrayvision's cache dir."""
    monkeypatch.setenv("HOME", str(tmp_path))
    no_downloads(monkeypatch, xrv)
    return tmp_path / ".torchxrayvision" / "models_data"


def _xrv_input(xrv, u8: np.ndarray) -> torch.Tensor:
    """torchxrayvision's own preprocessing of uint8 (N, H, W): [-1024, 1024], (N, 1, H, W)."""
    t = torch.from_numpy(xrv.utils.normalize(u8.astype(np.float32), 255)).float()
    return t.reshape(-1, 1, *t.shape[-2:])


def test_intensity_mapping_is_exact(xrv) -> None:
    u8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ours = to_network(u8)[None, None] * XRV_SCALE
    torch.testing.assert_close(ours, _xrv_input(xrv, u8), rtol=0, atol=1e-3)
    assert float(ours.min()) == -1024 and float(ours.max()) == 1024


def test_densenet_features_equal_torchxrayvision(home: Path, xrv) -> None:
    place_densenet(xrv, home)
    ref = xrv.models.DenseNet(weights=DENSENET)  # torchxrayvision loads the placed file itself
    assert ref.input_resolution == 224
    model = create_backbone("densenet121", 2, pretrained=f"txv:{DENSENET}").eval()
    assert model.in_chans == 1 and model.load_report.input_size == 224
    assert not model.load_report.missing and model.load_report.sha256
    u8 = np.stack([radiograph(224, 0), radiograph(224, 1)])
    with torch.no_grad():
        want = ref.features2(_xrv_input(xrv, u8))
        got = model.features(to_network(u8).unsqueeze(1))
    assert got.shape == want.shape == (2, 1024)
    assert want.abs().max() > 1e-2 and (want[0] - want[1]).abs().max() > 1e-3  # not degenerate
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_resnet_features_equal_torchxrayvision(tmp_path: Path, xrv, monkeypatch) -> None:
    no_downloads(monkeypatch, xrv)
    place_resnet(xrv, tmp_path / "weights")
    ref = xrv.models.ResNet(weights=RESNET, cache_dir=str(tmp_path / "weights"))
    # the user's own folder: txv:NAME=FOLDER (the file under its release name)
    model = create_backbone("resnet50", 3, pretrained=f"txv:{RESNET}={tmp_path / 'weights'}")
    model.eval()
    assert model.load_report.input_size == 512
    u8 = radiograph(512, 3)
    with torch.no_grad():
        want = ref.features(_xrv_input(xrv, u8))
        got = model.features(to_network(u8)[None, None])
    assert got.shape == want.shape == (1, 2048) and want.abs().max() > 1e-2
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_names_aliases_and_paths(home: Path, tmp_path: Path, xrv) -> None:
    assert {DENSENET, RESNET} <= set(txv_names())
    assert parse_txv("txv:all").name == DENSENET  # torchxrayvision's alias
    w = parse_txv(f"txv:{RESNET}")
    assert (w.backbone, w.resolution, w.file) == ("resnet50", 512, home / release_file(xrv, RESNET))
    elsewhere = tmp_path / "mine.pt"
    assert parse_txv(f"txv:{DENSENET}={elsewhere}").file == elsewhere
    with pytest.raises(ConfigError, match=r"unknown torchxrayvision weights 'nope' \(valid: .*"
                       + DENSENET):
        parse_txv("txv:nope")


def test_missing_file_names_file_and_folder(home: Path, xrv) -> None:
    with pytest.raises(CheckpointError) as err:
        create_backbone("densenet121", 2, pretrained=f"txv:{DENSENET}")
    msg = str(err.value)
    assert "\n" not in msg and release_file(xrv, DENSENET) in msg and str(home) in msg
    assert "never downloads" in msg and f"txv:{DENSENET}=PATH" in msg
    assert not home.exists()  # nothing fetched, no folder made


def test_backbone_must_match_the_weights(home: Path, xrv) -> None:
    place_densenet(xrv, home)
    with pytest.raises(ConfigError, match="use --backbone densenet121"):
        create_backbone("resnet50", 2, pretrained=f"txv:{DENSENET}")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_with_code_is_refused_and_not_run(home: Path, tmp_path: Path, xrv) -> None:
    evil = _Evil()
    evil.marker = tmp_path / "ran"
    path = home / release_file(xrv, DENSENET)
    path.parent.mkdir(parents=True)
    torch.save({"features.conv0.weight": torch.zeros(1), "x": evil}, path)
    with pytest.raises(CheckpointError, match=r"needs posix.system, not a torch.nn .* refused"):
        create_backbone("densenet121", 2, pretrained=f"txv:{DENSENET}")
    assert not (tmp_path / "ran").exists()


def test_wrong_architecture_in_the_file_is_one_line(home: Path, xrv) -> None:
    path = home / release_file(xrv, DENSENET)
    path.parent.mkdir(parents=True)
    torch.save({"conv1.weight": torch.zeros(64, 1, 7, 7)}, path)
    with pytest.raises(CheckpointError, match="first convolution features.conv0.weight is missing"):
        create_backbone("densenet121", 2, pretrained=f"txv:{DENSENET}")


def test_pickled_model_is_read_as_a_state_dict(home: Path, xrv) -> None:
    path = place_densenet(xrv, home)
    sd = read_txv_state_dict(path, "weights")
    assert "features.conv0.weight" in sd and "op_threshs" not in sd
    assert sd["features.conv0.weight"].shape == (64, 1, 7, 7)


def test_fine_tuned_txv_model_reloads_as_a_cxr_checkpoint(home: Path, tmp_path: Path, xrv) -> None:
    place_densenet(xrv, home)
    model = create_backbone("densenet121", 2, pretrained=f"txv:{DENSENET}").eval()
    info = ClassifierInfo(classes=("other", "covid"), task="binary", backbone="densenet121",
                          image_size=64, resize_mode="pad")
    back, _ = load_classifier(save_classifier(tmp_path / "best.ckpt", model, info))
    x = to_network(radiograph(64, 5))[None, None]
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x))


def _ignores_everything() -> bool:
    return any(f[0] == "ignore" and f[1] is None and f[2] is Warning for f in warnings.filters)


def test_importing_torchxrayvision_leaves_warnings_on(xrv, monkeypatch) -> None:
    # torchxrayvision.models runs warnings.filterwarnings("ignore") on import: a fresh import
    # (its modules dropped from sys.modules for this test only) must not leak it
    for name in [n for n in sys.modules if n.split(".")[0] == "torchxrayvision"]:
        monkeypatch.delitem(sys.modules, name)
    assert not _ignores_everything()
    with warnings.catch_warnings():
        fresh = import_xrv()
        assert fresh is not xrv
    assert not _ignores_everything()
    with warnings.catch_warnings():  # the check can fail: a bare import does leak it
        for name in [n for n in sys.modules if n.split(".")[0] == "torchxrayvision"]:
            del sys.modules[name]
        import torchxrayvision  # noqa: F401

        assert _ignores_everything()


def test_classify_checks_the_weights_before_reading_data(home: Path, tmp_path: Path, xrv) -> None:
    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import check_options

    cfg = ClassifyConfig(manifest=str(tmp_path / "absent.csv"), backbone="densenet121",
                         pretrained=f"txv:{DENSENET}")
    with pytest.raises(CheckpointError, match=release_file(xrv, DENSENET)):
        check_options(cfg)
    place_densenet(xrv, home)
    check_options(cfg)
    with pytest.raises(ConfigError, match="holds densenet121 weights; use --backbone densenet121"):
        check_options(ClassifyConfig(backbone="resnet50", pretrained=f"txv:{DENSENET}"))


def test_classify_run_from_txv_weights(home: Path, tmp_path: Path, xrv) -> None:
    from support.classify_fixtures import make_split_manifest

    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import run_classify

    place_densenet(xrv, home)
    cfg = ClassifyConfig(manifest=str(make_split_manifest(tmp_path / "data", patients=24)),
                         backbone="densenet121", pretrained=f"txv:{DENSENET}", image_size=64,
                         epochs=1, batch_size=8, workers=0, bootstrap=20,
                         cache_dir=str(tmp_path / "cache"))
    res = run_classify(cfg, tmp_path / "run", progress=False)
    model, info = load_classifier(tmp_path / "run" / "best.ckpt")
    assert info.backbone == "densenet121" and model.in_chans == 1
    assert res.metrics
