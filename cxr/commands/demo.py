"""`cxr demo`: from nothing to the HTML report on built-in phantom data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    *,
    out: Annotated[
        Path | None, typer.Option(help="Demo folder [demo, or demo-fast with --fast].")
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast", help="Smaller smoke-test version (a few minutes).")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="YAML file with DemoConfig keys.")] = None,
) -> None:
    """Run the whole pipeline on built-in phantom X-rays and write the HTML report.

    phantoms -> index -> split -> CycleGAN -> synth -> small ablation -> explain -> report.
    Resumable: a rerun skips finished stages. Prints where the report is.
    """
    from cxr.config import DemoConfig, build_config
    from cxr.experiments.demo import run_demo

    default_out = "demo-fast" if fast else None
    cfg = build_config(
        DemoConfig, config, out=str(out) if out is not None else default_out, fast=fast or None
    )
    run_demo(cfg)
