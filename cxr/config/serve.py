"""Config of `cxr serve`: a local web page over a finished classify run."""

from __future__ import annotations

import dataclasses

from cxr.config.resources import device_setting
from cxr.config.schema import setting


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """`cxr serve RUN` (cxr.pipelines.serve.run_serve); mirrored by configs/serve.yaml."""

    host: str = setting(
        "127.0.0.1", "Address to bind; 127.0.0.1 keeps the page on this machine (0.0.0.0 "
        "shows it to the network: the page has no login).")
    port: int = setting(7860, "TCP port; 0 picks a free one (printed at start).")
    max_upload_mb: float = setting(20.0, "Largest upload accepted, in MB (larger: refused).")
    max_pixels: int = setting(
        25_000_000, "Largest decoded image (width x height) accepted; checked from the header.")
    method: str = setting("gradcam", "Map shown over the image: gradcam or gradcam++.")
    device: str = device_setting()
