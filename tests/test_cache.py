"""build_cache: content, reuse, rekeying, no decoding on read, atomic + resumable builds, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cxr.cli import app
from cxr.data.cache import build_cache, open_cache
from cxr.data.manifest import new_manifest, save_manifest
from cxr.data.preprocess import load_preprocessed
from cxr.errors import ConfigError, ImageReadError, ManifestError
from cxr.fsutil import sha256_file


def write_images(folder, n: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        h, w = int(rng.integers(30, 60)), int(rng.integers(30, 60))
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).save(path)
        rows.append(dict(image_path=str(path), patient_id=f"ds:p{i // 2}", origin="real",
                         label=("covid", "normal")[i % 2], dataset="ds",
                         split=("train", "train", "val", "test")[i % 4],
                         content_hash=sha256_file(path)))
    return new_manifest(rows)


def test_build_content_and_readonly(tmp_path) -> None:
    df = write_images(tmp_path / "img")
    cache = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert len(cache) == 10 and not cache.reused
    assert cache.images.shape == (10, 24, 24) and cache.images.dtype == np.uint8
    assert not cache.images.flags.writeable
    for i in range(10):
        assert np.array_equal(cache.images[i], load_preprocessed(df["image_path"][i], 24, "pad"))
    assert np.array_equal(cache.batch([3, 1]), cache.images[[3, 1]])
    meta = json.loads((tmp_path / "c" / f"{cache.key}.json").read_text())
    assert meta["n"] == 10 and meta["size"] == 24 and meta["mode"] == "pad" and "created" in meta
    assert sorted(p.name for p in (tmp_path / "c").iterdir() if not p.name.endswith(".lock")) == [
        f"{cache.key}.json", f"{cache.key}.npy", f"{cache.key}.rows.npy"]


def test_reuse_without_source_files_and_rekey(tmp_path) -> None:
    df = write_images(tmp_path / "img")
    first = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    expected = np.array(first.images)
    for p in df["image_path"]:
        (tmp_path / "img" / p.split("/")[-1]).unlink()
    again = build_cache(df, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert again.reused and again.path == first.path
    assert np.array_equal(again.images, expected)
    crop = open_cache(df, image_size=24, resize_mode="crop", cache_dir=tmp_path / "c")
    assert crop is None  # other geometry -> other key
    reordered = df.iloc[::-1].reset_index(drop=True)
    assert open_cache(reordered, image_size=24, cache_dir=tmp_path / "c") is None
    with pytest.raises(ImageReadError, match="img9.png"):  # would need to decode: files gone
        build_cache(reordered, image_size=24, cache_dir=tmp_path / "c", workers=1, progress=False)


def test_failed_build_is_invalid_then_resumes(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=40)
    bad = tmp_path / "img" / "img35.png"
    good_bytes = bad.read_bytes()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageReadError, match="img35.png"):
        build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert open_cache(df, image_size=16, cache_dir=tmp_path / "c") is None
    done = np.load(next((tmp_path / "c").glob("*.done.npy")))
    assert done[:35].all() and not done[35:].any()  # chunks of 16: rows 0-31 and 32-34 written
    # resume: rows already done are not decoded again (their files are gone now)
    for i in range(35):
        (tmp_path / "img" / f"img{i}.png").unlink()
    bad.write_bytes(good_bytes)
    cache = build_cache(df, image_size=16, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert np.array_equal(cache.images[35], load_preprocessed(bad, 16))
    assert cache.images[:35].reshape(35, -1).std(axis=1).min() > 0  # real pixels, not zeros
    assert not list((tmp_path / "c").glob("*.done.npy"))
    assert not list((tmp_path / "c").glob("*.partial.npy"))


def test_parallel_build_matches_serial(tmp_path) -> None:
    df = write_images(tmp_path / "img", n=40)
    serial = build_cache(df, image_size=20, resize_mode="crop", cache_dir=tmp_path / "a",
                         workers=1, progress=False)
    par = build_cache(df, image_size=20, resize_mode="crop", cache_dir=tmp_path / "b",
                      workers=2, progress=False)
    assert np.array_equal(serial.images, par.images)


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
    assert "built in" in res.output and len(list((tmp_path / "c").glob("*.npy"))) == 2
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "reused" in res.output
    res = runner.invoke(app, [*args[:-2], "--workers", "1", "--resize-mode", "zoom"])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)
