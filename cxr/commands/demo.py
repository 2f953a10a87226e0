"""`cxr demo`: from nothing to the HTML report on built-in phantom data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import command_option, option, overrides
from cxr.config import DemoConfig as D


def demo(
    *,
    out: Annotated[Path | None, option(D, "out")] = None,
    fast: Annotated[bool | None, option(D, "fast", flag_only=True)] = None,
    profile: Annotated[str | None, option(D, "profile")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with DemoConfig keys.")] = None,
) -> None:
    """Run the whole pipeline on built-in phantom X-rays and write the HTML report.

    phantoms -> index -> split -> CycleGAN -> synth -> small ablation -> explain -> report.
    Resumable: a rerun skips finished stages. Prints where the report is.
    """
    from cxr.config import build_config
    from cxr.pipelines.demo.run_demo import run_demo

    given = overrides(demo, locals(), D)
    if fast and "out" not in given:
        given["out"] = "demo-fast"
    cfg = build_config(D, config, **given)
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_demo(cfg)
