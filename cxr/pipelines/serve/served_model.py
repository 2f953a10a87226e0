"""One uploaded radiograph through a finished classify run: probabilities, Grad-CAM, lung field.

The bytes are decoded in memory (:func:`cxr.data.images.imageio.decode_bytes`: PNG, JPEG,
DICOM, the format taken from the content; the pixel count is checked from the header before
anything is decoded), square-resized exactly as the training cache was, and scored with the
run's ``best.ckpt``. The decision is the run's: ``P(covid) >= t`` with the threshold chosen
on validation for binary models, argmax otherwise. The map is Grad-CAM (Selvaraju et al.,
ICCV 2017) of the predicted class through :func:`cxr.explain.explain_batch`; the lung field
drawn over it is the heuristic estimate of :func:`cxr.explain.localize.estimate_lung_mask`
(the central box of :func:`cxr.data.regions.lung_field` when none is found), labelled as such.

Nothing is written to disk. :meth:`ServedModel.analyse` holds a lock for the whole
computation, so concurrent requests wait their turn instead of sharing the network's hooks.
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import ConfigError

#: overlays are shown at least this many pixels wide (tiny models are trained on 32-64 px)
DISPLAY = 320
_LUNG_RGB = (0, 255, 255)


def png_data_url(rgb: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def lung_outline(img_u8: np.ndarray) -> tuple[np.ndarray, str]:
    """``(region, what)``: the estimated lung field, or the central box when none is found."""
    from cxr.data.regions import lung_field
    from cxr.explain.localize import estimate_lung_mask

    size = img_u8.shape[0]
    mask = estimate_lung_mask(img_u8)
    region, kind = lung_field(mask.astype(np.uint8) * 255, size, dilate=0.0)
    what = ("lung field (estimated from the image)" if kind == "mask"
            else "central box (no lung field found in the image)")
    return region, what


def overlay_with_lung(img_u8: np.ndarray, heat: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Grad-CAM over the radiograph at display size, the lung field outlined in cyan."""
    import cv2

    from cxr.explain.overlay import overlay_heatmap

    side = max(DISPLAY, img_u8.shape[0])
    big = cv2.resize(img_u8, (side, side), interpolation=cv2.INTER_LINEAR)
    hot = cv2.resize(heat.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    rgb = np.ascontiguousarray(overlay_heatmap(big, np.clip(hot, 0, 1)))
    reg = cv2.resize(region.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(reg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(rgb, contours, -1, _LUNG_RGB, max(2, side // 160))
    return rgb


class ServedModel:
    """A finished run's classifier and model card, answering one image at a time."""

    def __init__(self, run_dir: str | Path, *, device: str = "auto", method: str = "gradcam",
                 max_pixels: int = 25_000_000) -> None:
        from cxr.classifier import load_classifier
        from cxr.explain.cam import CAM_METHODS
        from cxr.pipelines.classify.model_card import build_model_card
        from cxr.runtime.device import resolve_device

        folder = ClassifyRunFolder(run_dir)
        if not folder.is_finished():
            missing = [p.name for p in (folder.config, folder.metrics, folder.run, folder.weights)
                       if not p.is_file()]
            raise ConfigError(f"{folder.root}: not a finished `cxr classify` run "
                              f"(missing {', '.join(missing)})")
        if method not in CAM_METHODS:
            raise ConfigError(f"--method {method!r} is not one of: {', '.join(CAM_METHODS)}")
        if max_pixels < 1:
            raise ConfigError(f"--max-pixels must be >= 1, got {max_pixels}")
        self.folder, self.method, self.max_pixels = folder, method, max_pixels
        self.device = resolve_device(device)
        self.model, self.info = load_classifier(folder.weights, map_location=self.device)
        from cxr.explain.cam import choose_cam_stage

        # as `cxr explain --cam-layer auto`: the last stage unless its grid is too coarse to
        # localize at the run's image size (a 2x2 grid after ReLU is often all zero)
        stage, grid, note = choose_cam_stage(self.model, "auto", self.info.image_size,
                                             self.info.in_chans)
        note = note.split("; --cam-layer")[0] if note else None  # serve has no such option
        self.cam_note = note or (f"Grad-CAM at {stage or 'the last stage'} "
                                 f"({grid[0]}x{grid[1]} grid)")
        # the card the run wrote; an older run without one gets it built here (not written:
        # serving leaves the run folder as it found it)
        card = folder.read_model_card(tolerant=True)
        self.card = card if card.get("cxr") else build_model_card(folder.root)
        self.card_source = (str(folder.model_card_json) if card.get("cxr")
                            else "built from the run's files (the run has no model card)")
        self._lock = threading.Lock()
        self._waiting = 0
        self._count_lock = threading.Lock()

    @property
    def positive(self) -> str:
        classes = self.info.classes
        return self.info.positive if self.info.positive in classes else classes[0]

    def decision_rule(self) -> str:
        thr = self.info.threshold
        return "argmax" if thr is None else f"P({self.positive}) >= {thr:.4g}"

    def analyse(self, data: bytes, name: str = "upload") -> dict[str, Any]:
        """Probabilities, decision and overlay of one image file's bytes (raises CxrError)."""
        with self._count_lock:
            ahead = self._waiting
            self._waiting += 1
        try:
            with self._lock:
                start = time.perf_counter()
                out = self._analyse(data, name)
                out["seconds"] = round(time.perf_counter() - start, 4)
                out["queued_behind"] = ahead
                return out
        finally:
            with self._count_lock:
                self._waiting -= 1

    def _analyse(self, data: bytes, name: str) -> dict[str, Any]:
        import torch

        from cxr.classifier.metrics import predict_labels
        from cxr.data.images.imageio import decode_bytes
        from cxr.data.images.intensity import float_to_uint8, to_network
        from cxr.data.images.preprocess import square_resize
        from cxr.explain import explain_batch

        grey = decode_bytes(data, name, max_pixels=self.max_pixels)
        h, w = grey.shape
        img = square_resize(float_to_uint8(grey), self.info.image_size, self.info.resize_mode)
        x = to_network(torch.from_numpy(img))[None, None].to(self.device)
        with torch.no_grad():
            probs = self.model(x).float().softmax(1).cpu().numpy()
        classes = list(self.info.classes)
        pos = classes.index(self.positive)
        pred = int(predict_labels(probs, pos, self.info.threshold)[0])
        maps, _ = explain_batch(self.model, x, torch.as_tensor([pred], device=self.device),
                                method=self.method, engine="fast")
        region, lung = lung_outline(img)
        side = max(DISPLAY, img.shape[0])
        import cv2

        shown = cv2.resize(img, (side, side), interpolation=cv2.INTER_LINEAR)
        return {
            "ok": True, "name": name, "original_size": [int(w), int(h)],
            "classes": classes, "probs": {c: float(probs[0, k]) for k, c in enumerate(classes)},
            "prediction": classes[pred], "positive": self.positive,
            "threshold": self.info.threshold, "rule": self.decision_rule(),
            "map": f"{self.method} of class {classes[pred]}" + (
                "" if float(maps[0].max()) > 0 else
                " (empty: no positive evidence for this class at this layer)"),
            "cam_note": self.cam_note, "lung": lung,
            "input_png": png_data_url(np.repeat(shown[..., None], 3, axis=2)),
            "overlay_png": png_data_url(overlay_with_lung(img, maps[0], region)),
        }
