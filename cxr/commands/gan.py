"""`cxr gan ...`: CycleGAN training, synthesis and evaluation (Zhu et al., ICCV 2017)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="CycleGAN: train source->target, synthesise, evaluate.", no_args_is_help=True
)


@app.command("train")
def train(
    *,
    manifest: Annotated[Path, typer.Option(help="Split manifest CSV (train split is used).")],
    out: Annotated[Path, typer.Option(help="Run folder, e.g. runs/gan-NAME.")],
    source: Annotated[
        str | None,
        typer.Option(help="Source label(s), comma-separated: normal, pneumonia (default normal)."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target label (default covid).")] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Square image size, multiple of 4 (default 256).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs at constant learning rate (default 100).")
    ] = None,
    epochs_decay: Annotated[
        int | None, typer.Option(help="Epochs of linear decay to zero afterwards (default 100).")
    ] = None,
    steps_per_epoch: Annotated[
        int | None, typer.Option(help="Steps per epoch; 0 = max(|A|,|B|)/batch (default 0).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 1).")] = None,
    ngf: Annotated[int | None, typer.Option(help="Generator base width (default 64).")] = None,
    ndf: Annotated[int | None, typer.Option(help="Discriminator base width (default 64).")] = None,
    n_blocks: Annotated[
        int | None, typer.Option(help="Residual blocks; 0 = 9 above 128 px else 6 (default 0).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    precision: Annotated[
        str | None, typer.Option(help="Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    ] = None,
    devices: Annotated[
        str | None, typer.Option(help="Lightning devices (count, list, auto).")
    ] = None,
    strategy: Annotated[
        str | None, typer.Option(help="Lightning strategy, e.g. ddp (default auto).")
    ] = None,
    accelerator: Annotated[str | None, typer.Option(help="cpu, gpu, auto (default auto).")] = None,
    compile: Annotated[
        bool | None, typer.Option("--compile/--no-compile", help="torch.compile the networks.")
    ] = None,
    num_workers: Annotated[int | None, typer.Option(help="DataLoader workers (default 0).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file with GanConfig keys.")] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last epoch.")
    ] = False,
    cache_dir: Annotated[
        str | None, typer.Option(help="Image cache folder (default .cxr-cache).")
    ] = None,
) -> None:
    """Train a CycleGAN translating train-split SOURCE images into TARGET (e.g. normal -> covid)."""
    from rich.console import Console

    from cxr.config import GanConfig, build_config
    from cxr.experiments.gan.train import summary_table, train_gan

    saved = out / "config.yaml"
    cfg = build_config(
        GanConfig,
        config if config is not None or not (resume and saved.is_file()) else saved,
        source=source,
        target=target,
        image_size=image_size,
        epochs=epochs,
        epochs_decay=epochs_decay,
        steps_per_epoch=steps_per_epoch,
        batch_size=batch_size,
        ngf=ngf,
        ndf=ndf,
        n_blocks=n_blocks,
        seed=seed,
        precision=precision,
        devices=devices,
        strategy=strategy,
        accelerator=accelerator,
        compile=compile,
        num_workers=num_workers,
        cache_dir=cache_dir,
    )
    result = train_gan(cfg, manifest=manifest, out_dir=out, resume=resume)
    Console().print(summary_table(result))


@app.command("synth")
def synth(
    *,
    n: Annotated[int, typer.Option(help="Number of synthetic images to write.")],
    checkpoint: Annotated[Path, typer.Option(help="`cxr gan train` checkpoint (last.ckpt).")],
    manifest: Annotated[Path, typer.Option(help="Split manifest; train-split sources are used.")],
    out: Annotated[Path, typer.Option(help="Output folder (images/ + manifest.csv).")],
    batch_size: Annotated[int, typer.Option(help="Images per generator call.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the reuse augmentations.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
) -> None:
    """Translate train-split source images into the target class; resumable, with provenance."""
    from rich.console import Console

    from cxr.experiments.gan.synth import run_synth, synth_table

    result = run_synth(
        checkpoint=checkpoint,
        manifest=manifest,
        out_dir=out,
        n=n,
        batch_size=batch_size,
        seed=seed,
        device=device,
    )
    Console().print(synth_table(result))


@app.command("eval")
def evaluate(
    *,
    synthetic: Annotated[Path, typer.Option(help="`cxr gan synth` folder or its manifest.csv.")],
    manifest: Annotated[
        Path, typer.Option(help="Split manifest; held-out real images are the reference.")
    ],
    features: Annotated[
        str, typer.Option(help="FID/KID features: inception, xray (classifier), auto.")
    ] = "auto",
    classifier: Annotated[
        Path | None,
        typer.Option(help="Classifier trained on real images (x-ray features, labels)."),
    ] = None,
    inception_weights: Annotated[
        Path | None, typer.Option(help="Local pt_inception-2015-12-05-6726825d.pth.")
    ] = None,
    kid_subsets: Annotated[int, typer.Option(help="KID subsets.")] = 100,
    out: Annotated[Path | None, typer.Option(help="Folder for eval.json.")] = None,
) -> None:
    """FID/KID vs held-out real images, label preservation, lesion-region intensity change."""
    from rich.console import Console

    from cxr.experiments.gan.evaluate import eval_table, run_gan_eval

    res = run_gan_eval(
        manifest=manifest,
        synthetic_manifest=synthetic,
        out_dir=out,
        features=features,
        classifier=classifier,
        inception_weights=inception_weights,
        kid_subsets=kid_subsets,
    )
    console = Console()
    console.print(eval_table(res))
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}")
