"""cxr.data.images.imageio: every supported encoding decodes to float32 [0, 1], air dark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.fakelayouts import make_dicom

from cxr.data.images.imageio import decode_bytes, read_image, read_image_u8, sniff_format, write_png
from cxr.runtime.errors import ImageReadError


@pytest.fixture
def ramp12() -> np.ndarray:
    """12-bit ramp, 32 x 48, spanning the whole stored range."""
    return np.tile(np.linspace(0, 4095, 48).round().astype(np.uint16), (32, 1))


def test_png_8bit_exact(tmp_path: Path) -> None:
    arr = np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) % 256
    Image.fromarray(arr.astype(np.uint8), "L").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == (32, 64)
    np.testing.assert_allclose(out, arr / 255.0, atol=1e-6)
    np.testing.assert_array_equal(read_image_u8(tmp_path / "a.png"), arr.astype(np.uint8))


def test_png_16bit_scaled_by_full_range(tmp_path: Path) -> None:
    arr = np.tile(np.array([0, 1000, 32768, 65535], dtype=np.uint16), (8, 4))
    Image.fromarray(arr).save(tmp_path / "b16.png")
    assert Image.open(tmp_path / "b16.png").mode.startswith("I")
    out = read_image(tmp_path / "b16.png")
    np.testing.assert_allclose(out, arr / 65535.0, atol=1e-6)


def test_rgba_composited_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[:, :8, 3] = 255  # left half opaque
    rgba[:, 8:, 3] = 0  # right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (16, 16)
    np.testing.assert_allclose(out[:, :8], 200 / 255.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 8:], 0.0)


def test_rgb_to_luma(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    Image.fromarray(rgb, "RGB").save(tmp_path / "red.png")
    np.testing.assert_allclose(read_image(tmp_path / "red.png"), 0.299, atol=1e-6)


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    arr = np.zeros((20, 40), dtype=np.uint8)
    arr[:, :20] = 255  # stored: bright left half, 20 rows x 40 cols
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    Image.fromarray(arr, "L").save(tmp_path / "rot.jpg", quality=95, exif=exif)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (40, 20)  # transposed to display orientation
    # rotating 90 CW moves the stored left half to the top
    assert out[:15].mean() > 0.9 and out[25:].mean() < 0.1


def test_format_detected_by_content_not_extension(tmp_path: Path) -> None:
    arr = np.full((8, 8), 77, dtype=np.uint8)
    Image.fromarray(arr, "L").save(tmp_path / "really_png.jpg", format="PNG")
    np.testing.assert_allclose(read_image(tmp_path / "really_png.jpg"), 77 / 255.0, atol=1e-6)
    assert sniff_format((tmp_path / "really_png.jpg").read_bytes()[:132]) == "PNG"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"patient_id,label\n1,covid\n", "not an image (text file)"),
        (b"\x00\x01\x02\x03garbage\xff\xfe" * 10, "not an image (unknown format"),
    ],
)
def test_bad_content_reasons(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_image(p)
    assert info.value.reason.startswith(reason)
    assert info.value.path == str(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_png(tmp_path: Path, keep: float) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8), "L").save(tmp_path / "f.png")
    data = (tmp_path / "f.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match="truncated image"):
        read_image(tmp_path / "t.png")


def test_truncated_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8), "L").save(tmp_path / "f.jpg")
    data = (tmp_path / "f.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated image"):
        read_image(tmp_path / "t.jpg")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        read_image(tmp_path)


def test_dicom_monochrome2_12bit_stored_range(tmp_path: Path, ramp12: np.ndarray) -> None:
    p = make_dicom(tmp_path / "m2.dcm", ramp12)
    out = read_image(p)
    assert out.shape == ramp12.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, ramp12 / 4095.0, atol=1e-6)  # 12-bit, not 16-bit scale


def test_dicom_monochrome1_is_inverted(tmp_path: Path, ramp12: np.ndarray) -> None:
    m2 = read_image(make_dicom(tmp_path / "m2.dcm", ramp12, photometric="MONOCHROME2"))
    m1 = read_image(make_dicom(tmp_path / "m1.dcm", ramp12, photometric="MONOCHROME1"))
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)
    assert m1[0, 0] == pytest.approx(1.0) and m1[0, -1] == pytest.approx(0.0)


def test_dicom_detected_without_extension(tmp_path: Path, ramp12: np.ndarray) -> None:
    p = make_dicom(tmp_path / "IMG0001", ramp12)  # DICOMDIR-style name, no suffix
    assert read_image(p).shape == ramp12.shape


def test_dicom_window_applied(tmp_path: Path, ramp12: np.ndarray) -> None:
    # window 1000..3000: values below are black, above white, linear between
    out = read_image(make_dicom(tmp_path / "w.dcm", ramp12, window=(2000, 2000)))
    row, vals = out[0], ramp12[0]
    assert np.all(row[vals <= 999] == 0.0) and np.all(row[vals >= 3001] == 1.0)
    mid = (vals > 1100) & (vals < 2900)
    np.testing.assert_allclose(row[mid], (vals[mid] - 1000) / 2000.0, atol=2e-3)
    assert np.all(np.diff(row) >= 0)


def test_dicom_window_monochrome1(tmp_path: Path, ramp12: np.ndarray) -> None:
    m2 = read_image(make_dicom(tmp_path / "a.dcm", ramp12, window=(2000, 2000)))
    m1 = read_image(
        make_dicom(tmp_path / "b.dcm", ramp12, window=(2000, 2000), photometric="MONOCHROME1")
    )
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)


def test_dicom_rescale_then_window(tmp_path: Path, ramp12: np.ndarray) -> None:
    # stored v -> 2v - 1000 (modality LUT); window on the rescaled values
    out = read_image(
        make_dicom(tmp_path / "r.dcm", ramp12, rescale=(2.0, -1000.0), window=(3000, 4000))
    )
    rescaled = 2.0 * ramp12[0] - 1000
    row = out[0]
    assert np.all(row[rescaled <= 999] == 0.0) and np.all(row[rescaled >= 5001] == 1.0)
    mid = (rescaled > 1200) & (rescaled < 4800)
    np.testing.assert_allclose(row[mid], (rescaled[mid] - 1000) / 4000.0, atol=2e-3)


def test_dicom_voi_lut_sequence(tmp_path: Path) -> None:
    pixels = np.array([[0, 1, 2, 3]] * 4, dtype=np.uint16)
    lut = [100, 100, 600, 1100]  # non-linear LUT
    out = read_image(make_dicom(tmp_path / "v.dcm", pixels, bits_stored=12, voi_lut=lut))
    np.testing.assert_allclose(out[0], [0.0, 0.0, 0.5, 1.0], atol=1e-6)


def test_dicom_unsupported_photometric(tmp_path: Path, ramp12: np.ndarray) -> None:
    p = make_dicom(tmp_path / "pal.dcm", ramp12, photometric="PALETTE COLOR")
    with pytest.raises(ImageReadError, match="unsupported DICOM photometric interpretation"):
        read_image(p)


def test_dicom_truncated(tmp_path: Path, ramp12: np.ndarray) -> None:
    data = make_dicom(tmp_path / "full.dcm", ramp12).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 500])
    with pytest.raises(ImageReadError, match="truncated image"):
        read_image(tmp_path / "cut.dcm")


def test_write_png_roundtrip_atomic(tmp_path: Path) -> None:
    arr = np.random.default_rng(2).integers(0, 256, (24, 40), dtype=np.uint8)
    out = write_png(tmp_path / "sub" / "x.png", arr)
    np.testing.assert_array_equal(read_image_u8(out), arr)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.png"]  # no temp left
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "y.png", arr.astype(np.float32))


def test_decode_bytes_matches_read_image(tmp_path: Path) -> None:
    arr = np.full((8, 8), 10, dtype=np.uint8)
    Image.fromarray(arr, "L").save(tmp_path / "c.png")
    data = (tmp_path / "c.png").read_bytes()
    np.testing.assert_array_equal(decode_bytes(data, "c.png"), read_image(tmp_path / "c.png"))
