"""Odd and hostile files in `cxr data index`: every file not indexed gets a one-line reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from support.fakelayouts import make_dicom, tiny_image

from cxr.data.images.imageio import decode_bytes
from cxr.data.index.indexer import ProbeLimits, build_index, index_roots, skipped_report_path
from cxr.data.manifest import load_manifest
from cxr.runtime.errors import ImageReadError


def _reasons(skipped: pd.DataFrame) -> dict[str, str]:
    return {Path(p).name: r for p, r in zip(skipped["path"], skipped["reason"], strict=True)}


def test_links_small_constant_images(tmp_path: Path) -> None:
    root = tmp_path / "coll"
    target = tiny_image(tmp_path / "elsewhere" / "n.png", seed=5)
    tiny_image(root / "Normal" / "n0.png", seed=1)
    (root / "COVID").mkdir(parents=True)
    os.symlink(target, root / "COVID" / "link.png")  # its label comes from COVID/
    os.symlink(tmp_path / "gone.png", root / "COVID" / "dangling.png")
    os.symlink(root / "COVID" / "loop.png", root / "COVID" / "loop.png")
    tiny_image(root / "COVID" / "small.png", size=20)
    Image.fromarray(np.zeros((80, 80), np.uint8)).save(root / "COVID" / "black.png")
    out = tmp_path / "m.csv"
    build_index([root], out, workers=1, progress=False)
    df = load_manifest(out)
    by_name = df.set_index(df["image_path"].map(lambda p: Path(p).name))
    assert set(by_name.index) == {"n0.png", "link.png"}
    assert by_name.loc["link.png", "label"] == "covid"
    assert by_name.loc["link.png", "image_path"] == str(root.resolve() / "COVID" / "link.png")
    reasons = _reasons(pd.read_csv(skipped_report_path(out), dtype=str, keep_default_na=False))
    assert reasons["dangling.png"].startswith("dangling symbolic link (-> ")
    assert reasons["loop.png"] == "symbolic link loop"
    assert reasons["small.png"] == (
        "image too small (20x20 px; shorter side below the 64 px minimum)")
    assert reasons["black.png"] == "constant image (every pixel 0 of 255)"
    relaxed = index_roots([root], workers=1, progress=False, limits=ProbeLimits(min_side=16))
    assert "small.png" in set(relaxed.manifest_df["image_path"].map(lambda p: Path(p).name))


def test_non_utf8_file_name_is_skipped_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "coll"
    tiny_image(root / "Normal" / "ok.png", seed=1)
    bad = os.fsencode(root / "Normal") + b"/caf\xe9.png"
    try:
        with open(bad, "wb") as fh:
            fh.write((root / "Normal" / "ok.png").read_bytes())
    except OSError:
        pytest.skip("this filesystem refuses non-UTF-8 names")
    out = tmp_path / "m.csv"
    build_index([root], out, workers=1, progress=False)
    assert len(load_manifest(out)) == 1
    skipped = pd.read_csv(skipped_report_path(out), dtype=str, keep_default_na=False)
    assert skipped["path"].str.endswith("caf\\xe9.png").any()
    assert "file name is not valid UTF-8" in skipped["reason"].iat[0]


def test_pixel_budget_checked_before_decoding(tmp_path: Path) -> None:
    Image.new("RGBA", (9000, 9000)).save(tmp_path / "bomb.png")  # ~300 kB, 81 Mpx declared
    data = (tmp_path / "bomb.png").read_bytes()
    assert len(data) < 2_000_000
    with pytest.raises(ImageReadError, match=r"image too large \(9000x9000 = 81.0 megapixels"):
        decode_bytes(data)
    rng = np.random.default_rng(0)
    big = Image.fromarray((rng.random((1200, 1000)) * 255).astype(np.uint8))
    big.save(tmp_path / "big.jpg", quality=80)
    small = decode_bytes((tmp_path / "big.jpg").read_bytes(), max_pixels=400_000)
    assert small.size <= 400_000 and small.shape[0] > small.shape[1]  # decoded reduced
    full = decode_bytes((tmp_path / "big.jpg").read_bytes(), max_pixels=0)
    assert full.shape == (1200, 1000)


def test_garbage_jpeg2000_dicom_is_one_line(tmp_path: Path) -> None:
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    path = make_dicom(tmp_path / "j2k.dcm", np.zeros((32, 48), np.uint16))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"garbage" * 20])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError) as err:
        decode_bytes(path.read_bytes(), path)
    reason = err.value.reason
    assert "\n" not in reason and reason.startswith(("unreadable pixel data: JPEG 2000",
                                                     "cannot decode DICOM transfer syntax"))
