"""Decode chest radiographs from PNG (8/16 bit), JPEG, DICOM and friends.

Every decoder returns the one intensity convention of :mod:`cxr.data.images.intensity`:
a 2-D ``float32`` array in ``[0, 1]`` with air dark and bone bright.

* The format is detected from the file's content (magic bytes, then PIL), never
  from its extension: a text file named ``.png`` is reported as "not an image".
* **DICOM** (pydicom): the Modality LUT / rescale is applied first, then the VOI
  LUT or window (DICOM PS3.3 C.11.2) when present, otherwise the values are
  scaled over the stored bit range (``BitsStored``, e.g. 12 bits in a 16-bit
  word). ``MONOCHROME1`` (minimum value displayed white) is inverted so that
  air comes out dark, as for ``MONOCHROME2``. Other photometric
  interpretations and multi-frame objects are refused with a clear reason.
* **16-bit PNG/TIFF** is scaled by the full 16-bit range (65535): PNG has no
  reliable bit-depth field for padded 12-bit data, and a per-image min-max
  stretch would make intensities incomparable between images.
* **Colour**: RGB is reduced to luma with the ITU-R BT.601 weights (what PIL's
  ``convert("L")`` uses), computed in float to avoid a second rounding.
  **Alpha is composited on black**: a transparent pixel carries no signal,
  and black is "air" in our convention, so padding made transparent by a
  converter stays background instead of turning into bright bone.
* **EXIF orientation** is honoured (``PIL.ImageOps.exif_transpose``), so phone
  photographs of films come out upright.

Unreadable input raises :class:`cxr.runtime.errors.ImageReadError` with a short
reason: ``empty file``, ``truncated image``, ``not an image (...)``,
``unsupported DICOM photometric interpretation ...``.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxr.data.images.intensity import float_to_uint8
from cxr.runtime.errors import ImageReadError
from cxr.runtime.files import atomic_save

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["decode_bytes", "read_image", "read_image_u8", "sniff_format", "write_png"]

# magic bytes -> format name (for detection and for "truncated" vs "not an image")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
#: decoded-pixel budget (width x height) checked from the header before decoding; a PNG
#: declaring 9000 x 9000 RGBA fits in a few hundred kB but needs gigabytes decoded
MAX_PIXELS = 50_000_000
_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_DICOM_GREY = ("MONOCHROME1", "MONOCHROME2")


def sniff_format(head: bytes) -> str | None:
    """Format name from the first bytes of a file, or ``None`` if unknown."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` to float32 ``(H, W)`` in ``[0, 1]`` (air dark, bone bright)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a directory") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file ({exc.strerror or exc})") from None
    return decode_bytes(data, path)


def read_image_u8(path: str | Path) -> np.ndarray:
    """Decode ``path`` to the stored convention: uint8 ``(H, W)``."""
    return float_to_uint8(read_image(path))


def write_png(path: str | Path, img_u8: np.ndarray) -> Path:
    """Write a uint8 ``(H, W)`` image as an 8-bit greyscale PNG, atomically."""
    from PIL import Image

    arr = np.asarray(img_u8)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"write_png expects a uint8 (H, W) array, got {arr.dtype} {arr.shape}")
    img = Image.fromarray(np.ascontiguousarray(arr), mode="L")
    atomic_save(path, lambda tmp: img.save(tmp, format="PNG"))
    return Path(path)


def decode_bytes(
    data: bytes, path: str | Path = "<bytes>", *, max_pixels: int | None = None
) -> np.ndarray:
    """Decode the bytes of an image file; ``path`` is only used in error messages.

    An image whose header declares more than ``max_pixels`` (default
    :data:`MAX_PIXELS`; 0 = no limit) is decoded at a reduced size where the
    format allows it (JPEG's DCT scaling, Pillow's ``draft``) and refused
    otherwise, before any pixel is decoded.
    """
    if not data:
        raise ImageReadError(path, "empty file")
    budget = MAX_PIXELS if max_pixels is None else max_pixels
    fmt = sniff_format(data[:132])
    if fmt == "DICOM":
        return _decode_dicom(data, path, budget)
    return _decode_pil(data, path, fmt, budget)


def _too_large(w: int, h: int, budget: int) -> str:
    return (f"image too large ({w}x{h} = {w * h / 1e6:.1f} megapixels > pixel budget "
            f"{budget / 1e6:g}; raise --max-pixels to accept it)")


# --------------------------------------------------------------------- PIL
def _not_an_image(data: bytes) -> str:
    head = data[:512]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "not an image (text file)"
    return f"not an image (unknown format, starts with {data[:8].hex()})"


def _decode_pil(data: bytes, path: str | Path, fmt: str | None, budget: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        opened = Image.open(io.BytesIO(data))  # the first frame of multi-page files
    except UnidentifiedImageError:
        # a known signature that PIL cannot parse is a cut-off file
        raise ImageReadError(path, "truncated image" if fmt else _not_an_image(data)) from None
    except Image.DecompressionBombError:
        raise ImageReadError(path, "image too large (decompression bomb guard)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, _load_reason(exc, fmt)) from None
    w, h = opened.size
    if budget and w * h > budget:
        if opened.format != "JPEG":
            raise ImageReadError(path, _too_large(w, h, budget))
        # JPEG decodes at 1/2, 1/4 or 1/8 scale for free (the DCT is truncated); draft
        # picks the smallest of those scales that still covers the requested size
        scale = min(8, 2 ** math.ceil(math.log2(math.sqrt(w * h / budget))))
        opened.draft("L", (math.ceil(w / scale), math.ceil(h / scale)))
        if opened.size[0] * opened.size[1] > budget:
            raise ImageReadError(path, _too_large(w, h, budget))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns on odd EXIF; the pixels are what count
            opened.load()
            img = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError:
        raise ImageReadError(path, "image too large (decompression bomb guard)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageReadError(path, _load_reason(exc, fmt or opened.format)) from None
    return _pil_to_float(img, path)


def _load_reason(exc: BaseException, fmt: str | None) -> str:
    msg = str(exc).lower()
    if any(s in msg for s in ("truncat", "end of file", "broken", "premature", "eof")):
        return "truncated image"
    return f"corrupt {fmt or 'image'} data ({exc})"


def _pil_to_float(img: PILImage, path: str | Path) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        out = np.asarray(img).astype(np.float32) / 65535.0
    elif mode == "I":
        arr = np.asarray(img).astype(np.float64)
        # PIL promotes 16-bit data to 32-bit "I"; keep the 16-bit scale when it fits
        out = arr / 65535.0 if arr.min() >= 0 and arr.max() <= 65535 else _minmax(arr)
    elif mode == "F":
        arr = np.asarray(img).astype(np.float64)
        out = arr if arr.min() >= 0 and arr.max() <= 1 else _minmax(arr)
    elif mode == "L":
        out = np.asarray(img).astype(np.float32) / 255.0
    else:
        has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        rgba = np.asarray(img.convert("RGBA" if has_alpha else "RGB")).astype(np.float64)
        grey = rgba[..., :3] @ _BT601 / 255.0
        if has_alpha:
            grey = grey * (rgba[..., 3] / 255.0)  # composite on black
        out = grey
    out = np.asarray(out, dtype=np.float32)
    if out.ndim != 2 or out.size == 0:
        raise ImageReadError(path, f"unexpected image shape {out.shape}")
    return np.clip(out, 0.0, 1.0)


def _minmax(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros_like(arr, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


# ------------------------------------------------------------------- DICOM
def dicom_view_position(data: bytes) -> str:
    """The ViewPosition (0018,5101) of DICOM bytes as written (``PA``, ``AP``, ``LL``),
    or "" when the bytes are not DICOM or carry none."""
    if sniff_format(data[:132]) != "DICOM":
        return ""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True,
                             specific_tags=["ViewPosition"])
    except Exception:  # the decoder reports a broken file; a header is only a hint here
        return ""
    return str(ds.get("ViewPosition", "") or "").strip()


def _decode_dicom(data: bytes, path: str | Path, budget: int = 0) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError as exc:
        raise ImageReadError(path, f"invalid DICOM ({exc})") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageReadError(path, f"truncated image ({type(exc).__name__}: {exc})") from None
    if "PixelData" not in ds:
        raise ImageReadError(path, "DICOM without pixel data")
    pi = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if pi not in _DICOM_GREY:
        raise ImageReadError(
            path, f"unsupported DICOM photometric interpretation {pi or '<missing>'!r} "
            "(only MONOCHROME1/MONOCHROME2 radiographs)"
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if budget and rows * cols > budget:
        raise ImageReadError(path, _too_large(cols, rows, budget))
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageReadError(path, f"multi-frame DICOM ({ds.NumberOfFrames} frames) not supported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        raise ImageReadError(path, _pixel_failure(str(exc), getattr(ts, "name", ts))) from None
    except (ValueError, EOFError, AttributeError, KeyError) as exc:
        msg = str(exc)
        truncated = any(s in msg.lower() for s in ("length", "less than expected"))
        reason = "truncated image" if truncated else f"corrupt DICOM pixel data ({msg})"
        raise ImageReadError(path, reason) from None
    try:
        arr = np.asarray(apply_modality_lut(raw, ds), dtype=np.float64)
        lo, hi = _dicom_value_range(ds)
        if ds.get("VOILUTSequence"):
            # a VOI LUT is indexed by the (integer) output of the Modality LUT
            arr = np.asarray(apply_voi_lut(np.rint(arr).astype(np.int64), ds), dtype=np.float64)
            lo, hi = _voi_lut_range(ds.VOILUTSequence[0])
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            # windowing maps into the same range as the rescaled stored values
            arr = np.asarray(apply_voi_lut(arr, ds), dtype=np.float64)
    except (ValueError, NotImplementedError, AttributeError, IndexError) as exc:
        raise ImageReadError(path, f"bad DICOM LUT/window ({exc})") from None
    out = np.clip((arr - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(arr)
    if pi == "MONOCHROME1":
        out = 1.0 - out  # MONOCHROME1: minimum value is displayed white
    return np.asarray(out, dtype=np.float32)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its whitespace (newlines included) collapsed, cut at ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _pixel_failure(msg: str, syntax: object) -> str:
    """One-line reason for a DICOM whose pixel data no installed decoder can read."""
    lower = msg.lower()
    if "exceptions were raised by all available plugins" in lower:
        detail = msg.split(":", 1)[1] if ":" in msg else msg
        return one_line(f"unreadable pixel data: {syntax} ({detail.strip()})")
    return one_line(f"cannot decode DICOM transfer syntax {syntax} (no usable pydicom decoder "
                    f"plugin installed: {msg})")


def _dicom_value_range(ds: object) -> tuple[float, float]:
    """Range of the stored bits after the rescale (Modality LUT) step."""
    bits = int(getattr(ds, "BitsStored", 0) or getattr(ds, "BitsAllocated", 16))
    if getattr(ds, "ModalityLUTSequence", None):
        depth = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])  # type: ignore[attr-defined]
        return 0.0, float(2**depth - 1)
    if int(getattr(ds, "PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    ends = sorted((lo * slope + intercept, hi * slope + intercept))
    return ends[0], ends[1]


def _voi_lut_range(item: object) -> tuple[float, float]:
    """Output range of a VOI LUT: the span of its entries.

    Some writers declare 16-bit LUT entries that only hold 12-bit values, so the
    entries' span is more faithful than ``2**depth - 1``.
    """
    depth = int(item.LUTDescriptor[2])  # type: ignore[attr-defined]
    data = item.LUTData  # type: ignore[attr-defined]
    if isinstance(data, (bytes, bytearray)):
        entries = np.frombuffer(bytes(data), dtype="<u2" if depth > 8 else "u1")
    else:
        entries = np.atleast_1d(np.asarray(data, dtype=np.float64))
    if entries.size and float(entries.max()) > float(entries.min()):
        return float(entries.min()), float(entries.max())
    return 0.0, float(2**depth - 1)
