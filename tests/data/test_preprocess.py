"""square_resize / load_preprocessed: geometry, padding, cropping, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cxr.data.images.preprocess import load_preprocessed, square_resize
from cxr.runtime.errors import ConfigError, ImageReadError


def test_pad_keeps_aspect_and_centres() -> None:
    img = np.full((100, 50), 200, np.uint8)  # portrait
    out = square_resize(img, 32, "pad")
    assert out.shape == (32, 32) and out.dtype == np.uint8
    cols = np.flatnonzero(out.max(axis=0) > 0)
    assert (cols[0], cols[-1]) == (8, 23)  # 16 px wide content, centred
    assert out[:, :8].max() == 0 and out[:, 24:].max() == 0
    assert np.all(out[:, 8:24] == 200)


def test_crop_takes_centre_square() -> None:
    img = np.zeros((40, 120), np.uint8)  # landscape: left/right thirds 0, centre 255
    img[:, 40:80] = 255
    out = square_resize(img, 20, "crop")
    assert out.shape == (20, 20)
    assert out.min() == 255  # only the centre third survives


def test_downsampling_is_area_averaging() -> None:
    # a 1-px checkerboard should average to mid grey, not alias to black/white
    img = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = square_resize(img, 16, "pad")
    assert np.abs(out.astype(int) - 128).max() <= 1


def test_upsampling_and_identity() -> None:
    img = np.arange(16 * 16, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(square_resize(img, 16, "crop"), img)
    assert square_resize(img, 48, "pad").shape == (48, 48)


@pytest.mark.parametrize(
    ("size", "mode"), [(0, "pad"), (-3, "crop"), (32, "stretch"), (True, "pad")]
)
def test_bad_options(size: int, mode: str) -> None:
    with pytest.raises(ConfigError):
        square_resize(np.zeros((8, 8), np.uint8), size, mode)


def test_rejects_non_uint8() -> None:
    with pytest.raises(ValueError, match="uint8"):
        square_resize(np.zeros((8, 8), np.float32), 4)


def test_load_preprocessed(tmp_path) -> None:
    arr = np.zeros((60, 30), np.uint8)
    arr[:, :] = 90
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = load_preprocessed(tmp_path / "a.png", 30, "pad")
    assert out.shape == (30, 30) and out[:, 7:22].min() == 90
    assert out[:, :7].max() == 0 == out[:, 22:].max()
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="bad.png"):
        load_preprocessed(tmp_path / "bad.png", 30)
