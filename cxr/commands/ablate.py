"""`cxr ablate`: a resumable grid of classify runs with paired statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import command_option, option, overrides
from cxr.config import AblateConfig as S
from cxr.config import ClassifyConfig as C


def ablate(
    *,
    manifest: Annotated[Path | None, option(S, "manifest")] = None,
    backbones: Annotated[str | None, option(S, "backbones")] = None,
    synthetic: Annotated[str | None, option(S, "synthetic")] = None,
    seeds: Annotated[int | None, option(S, "seeds")] = None,
    losses: Annotated[str | None, option(S, "losses")] = None,
    baselines: Annotated[str | None, option(S, "baselines")] = None,
    split_seeds: Annotated[str | None, option(S, "split_seeds")] = None,
    shared_gan: Annotated[bool | None, option(S, "shared_gan")] = None,
    leave_dataset_out: Annotated[
        bool | None, option(S, "leave_dataset_out", flag_only=True)
    ] = None,
    synthetic_manifest: Annotated[Path | None, option(S, "synthetic_manifest")] = None,
    sweep: Annotated[
        Path | None, command_option(help="YAML file with AblateConfig keys (configs/ablate/).")
    ] = None,
    classify_config: Annotated[Path | None, option(S, "classify_config")] = None,
    gan_config: Annotated[Path | None, option(S, "gan_config")] = None,
    out: Annotated[Path | None, option(S, "out")] = None,
    executor: Annotated[str | None, option(S, "executor")] = None,
    ray_address: Annotated[str | None, option(S, "ray_address")] = None,
    cpus_per_cell: Annotated[float | None, option(S, "cpus_per_cell")] = None,
    gpus_per_cell: Annotated[float | None, option(S, "gpus_per_cell")] = None,
    devices: Annotated[str | None, option(S, "devices")] = None,
    strategy: Annotated[str | None, option(S, "strategy")] = None,
    bootstrap: Annotated[int | None, option(S, "bootstrap")] = None,
    logger: Annotated[str | None, option(S, "logger")] = None,
    mlflow_uri: Annotated[str | None, option(S, "mlflow_uri")] = None,
    # every cell's classify settings (over --classify-config and the sweep's `classify:`)
    image_size: Annotated[int | None, option(C, "image_size")] = None,
    epochs: Annotated[int | None, option(C, "epochs")] = None,
    batch_size: Annotated[int | None, option(C, "batch_size")] = None,
    lr: Annotated[float | None, option(C, "lr")] = None,
    patience: Annotated[int | None, option(C, "patience")] = None,
    augment: Annotated[str | None, option(C, "augment")] = None,
    aug_share: Annotated[float | None, option(C, "aug_share")] = None,
    pretrained: Annotated[str | None, option(C, "pretrained")] = None,
    transfer: Annotated[str | None, option(C, "transfer")] = None,
    precision: Annotated[str | None, option(C, "precision")] = None,
    accelerator: Annotated[str | None, option(C, "accelerator")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    keep_checkpoints: Annotated[bool | None, option(S, "keep_checkpoints", flag_only=True)] = None,
    trust_gan_lineage: Annotated[
        bool | None, option(C, "trust_gan_lineage", flag_only=True)
    ] = None,
) -> None:
    """Sweep backbones x synthetic ratios x losses x seeds, with classical baselines.

    Each cell is a `cxr classify` run in its own hashed run dir; finished cells are skipped
    on rerun. Writes results.csv, a summary with CIs and paired tests against ratio 0.
    Classify options (--image-size, --epochs ...) apply to every cell; --augment names the
    pipeline of the augment baseline (the other arms train without augmentation).
    """
    import dataclasses

    from cxr.config import build_config
    from cxr.pipelines.ablate.run_ablate import run_ablate

    cfg = build_config(S, sweep, **overrides(ablate, locals(), S))
    cell = overrides(ablate, locals(), C)
    if cell:
        # the command line wins over the YAML, per-backbone entries included
        by_backbone = {
            b: ({k: v for k, v in o.items() if k not in cell} if isinstance(o, dict) else o)
            for b, o in cfg.classify_by_backbone.items()
        }
        cfg = dataclasses.replace(cfg, classify={**cfg.classify, **cell},
                                  classify_by_backbone=by_backbone)
    from cxr.runtime.errors import PartialFailureError
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        result = run_ablate(cfg)
    failed = list(getattr(result, "failed", None) or [])  # fakes in tests may return None
    if failed:
        first = result.sweep_dir / "cells" / failed[0] / "error.txt"
        raise PartialFailureError(
            f"{len(failed)} sweep cell(s) failed ({', '.join(failed)}; see {first}); "
            "the other cells finished, rerun the same command to retry the failed ones"
        )
