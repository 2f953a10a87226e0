"""`cxr gan ...`: CycleGAN training, synthesis and evaluation (Zhu et al., ICCV 2017)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import GanAuditConfig as A
from cxr.config import GanConfig as G

app = CxrTyper(
    help="CycleGAN: train source->target, synthesise, evaluate.", no_args_is_help=True
)


@app.command("train")
def train(
    *,
    manifest: Annotated[
        Path, command_option(help="Split manifest CSV (the train split is used).")
    ],
    out: Annotated[Path, command_option(help="Run folder, e.g. runs/gan-NAME.")],
    source: Annotated[str | None, option(G, "source")] = None,
    target: Annotated[str | None, option(G, "target")] = None,
    image_size: Annotated[int | None, option(G, "image_size")] = None,
    epochs: Annotated[int | None, option(G, "epochs")] = None,
    epochs_decay: Annotated[int | None, option(G, "epochs_decay")] = None,
    steps_per_epoch: Annotated[int | None, option(G, "steps_per_epoch")] = None,
    batch_size: Annotated[int | None, option(G, "batch_size")] = None,
    ngf: Annotated[int | None, option(G, "ngf")] = None,
    ndf: Annotated[int | None, option(G, "ndf")] = None,
    n_blocks: Annotated[int | None, option(G, "n_blocks")] = None,
    seed: Annotated[int | None, option(G, "seed")] = None,
    views: Annotated[str | None, option(G, "views")] = None,
    precision: Annotated[str | None, option(G, "precision")] = None,
    devices: Annotated[str | None, option(G, "devices")] = None,
    strategy: Annotated[str | None, option(G, "strategy")] = None,
    accelerator: Annotated[str | None, option(G, "accelerator")] = None,
    compile: Annotated[bool | None, option(G, "compile")] = None,
    workers: Annotated[int | None, option(G, "workers")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with GanConfig keys.")] = None,
    resume: Annotated[
        bool, command_option("--resume", help="Continue the run in --out from its last epoch.")
    ] = False,
    cache_dir: Annotated[str | None, option(G, "cache_dir")] = None,
    logger: Annotated[str | None, option(G, "logger")] = None,
    mlflow_uri: Annotated[str | None, option(G, "mlflow_uri")] = None,
) -> None:
    """Train a CycleGAN translating train-split SOURCE images into TARGET (e.g. normal -> covid)."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.gan.train_gan import summary_table, train_gan

    saved = out / "config.yaml"
    cfg = build_config(
        G,
        config if config is not None or not (resume and saved.is_file()) else saved,
        **overrides(train, locals(), G),
    )
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        result = train_gan(cfg, manifest=manifest, out_dir=out, resume=resume)
    Console().print(summary_table(result))


@app.command("synth")
def synth(
    *,
    n: Annotated[int, command_option(help="Number of synthetic images to write.")],
    checkpoint: Annotated[Path, command_option(help="`cxr gan train` checkpoint (last.ckpt).")],
    manifest: Annotated[Path, command_option(help="Split manifest; train-split sources are used.")],
    out: Annotated[Path, command_option(help="Output folder (images/ + manifest.csv).")],
    batch_size: Annotated[int, command_option(help="Images per generator call.")] = 32,
    seed: Annotated[int, command_option(help="Seed of the reuse augmentations.")] = 0,
    device: Annotated[str, command_option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    trust_gan_lineage: Annotated[
        bool,
        command_option("--trust-gan-lineage",
                       help="Accept a checkpoint without a record of its training patients "
                            "(the outputs then say the lineage was not verified)."),
    ] = False,
) -> None:
    """Translate train-split source images into the target class; resumable, with provenance."""
    from rich.console import Console

    from cxr.pipelines.gan.run_synth import run_synth, synth_table
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        result = run_synth(
            checkpoint=checkpoint,
            manifest=manifest,
            out_dir=out,
            n=n,
            batch_size=batch_size,
            seed=seed,
            device=device,
            trust_gan_lineage=trust_gan_lineage,
        )
    Console().print(synth_table(result))


@app.command("eval")
def evaluate(
    *,
    synthetic: Annotated[Path, command_option(help="`cxr gan synth` folder or its manifest.csv.")],
    manifest: Annotated[
        Path, command_option(help="Split manifest; held-out real images are the reference.")
    ],
    features: Annotated[
        str, command_option(
            help="FID/KID features: inception, xray (the --classifier), txv:NAME[=PATH] "
            "(torchxrayvision chest X-ray weights, see README), auto."
        )
    ] = "auto",
    classifier: Annotated[
        Path | None,
        command_option(help="Classifier trained on real images (x-ray features, labels)."),
    ] = None,
    inception_weights: Annotated[
        Path | None, command_option(help="Local pt_inception-2015-12-05-6726825d.pth.")
    ] = None,
    kid_subsets: Annotated[int, command_option(help="KID subsets.")] = 100,
    out: Annotated[
        Path | None,
        command_option(help="Folder for eval.json and figures (without it, only printed)."),
    ] = None,
    no_audit: Annotated[
        bool,
        command_option(
            "--no-audit",
            help="Skip the synthetic-data audit (separability, memorisation, diversity, "
            "coverage, train-on-synthetic, equal-n FID/KID, each beside a real baseline).",
        ),
    ] = False,
    audit_images: Annotated[int | None, option(A, "audit_images")] = None,
    probe_epochs: Annotated[int | None, option(A, "probe_epochs")] = None,
    copy_ssim: Annotated[float | None, option(A, "copy_ssim")] = None,
    fid_repeats: Annotated[int | None, option(A, "fid_repeats")] = None,
    seed: Annotated[int | None, option(A, "seed")] = None,
) -> None:
    """FID/KID vs held-out real images, label preservation, lesion-region intensity change,
    and the synthetic-data audit."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.gan.gan_eval import eval_table, run_gan_eval

    audit_cfg = build_config(A, None, **overrides(evaluate, locals(), A)) if not no_audit else None
    res = run_gan_eval(
        manifest=manifest,
        synthetic_manifest=synthetic,
        out_dir=out,
        features=features,
        classifier=classifier,
        inception_weights=inception_weights,
        kid_subsets=kid_subsets,
        audit=audit_cfg,
    )
    console = Console()
    console.print(eval_table(res))
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}")
