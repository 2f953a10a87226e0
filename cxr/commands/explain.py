"""`cxr explain ...`: heatmaps with measured localization, and progression over time.

``cxr explain --checkpoint CKPT --manifest M ...`` runs the default action
(a group callback with ``invoke_without_command``), so the command reads as
the issue writes it; ``cxr explain progression``, ``cxr explain severity`` (model-derived
severity against expert scores) and ``cxr explain localize`` (maps against lesion masks,
beside random and lung-prior maps) are subcommands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import ExplainConfig as E
from cxr.config import LocalizeConfig as L
from cxr.config import SeverityConfig as S

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


@app.command("severity")
def severity(
    *,
    checkpoint: Annotated[Path | None, option(S, "checkpoint")] = None,
    manifest: Annotated[Path | None, option(S, "manifest")] = None,
    split: Annotated[str | None, option(S, "split")] = None,
    out: Annotated[Path | None, option(S, "out")] = None,
    batch_size: Annotated[int | None, option(S, "batch_size")] = None,
    device: Annotated[str | None, option(S, "device")] = None,
    cam_layer: Annotated[str | None, option(S, "cam_layer")] = None,
    top_fraction: Annotated[float | None, option(S, "top_fraction")] = None,
    involved_threshold: Annotated[float | None, option(S, "involved_threshold")] = None,
    lung_estimate: Annotated[bool | None, option(S, "lung_estimate")] = None,
    folds: Annotated[int | None, option(S, "folds")] = None,
    bootstrap: Annotated[int | None, option(S, "bootstrap")] = None,
    seed: Annotated[int | None, option(S, "seed")] = None,
    config: Annotated[
        Path | None, command_option(help="YAML file with SeverityConfig keys.")
    ] = None,
) -> None:
    """Model-derived severity vs expert extent and opacity scores, with patient-bootstrap CIs.

    Grad-CAM involved-lung fraction, P(COVID) and a ridge regression on the classifier's
    penultimate features (patient-grouped CV) against severity_extent / severity_opacity;
    anchor: Cohen et al. 2020, r = 0.80 (extent) and 0.78 (opacity).
    """
    from cxr.config import build_config
    from cxr.pipelines.explain.run_severity import run_severity

    cfg = build_config(S, config, **overrides(severity, locals(), S))
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_severity(cfg)


@app.command("localize")
def localize(
    *,
    checkpoint: Annotated[Path | None, option(L, "checkpoint")] = None,
    manifest: Annotated[Path | None, option(L, "manifest")] = None,
    split: Annotated[str | None, option(L, "split")] = None,
    label: Annotated[str | None, option(L, "label")] = None,
    method: Annotated[str | None, option(L, "method")] = None,
    out: Annotated[Path | None, option(L, "out")] = None,
    batch_size: Annotated[int | None, option(L, "batch_size")] = None,
    device: Annotated[str | None, option(L, "device")] = None,
    cam_layer: Annotated[str | None, option(L, "cam_layer")] = None,
    threshold: Annotated[str | None, option(L, "threshold")] = None,
    top_fraction: Annotated[float | None, option(L, "top_fraction")] = None,
    region_min_area: Annotated[float | None, option(L, "region_min_area")] = None,
    pointing_tolerance: Annotated[int | None, option(L, "pointing_tolerance")] = None,
    random_maps: Annotated[int | None, option(L, "random_maps")] = None,
    exclude_shared: Annotated[bool | None, option(L, "exclude_shared", flag_only=True)] = None,
    bootstrap: Annotated[int | None, option(L, "bootstrap")] = None,
    seed: Annotated[int | None, option(L, "seed")] = None,
    config: Annotated[
        Path | None, command_option(help="YAML file with LocalizeConfig keys.")
    ] = None,
) -> None:
    """Grad-CAM vs lesion masks: pointing game, energy, IoU beside random and lung-prior maps.

    For a classifier trained on other images: refused when the evaluated images share a
    patient or a radiograph with its training data (--exclude-shared drops those instead).
    """
    from cxr.config import build_config
    from cxr.pipelines.explain.run_localize import run_localize

    cfg = build_config(L, config, **overrides(localize, locals(), L))
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_localize(cfg)
