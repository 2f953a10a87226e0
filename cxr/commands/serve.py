"""`cxr serve RUN`: a local web page over a finished classify run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import command_option, option, overrides
from cxr.config import ServeConfig as S


def serve(
    run: Annotated[Path, typer.Argument(help="A finished `cxr classify` run folder.")],
    *,
    config: Annotated[
        Path | None, command_option(help="YAML file with ServeConfig keys.")
    ] = None,
    host: Annotated[str | None, option(S, "host")] = None,
    port: Annotated[int | None, option(S, "port")] = None,
    max_upload_mb: Annotated[float | None, option(S, "max_upload_mb")] = None,
    max_pixels: Annotated[int | None, option(S, "max_pixels")] = None,
    method: Annotated[str | None, option(S, "method")] = None,
    device: Annotated[str | None, option(S, "device")] = None,
) -> None:
    """Upload a PNG, JPEG or DICOM; see the class probabilities against the run's threshold,
    a Grad-CAM overlay with the lung field, the test metrics with CIs and the model card's
    warnings. Uploads are decoded in memory and never stored; Ctrl+C stops the server."""
    from cxr.config import build_config
    from cxr.pipelines.serve.run_serve import run_serve

    run_serve(run, build_config(S, config, **overrides(serve, locals(), S)))
