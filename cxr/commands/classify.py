"""`cxr classify`, `cxr predict`, `cxr export`: train, apply and ship a classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import command_option, option, overrides
from cxr.config import ClassifyConfig as C


def classify(
    *,
    manifest: Annotated[Path | None, option(C, "manifest")] = None,
    out: Annotated[Path, command_option(help="Run directory (a finished one is not retrained).")],
    config: Annotated[
        Path | None, command_option(help="YAML file with ClassifyConfig keys.")
    ] = None,
    backbone: Annotated[str | None, option(C, "backbone")] = None,
    task: Annotated[str | None, option(C, "task")] = None,
    synthetic_ratio: Annotated[float | None, option(C, "synthetic_ratio")] = None,
    synthetic_manifest: Annotated[Path | None, option(C, "synthetic_manifest")] = None,
    epochs: Annotated[int | None, option(C, "epochs")] = None,
    batch_size: Annotated[int | None, option(C, "batch_size")] = None,
    image_size: Annotated[int | None, option(C, "image_size")] = None,
    lr: Annotated[float | None, option(C, "lr")] = None,
    patience: Annotated[int | None, option(C, "patience")] = None,
    loss: Annotated[str | None, option(C, "loss")] = None,
    augment: Annotated[str | None, option(C, "augment")] = None,
    aug_share: Annotated[float | None, option(C, "aug_share")] = None,
    aug_scope: Annotated[str | None, option(C, "aug_scope")] = None,
    balance: Annotated[str | None, option(C, "balance")] = None,
    pretrained: Annotated[str | None, option(C, "pretrained")] = None,
    transfer: Annotated[str | None, option(C, "transfer")] = None,
    unfreeze_epoch: Annotated[int | None, option(C, "unfreeze_epoch")] = None,
    precision: Annotated[str | None, option(C, "precision")] = None,
    accelerator: Annotated[str | None, option(C, "accelerator")] = None,
    devices: Annotated[str | None, option(C, "devices")] = None,
    strategy: Annotated[str | None, option(C, "strategy")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    seed: Annotated[int | None, option(C, "seed")] = None,
    views: Annotated[str | None, option(C, "views")] = None,
    external: Annotated[list[str] | None, option(C, "external")] = None,
    logger: Annotated[str | None, option(C, "logger")] = None,
    mlflow_uri: Annotated[str | None, option(C, "mlflow_uri")] = None,
    keep_checkpoints: Annotated[
        bool,
        command_option(
            "--keep-checkpoints",
            help="Keep Lightning's resume checkpoints (checkpoints/, weights plus optimizer "
            "state) after the run finishes; otherwise only best.ckpt.",
        ),
    ] = False,
    trust_gan_lineage: Annotated[
        bool | None, option(C, "trust_gan_lineage", flag_only=True)
    ] = None,
) -> None:
    """Train a classifier; threshold on validation; test metrics with patient-level 95% CIs."""
    from cxr.config import build_config
    from cxr.pipelines.classify.run_classify import run_classify

    cfg = build_config(C, config, **overrides(classify, locals(), C))
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        run_classify(cfg, out, keep_checkpoints=keep_checkpoints)


def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, DICOM).")],
    *,
    checkpoint: Annotated[Path, command_option(help="best.ckpt of a `cxr classify` run.")],
    csv: Annotated[Path | None, command_option(help="Also write the probabilities here.")] = None,
    device: Annotated[str, command_option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Print class probabilities and the decision for each image."""
    from cxr.runtime.errors import require_files

    require_files(checkpoint=[checkpoint], image=images)  # before torch and the model load
    from cxr.pipelines.classify.predict import run_predict

    run_predict(checkpoint, images, device=device, out_csv=csv)


def export(
    *,
    checkpoint: Annotated[Path, command_option(help="best.ckpt of a `cxr classify` run.")],
    onnx: Annotated[Path, command_option(help="ONNX file to write.")],
    opset: Annotated[int, command_option(help="ONNX opset version.")] = 17,
    atol: Annotated[
        float, command_option(help="Largest allowed |onnxruntime - PyTorch|.")
    ] = 1e-4,
) -> None:
    """Export to ONNX (dynamic batch), verified against PyTorch under onnxruntime."""
    from cxr.pipelines.classify.export import run_export

    run_export(checkpoint, onnx, opset=opset, atol=atol)
