"""`cxr explain ...`: heatmaps with measured localization, and progression over time.

``cxr explain --checkpoint CKPT --manifest M ...`` runs the default action
(a group callback with ``invoke_without_command``), so the command reads as
the issue writes it; ``cxr explain progression ...`` is the subcommand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import ExplainConfig as E

app = CxrTyper(
    help="Explain classifier decisions: Grad-CAM, Grad-CAM++, saliency, SmoothGrad; progression.",
    invoke_without_command=True,
)

Config = Annotated[Path | None, command_option(help="YAML file with ExplainConfig keys.")]


@app.callback()
def explain(
    ctx: typer.Context,
    *,
    checkpoint: Annotated[Path | None, option(E, "checkpoint")] = None,
    manifest: Annotated[Path | None, option(E, "manifest")] = None,
    split: Annotated[str | None, option(E, "split")] = None,
    images: Annotated[list[Path] | None, option(E, "images")] = None,
    method: Annotated[str | None, option(E, "method")] = None,
    out: Annotated[Path | None, option(E, "out")] = None,
    batch_size: Annotated[int | None, option(E, "batch_size")] = None,
    lung_masks: Annotated[Path | None, option(E, "lung_masks")] = None,
    lesion_masks: Annotated[Path | None, option(E, "lesion_masks")] = None,
    target: Annotated[str | None, option(E, "target")] = None,
    engine: Annotated[str | None, option(E, "engine")] = None,
    cam_layer: Annotated[str | None, option(E, "cam_layer")] = None,
    threshold: Annotated[str | None, option(E, "threshold")] = None,
    top_fraction: Annotated[float | None, option(E, "top_fraction")] = None,
    region_sigma: Annotated[float | None, option(E, "region_sigma")] = None,
    region_min_area: Annotated[float | None, option(E, "region_min_area")] = None,
    regions: Annotated[str | None, option(E, "regions")] = None,
    device: Annotated[str | None, option(E, "device")] = None,
    seed: Annotated[int | None, option(E, "seed")] = None,
    config: Config = None,
) -> None:
    """Heatmap overlays, contact sheets (true x predicted), localization scores vs random maps."""
    if ctx.invoked_subcommand is not None:
        return
    if checkpoint is None and config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from cxr.config import build_config
    from cxr.pipelines.explain.run_explain import run_explain

    cfg = build_config(E, config, **overrides(explain, locals(), E))
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_explain(cfg)


@app.command("progression")
def progression(
    *,
    checkpoint: Annotated[Path | None, option(E, "checkpoint")] = None,
    manifest: Annotated[Path | None, option(E, "manifest")] = None,
    patient: Annotated[str | None, option(E, "patient")] = None,
    all_patients: Annotated[bool | None, option(E, "all_patients", flag_only=True)] = None,
    method: Annotated[str | None, option(E, "method")] = None,
    cam_layer: Annotated[str | None, option(E, "cam_layer")] = None,
    out: Annotated[Path | None, option(E, "out")] = None,
    batch_size: Annotated[int | None, option(E, "batch_size")] = None,
    lung_masks: Annotated[Path | None, option(E, "lung_masks")] = None,
    lung_estimate: Annotated[bool | None, option(E, "lung_estimate")] = None,
    involved_threshold: Annotated[float | None, option(E, "involved_threshold")] = None,
    device: Annotated[str | None, option(E, "device")] = None,
    config: Config = None,
) -> None:
    """Studies ordered by day: overlay strip and a plot of P(COVID) and involved lung fraction.

    The maps of a patient's studies share one scale (raw map / the largest peak
    over the studies), so the involved lung fraction can grow and shrink over time.
    """
    from cxr.config import build_config
    from cxr.pipelines.explain.run_progression import run_progression

    cfg = build_config(E, config, **overrides(progression, locals(), E))
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_progression(cfg)
