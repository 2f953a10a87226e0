"""`cxr explain ...`: heatmaps with measured localization, and progression over time.

``cxr explain --checkpoint CKPT --manifest M ...`` runs the default action
(a group callback with ``invoke_without_command``), so the command reads as
the issue writes it; ``cxr explain progression ...`` is the subcommand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Explain classifier decisions: Grad-CAM, Grad-CAM++, saliency, SmoothGrad; progression.",
    invoke_without_command=True,
)

Ckpt = Annotated[Path | None, typer.Option(help="best.ckpt of a `cxr classify` run.")]
Manifest = Annotated[Path | None, typer.Option(help="Manifest CSV with the images.")]
Method = Annotated[
    str | None, typer.Option(help="gradcam | gradcam++ | saliency | smoothgrad (default: gradcam).")
]
Out = Annotated[Path | None, typer.Option(help="Output folder (default: runs/explain).")]
Batch = Annotated[int | None, typer.Option(help="Images per batch (default: 16).")]
LungDir = Annotated[
    Path | None, typer.Option(help="Folder of <image stem>.png lung masks (default: manifest's).")
]
LesionDir = Annotated[
    Path | None, typer.Option(help="Folder of <image stem>.png lesion masks (default: manifest's).")
]
Device = Annotated[str | None, typer.Option(help="auto | cpu | cuda | cuda:N (default: auto).")]
Threshold = Annotated[
    str | None,
    typer.Option(help="Region rule: top (hottest --top-fraction) | otsu (default: top)."),
]
TopFraction = Annotated[
    float | None, typer.Option(help="Share of pixels kept by 'top' (default: 0.2).")
]
RegionSigma = Annotated[
    float | None,
    typer.Option(
        help="saliency/smoothgrad: Gaussian blur before regions and scores, sigma as a fraction "
        "of the image side; 0 disables (default: 0.02)."
    ),
]
RegionMinArea = Annotated[
    float | None,
    typer.Option(help="Drop regions under this fraction of the image (default: 0.005)."),
]
Config = Annotated[Path | None, typer.Option(help="YAML file with ExplainConfig keys.")]


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


@app.callback()
def explain(
    ctx: typer.Context,
    *,
    checkpoint: Ckpt = None,
    manifest: Manifest = None,
    split: Annotated[
        str | None, typer.Option(help="Manifest split, or 'all' (default: test).")
    ] = None,
    images: Annotated[
        list[Path] | None,
        typer.Option(help="Image file or folder (repeatable) instead of a split."),
    ] = None,
    method: Method = None,
    out: Out = None,
    batch_size: Batch = None,
    lung_masks: LungDir = None,
    lesion_masks: LesionDir = None,
    target: Annotated[
        str | None,
        typer.Option(help="Explained class: 'predicted' or a class name (default: predicted)."),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="CAM engine: fast (batched) | library (pytorch-grad-cam).")
    ] = None,
    threshold: Threshold = None,
    top_fraction: TopFraction = None,
    region_sigma: RegionSigma = None,
    region_min_area: RegionMinArea = None,
    regions: Annotated[str | None, typer.Option(help="Draw regions as contour | box.")] = None,
    device: Device = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed (SmoothGrad noise, baselines) (default: 0).")
    ] = None,
    config: Config = None,
) -> None:
    """Heatmap overlays, contact sheets (true x predicted), localization scores vs random maps."""
    if ctx.invoked_subcommand is not None:
        return
    if checkpoint is None and config is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from cxr.config import ExplainConfig, build_config
    from cxr.experiments.explain.run import run_explain

    cfg = build_config(
        ExplainConfig,
        config,
        checkpoint=_str(checkpoint),
        manifest=_str(manifest),
        split=split,
        images=[str(p) for p in images] if images else None,
        method=method,
        out=_str(out),
        batch_size=batch_size,
        lung_masks=_str(lung_masks),
        lesion_masks=_str(lesion_masks),
        target=target,
        engine=engine,
        threshold=threshold,
        top_fraction=top_fraction,
        region_sigma=region_sigma,
        region_min_area=region_min_area,
        regions=regions,
        device=device,
        seed=seed,
    )
    run_explain(cfg)


@app.command("progression")
def progression(
    *,
    checkpoint: Ckpt = None,
    manifest: Manifest = None,
    patient: Annotated[
        str | None, typer.Option(help="Patient id (full, or the part after 'dataset:').")
    ] = None,
    all_patients: Annotated[
        bool, typer.Option("--all", help="Every patient with more than one study.")
    ] = False,
    method: Method = None,
    out: Out = None,
    batch_size: Batch = None,
    lung_masks: LungDir = None,
    lung_estimate: Annotated[
        bool | None,
        typer.Option(
            help="Without a lung mask, use a coarse heuristic lung estimate (default: on)."
        ),
    ] = None,
    involved_threshold: Annotated[
        float | None,
        typer.Option(
            help="Involved region: raw map / the patient's largest peak >= this (default: 0.5)."
        ),
    ] = None,
    device: Device = None,
    config: Config = None,
) -> None:
    """Studies ordered by day: overlay strip and a plot of P(COVID) and involved lung fraction.

    The maps of a patient's studies share one scale (raw map / the largest peak
    over the studies), so the involved lung fraction can grow and shrink over time.
    """
    from cxr.config import ExplainConfig, build_config
    from cxr.experiments.explain.progression import run_progression

    cfg = build_config(
        ExplainConfig,
        config,
        checkpoint=_str(checkpoint),
        manifest=_str(manifest),
        patient=patient,
        all_patients=all_patients or None,
        method=method,
        out=_str(out),
        batch_size=batch_size,
        lung_masks=_str(lung_masks),
        lung_estimate=lung_estimate,
        involved_threshold=involved_threshold,
        device=device,
    )
    run_progression(cfg)
