"""`cxr lungs ...`: train a lung segmenter, score it, and write predicted lung masks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import LungsConfig as C

app = CxrTyper(help="Lung fields: a U-Net lung segmenter and predicted masks.",
               no_args_is_help=True)


@app.command("train")
def train(
    *,
    manifest: Annotated[
        Path, command_option(help="Split manifest whose rows carry lung_mask_path.")
    ],
    out: Annotated[Path, command_option(help="Run folder (lungs.pt, metrics.json, scores).")],
    resume: Annotated[
        bool, command_option(help="Continue the run in --out from checkpoints/last.ckpt.")
    ] = False,
    image_size: Annotated[int | None, option(C, "image_size")] = None,
    resize_mode: Annotated[str | None, option(C, "resize_mode")] = None,
    base_channels: Annotated[int | None, option(C, "base_channels")] = None,
    epochs: Annotated[int | None, option(C, "epochs")] = None,
    batch_size: Annotated[int | None, option(C, "batch_size")] = None,
    lr: Annotated[float | None, option(C, "lr")] = None,
    weight_decay: Annotated[float | None, option(C, "weight_decay")] = None,
    augment: Annotated[bool | None, option(C, "augment")] = None,
    train_sources: Annotated[str | None, option(C, "train_sources")] = None,
    seed: Annotated[int | None, option(C, "seed")] = None,
    bootstrap: Annotated[int | None, option(C, "bootstrap")] = None,
    accelerator: Annotated[str | None, option(C, "accelerator")] = None,
    cache_dir: Annotated[Path | None, option(C, "cache_dir")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    threshold: Annotated[float | None, option(C, "threshold")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with LungsConfig keys.")] = None,
) -> None:
    """Train a U-Net on the manifest's lung masks (its patient-level split); Dice and IoU
    with patient-bootstrap CIs on the held-out patients."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.lungs.lungs_scoring import scores_table
    from cxr.pipelines.lungs.train_lungs import run_lungs_train

    cfg = build_config(C, config, **overrides(train, locals(), C))
    from cxr.runtime.runguard import output_lock

    with output_lock(out):  # a second run into the same folder is refused, not mixed in
        run = run_lungs_train(cfg, manifest=manifest, out_dir=out, resume=resume)
    console = Console()
    console.print(scores_table(run.metrics["sets"], "cxr lungs train: held-out patients"))
    console.print(f"wrote {run.out_dir / 'lungs.pt'} and {run.out_dir / 'metrics.json'}")


@app.command("evaluate")
def evaluate(
    *,
    checkpoint: Annotated[Path, command_option(help="lungs.pt (or its run folder).")],
    manifest: Annotated[Path, command_option(help="Manifest with reference lung masks.")],
    out: Annotated[Path, command_option(help="Folder for scores.json, the CSV and figure.")],
    split: Annotated[
        str, command_option(help="Rows to score: train, val, test or all.")
    ] = "all",
    bootstrap: Annotated[int | None, option(C, "bootstrap")] = None,
    seed: Annotated[int | None, option(C, "seed")] = None,
    device: Annotated[str | None, option(C, "device")] = None,
    cache_dir: Annotated[Path | None, option(C, "cache_dir")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    min_area: Annotated[float | None, option(C, "min_area")] = None,
    max_area: Annotated[float | None, option(C, "max_area")] = None,
    min_component: Annotated[float | None, option(C, "min_component")] = None,
    min_balance: Annotated[float | None, option(C, "min_balance")] = None,
    edge_margin: Annotated[float | None, option(C, "edge_margin")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with LungsConfig keys.")] = None,
) -> None:
    """Score a trained lung segmenter on any manifest's ground-truth lung masks (an
    external set): Dice and IoU with patient-bootstrap CIs, the worst cases as a figure."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.lungs.lungs_scoring import scores_table
    from cxr.pipelines.lungs.predict_lungs import run_lungs_evaluate

    cfg = build_config(C, config, **overrides(evaluate, locals(), C))
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        res = run_lungs_evaluate(cfg, checkpoint=checkpoint, manifest=manifest, out_dir=out,
                                 split=split)
    Console().print(scores_table([res], f"cxr lungs evaluate: {manifest.name}"))


@app.command("predict")
def predict(
    *,
    checkpoint: Annotated[Path, command_option(help="lungs.pt (or its run folder).")],
    manifest: Annotated[Path, command_option(help="Manifest whose images need lung masks.")],
    out: Annotated[
        Path, command_option(help="Folder for masks/ and manifest.csv (lung_mask_path filled).")
    ],
    device: Annotated[str | None, option(C, "device")] = None,
    cache_dir: Annotated[Path | None, option(C, "cache_dir")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    threshold: Annotated[float | None, option(C, "threshold")] = None,
    min_area: Annotated[float | None, option(C, "min_area")] = None,
    max_area: Annotated[float | None, option(C, "max_area")] = None,
    min_component: Annotated[float | None, option(C, "min_component")] = None,
    min_balance: Annotated[float | None, option(C, "min_balance")] = None,
    edge_margin: Annotated[float | None, option(C, "edge_margin")] = None,
    overwrite: Annotated[bool | None, option(C, "overwrite")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with LungsConfig keys.")] = None,
) -> None:
    """Predicted lung masks (PNG) for every image without one; implausible masks are
    flagged in lung_mask_flag and not used."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.lungs.predict_lungs import predict_table, run_lungs_predict

    cfg = build_config(C, config, **overrides(predict, locals(), C))
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        res = run_lungs_predict(cfg, checkpoint=checkpoint, manifest=manifest, out_dir=out)
    console = Console()
    console.print(predict_table(res))
    console.print(f"wrote {res.manifest}")
