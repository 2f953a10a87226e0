"""build_cache: content-addressed store, reuse by subsets, resumable + atomic builds, disk space,
no decoding on read, CLI."""

from __future__ import annotations

import errno
from unittest import mock

import numpy as np
import pytest
from support.gan_fixtures import write_images
from typer.testing import CliRunner

from cxr.cli import app
from cxr.data.images import cache as cache_mod
from cxr.data.images.cache import CacheSpaceError, build_cache, open_cache
from cxr.data.images.dataset import XrayDataset
from cxr.data.images.preprocess import load_preprocessed
from cxr.data.manifest import new_manifest, save_manifest
from cxr.runtime.errors import ConfigError, ImageReadError, ManifestError


def test_build_content_and_readonly(tmp_path) -> None:
    df = write_images(tmp_path / "img")
    cache = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert len(cache) == 10 and not cache.reused and cache.decoded == 10
    assert cache.images.shape == (10, 24, 24) and cache.images.dtype == np.uint8
    assert not cache.store.flags.writeable
    for i in range(10):
        assert np.array_equal(cache.images[i], load_preprocessed(df["image_path"][i], 24, "pad"))
    assert np.array_equal(cache.batch([3, 1]), cache.images[[3, 1]])
    store = tmp_path / "c" / "px24-pad"
    assert sorted(p.name for p in store.iterdir()) == ["keys.txt", "pixels.u8", "store.lock"]
    assert store.joinpath("keys.txt").read_text().split() == list(df["content_hash"])
    assert store.joinpath("pixels.u8").stat().st_size == 10 * 24 * 24


def test_subset_and_resplit_reuse_without_decoding(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=12)
    build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    subset = df.iloc[[7, 2, 9, 4]].reset_index(drop=True)  # another manifest, other order
    subset["split"] = ["train", "train", "val", "test"]
    with mock.patch("cxr.data.images.preprocess.load_preprocessed",
                    side_effect=AssertionError("decoded")) as decode:
        again = build_cache(subset, image_size=24, cache_dir=tmp_path / "c", workers=1,
                            progress=False)
        # training starts from the subset: the dataset reads the store, nothing is decoded
        batch = [XrayDataset(subset, again)[i]["image"] for i in range(4)]
    assert decode.call_count == 0 and again.reused and again.decoded == 0
    for k, i in enumerate([7, 2, 9, 4]):
        expected = load_preprocessed(df["image_path"][i], 24, "pad")
        assert np.array_equal(again.images[k], expected)
        assert batch[k].shape == (1, 24, 24)
    # a bigger manifest decodes only what the store lacks
    more = new_manifest([*df.to_dict("records"), *write_images(tmp_path / "new", n=3, seed=5)
                         .to_dict("records")])
    grown = build_cache(more, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert grown.decoded == 3 and grown.store_size == 15
    # identical files share one stored image
    twin = df.iloc[[0]].assign(image_path=str(tmp_path / "twin.png"))
    (tmp_path / "twin.png").write_bytes((tmp_path / "img" / "img0.png").read_bytes())
    both = new_manifest([*df.iloc[[0]].to_dict("records"), *twin.to_dict("records")])
    shared = build_cache(both, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert shared.reused and shared.store_rows[0] == shared.store_rows[1]


def test_reuse_without_source_files_and_other_geometry(tmp_path) -> None:
    df = write_images(tmp_path / "img")
    first = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    expected = np.array(first.images)
    for p in df["image_path"]:
        (tmp_path / "img" / p.split("/")[-1]).unlink()
    again = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert again.reused and again.path == first.path
    assert np.array_equal(np.array(again.images), expected)
    assert open_cache(df, image_size=24, resize_mode="crop", cache_dir=tmp_path / "c") is None
    with pytest.raises(ImageReadError, match="img0.png"):  # would need to decode: files gone
        build_cache(df, image_size=24, resize_mode="crop", cache_dir=tmp_path / "c", workers=1,
                    progress=False)


def test_failed_build_keeps_finished_rows_then_resumes(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=40)
    bad = tmp_path / "img" / "img35.png"
    good_bytes = bad.read_bytes()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageReadError, match="img35.png"):
        build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert open_cache(df, image_size=16, cache_dir=tmp_path / "c") is None
    store = tmp_path / "c" / "px16-pad"
    assert len(store.joinpath("keys.txt").read_text().split()) == 35
    # a build killed between its pixel and key writes leaves unnamed bytes and a torn line
    with open(store / "pixels.u8", "ab") as fh:
        fh.write(b"\x07" * 100)
    with open(store / "keys.txt", "a") as fh:
        fh.write("deadbeef")
    for i in range(35):  # finished rows are not decoded again (their files are gone now)
        (tmp_path / "img" / f"img{i}.png").unlink()
    bad.write_bytes(good_bytes)
    cache = build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert cache.decoded == 5
    assert np.array_equal(cache.images[35], load_preprocessed(bad, 16))
    assert np.array(cache.images)[:35].reshape(35, -1).std(axis=1).min() > 0
    assert store.joinpath("pixels.u8").stat().st_size == 40 * 16 * 16


def test_disk_space_checked_and_full_disk_is_one_line(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=4)
    usage = mock.Mock(free=1000)
    with mock.patch("cxr.data.images.cache.shutil.disk_usage", return_value=usage), \
            pytest.raises(CacheSpaceError, match=r"not enough free space .* MiB free"):
        build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    full = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(cache_mod, "_append", side_effect=full), \
            pytest.raises(CacheSpaceError, match="no space left on device") as err:
        build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert "\n" not in str(err.value)
    cache = build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert cache.decoded == 4  # a rerun with space finishes the job


def test_parallel_build_matches_serial(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=40)
    serial = build_cache(df, image_size=20, resize_mode="crop", cache_dir=tmp_path / "a",
                         workers=1, progress=False)
    par = build_cache(df, image_size=20, resize_mode="crop", cache_dir=tmp_path / "b",
                      workers=2, progress=False)
    assert np.array_equal(np.array(serial.images), np.array(par.images))


def test_bad_arguments(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=2)
    with pytest.raises(ConfigError, match="image_size"):
        build_cache(df, image_size=0, cache_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="resize_mode"):
        build_cache(df, image_size=8, resize_mode="squash", cache_dir=tmp_path / "c")
    with pytest.raises(ManifestError, match="empty"):
        build_cache(df.iloc[:0], image_size=8, cache_dir=tmp_path / "c")


def test_cli_cache(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=6)
    save_manifest(df, tmp_path / "m.csv")
    runner = CliRunner()
    args = ["data", "cache", str(tmp_path / "m.csv"), "--image-size", "16",
            "--resize-mode", "crop", "--cache-dir", str(tmp_path / "c"), "--workers", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "6 image(s) decoded" in res.output
    assert (tmp_path / "c" / "px16-crop" / "pixels.u8").stat().st_size == 6 * 16 * 16
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "reused" in res.output
    res = runner.invoke(app, [*args[:-2], "--workers", "1", "--resize-mode", "zoom"])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)
