"""XrayDataset: sample contract, subsets aligned by index, transforms, DataLoader workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from support.gan_fixtures import write_images
from torch.utils.data import DataLoader

from cxr.data.images.cache import build_cache
from cxr.data.images.dataset import XrayDataset
from cxr.runtime.errors import ManifestError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    df = write_images(root / "img", n=12)
    cache = build_cache(df, image_size=16, cache_dir=root / "c", workers=1, progress=False)
    return df, cache


def test_sample_contract(built) -> None:
    df, cache = built
    ds = XrayDataset(df, cache)
    assert len(ds) == 12
    s = ds[3]
    assert set(s) == {"image", "label", "patient_id", "origin", "index"}
    assert s["image"].dtype == torch.float32 and s["image"].shape == (1, 16, 16)
    assert float(s["image"].min()) >= -1.0 and float(s["image"].max()) <= 1.0
    expected = torch.from_numpy(cache.images[3].astype(np.float32) / 127.5 - 1.0)
    assert torch.allclose(s["image"][0], expected)
    assert s["label"] == 2 and ds[2]["label"] == 0  # LABELS.index("normal"), ("covid")
    assert (s["patient_id"], s["origin"], s["index"]) == ("ds:p1", "real", 3)
    assert XrayDataset(df, cache, targets=np.arange(12) % 3)[5]["label"] == 2


def test_subset_keeps_manifest_rows(built) -> None:
    df, cache = built
    train = df[df["split"] == "train"]
    ds = XrayDataset(train, cache)
    assert len(ds) == 6 and [ds[i]["index"] for i in range(6)] == list(train.index)
    assert torch.equal(ds[1]["image"], XrayDataset(df, cache)[int(train.index[1])]["image"])
    with pytest.raises(ManifestError, match="reset_index"):
        XrayDataset(train.reset_index(drop=True), cache)
    with pytest.raises(ManifestError, match="do not match|reset_index"):
        XrayDataset(df.iloc[::-1].reset_index(drop=True), cache)


def test_transform(built) -> None:
    df, cache = built
    flipped = XrayDataset(df, cache, transform=lambda a: a[:, ::-1].copy())
    assert torch.equal(flipped[0]["image"], XrayDataset(df, cache)[0]["image"].flip(-1))
    bad = XrayDataset(df, cache, transform=lambda a: a.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        bad[0]


def test_pickles_without_pixels(built) -> None:
    df, cache = built
    ds = XrayDataset(df, cache)
    ds[0]  # opens the memmap
    assert cache._store is not None
    blob = pickle.dumps(cache)
    assert len(blob) < 4096 and pickle.loads(blob)._store is None


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader(built, workers: int) -> None:
    df, cache = built
    loader = DataLoader(XrayDataset(df, cache), batch_size=5, num_workers=workers)
    batches = list(loader)
    assert [b["image"].shape[0] for b in batches] == [5, 5, 2]
    images = torch.cat([b["image"] for b in batches])
    ref = torch.from_numpy(np.asarray(cache.images, dtype=np.float32) / 127.5 - 1.0)
    assert torch.allclose(images[:, 0], ref)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(12))
    assert batches[0]["patient_id"][:2] == ["ds:p0", "ds:p0"]
