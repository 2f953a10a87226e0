"""`cxr classify`, `cxr predict`, `cxr export`: train, apply and ship a classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def classify(
    *,
    manifest: Annotated[Path | None, typer.Option(help="Split manifest of real images.")] = None,
    out: Annotated[Path, typer.Option(help="Run directory (a finished one is not retrained).")],
    config: Annotated[Path | None, typer.Option(help="YAML file with ClassifyConfig keys.")] = None,
    backbone: Annotated[
        str | None, typer.Option(help="vgg16, resnet18, resnet50, efficientnet_b0, densenet121, "
                                      "squeezenet1_1, inception_v3 (default efficientnet_b0).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="binary (covid vs rest) or 3class.")] = None,
    with_synthetic: Annotated[
        float | None, typer.Option(help="Share r of COVID draws that are GAN images (default 0).")
    ] = None,
    synthetic_manifest: Annotated[
        Path | None, typer.Option(help="Manifest of GAN images (origin=gan), training only.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 20).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 32).")] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Square input side in px (default 224).")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW learning rate (default 3e-4).")] = None,
    loss: Annotated[str | None, typer.Option(help="ce, weighted-ce or focal (default ce).")] = None,
    augment: Annotated[
        str | None, typer.Option(help="none, light, standard or strong (default standard).")
    ] = None,
    aug_share: Annotated[
        float | None, typer.Option(help="Share of real draws augmented (default 0.3).")
    ] = None,
    aug_scope: Annotated[
        str | None, typer.Option(help="Classes augmented: all or minority (default all).")
    ] = None,
    balance: Annotated[
        str | None, typer.Option(help="none, oversample or class-weights (default none).")
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option(help="none, imagenet or a state-dict PATH (default none).")
    ] = None,
    transfer: Annotated[
        str | None, typer.Option(help="finetune, linear-probe or frozen-then-unfrozen.")
    ] = None,
    unfreeze_epoch: Annotated[
        int | None, typer.Option(help="frozen-then-unfrozen: epoch the body joins (default 2).")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="Lightning precision: 32-true, 16-mixed, bf16-mixed.")
    ] = None,
    accelerator: Annotated[
        str | None, typer.Option(help="auto, cpu or gpu (default auto).")
    ] = None,
    devices: Annotated[str | None, typer.Option(help="Lightning devices: auto, N, 0,1.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Lightning strategy, e.g. ddp.")] = None,
    workers: Annotated[int | None, typer.Option(help="DataLoader workers (default 2).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    external: Annotated[
        list[str] | None,
        typer.Option(help="External test set NAME=MANIFEST (repeatable): evaluated at the "
                          "validation threshold, leakage-checked against training."),
    ] = None,
) -> None:
    """Train a classifier; threshold on validation; test metrics with patient-level 95% CIs."""
    from cxr.config import ClassifyConfig, build_config
    from cxr.experiments.classify.run import run_classify

    cfg = build_config(
        ClassifyConfig, config,
        manifest=None if manifest is None else str(manifest),
        synthetic_manifest=None if synthetic_manifest is None else str(synthetic_manifest),
        backbone=backbone, task=task, synthetic_ratio=with_synthetic, epochs=epochs,
        batch_size=batch_size, image_size=image_size, lr=lr, loss=loss, augment=augment,
        aug_share=aug_share, aug_scope=aug_scope, balance=balance, pretrained=pretrained,
        transfer=transfer, unfreeze_epoch=unfreeze_epoch, precision=precision,
        accelerator=accelerator, devices=devices, strategy=strategy, workers=workers, seed=seed,
        external=tuple(external) if external else None,
    )
    run_classify(cfg, out)


def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, DICOM).")],
    *,
    checkpoint: Annotated[Path, typer.Option(help="best.ckpt of a `cxr classify` run.")],
    csv: Annotated[Path | None, typer.Option(help="Also write the probabilities here.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Print class probabilities and the decision for each image."""
    from cxr.experiments.classify.predict import run_predict

    run_predict(checkpoint, images, device=device, out_csv=csv)


def export(
    *,
    checkpoint: Annotated[Path, typer.Option(help="best.ckpt of a `cxr classify` run.")],
    onnx: Annotated[Path, typer.Option(help="ONNX file to write.")],
    opset: Annotated[int, typer.Option(help="ONNX opset version.")] = 17,
    atol: Annotated[float, typer.Option(help="Largest allowed |onnxruntime - PyTorch|.")] = 1e-4,
) -> None:
    """Export to ONNX (dynamic batch), verified against PyTorch under onnxruntime."""
    from cxr.experiments.classify.export import run_export

    run_export(checkpoint, onnx, opset=opset, atol=atol)
