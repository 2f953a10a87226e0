"""`cxr ablate`: a resumable grid of classify runs with paired statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def ablate(
    *,
    manifest: Annotated[Path | None, Opt(help="Split manifest of real images.")] = None,
    backbones: Annotated[
        str | None, Opt(help="Comma list [vgg16,resnet50,efficientnet_b0].")
    ] = None,
    synthetic: Annotated[
        str | None, Opt(help="Comma list of synthetic ratios r in [0, 1) [0,0.1,0.3,0.5].")
    ] = None,
    seeds: Annotated[
        int | None, Opt(help="Training seeds per arm, paired across arms [3].")
    ] = None,
    loss: Annotated[
        str | None, Opt(help="Comma list of losses: ce, weighted-ce, focal [ce].")
    ] = None,
    baselines: Annotated[
        str | None, Opt(help="Classical arms at r=0: oversample, augment (comma list) [none].")
    ] = None,
    split_seeds: Annotated[
        str | None,
        Opt(help="Re-split per seed (comma list); one GAN per split [use the manifest's]."),
    ] = None,
    shared_gan: Annotated[
        bool | None,
        Opt("--shared-gan/--no-shared-gan", help="One GAN for all split seeds (leaks; reported)."),
    ] = None,
    synthetic_manifest: Annotated[
        Path | None, Opt(help="Ready GAN rows (origin=gan) instead of training a GAN here.")
    ] = None,
    sweep: Annotated[
        Path | None, Opt(help="YAML file with SweepConfig keys (configs/sweeps/).")
    ] = None,
    classify_config: Annotated[
        Path | None, Opt(help="Base ClassifyConfig YAML for every cell.")
    ] = None,
    gan_config: Annotated[Path | None, Opt(help="GanConfig YAML for the sweep's GANs.")] = None,
    out: Annotated[Path | None, Opt(help="Sweep folder [runs/sweep].")] = None,
    executor: Annotated[str | None, Opt(help="local | ray [local].")] = None,
    ray_address: Annotated[
        str | None, Opt(help="Ray cluster address (e.g. auto, ray://head:10001).")
    ] = None,
    cpus_per_cell: Annotated[float | None, Opt(help="Ray: CPUs reserved per cell [1].")] = None,
    gpus_per_cell: Annotated[float | None, Opt(help="Ray: GPUs reserved per cell [0].")] = None,
    devices: Annotated[str | None, Opt(help="Lightning devices per cell, e.g. 2 (DDP).")] = None,
    strategy: Annotated[str | None, Opt(help="Lightning strategy per cell, e.g. ddp.")] = None,
    bootstrap: Annotated[
        int | None, Opt(help="Paired bootstrap resamples (by patient) [1000].")
    ] = None,
) -> None:
    """Sweep backbones x synthetic ratios x losses x seeds, with classical baselines.

    Each cell is a `cxr classify` run in its own hashed run dir; finished cells are skipped
    on rerun. Writes results.csv, a summary with CIs and paired tests against ratio 0.
    """
    from cxr.config import SweepConfig, build_config
    from cxr.experiments.sweep.run import run_sweep

    cfg = build_config(
        SweepConfig,
        sweep,
        manifest=None if manifest is None else str(manifest),
        backbones=backbones,
        synthetic=synthetic,
        seeds=seeds,
        losses=loss,
        baselines=baselines,
        split_seeds=split_seeds,
        shared_gan=shared_gan,
        synthetic_manifest=None if synthetic_manifest is None else str(synthetic_manifest),
        classify_config=None if classify_config is None else str(classify_config),
        gan_config=None if gan_config is None else str(gan_config),
        out=None if out is None else str(out),
        executor=executor,
        ray_address=ray_address,
        cpus_per_cell=cpus_per_cell,
        gpus_per_cell=gpus_per_cell,
        devices=devices,
        strategy=strategy,
        bootstrap=bootstrap,
    )
    run_sweep(cfg)
