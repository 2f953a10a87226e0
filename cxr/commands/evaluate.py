"""`cxr evaluate`: score a trained classifier on any manifest, without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def evaluate(
    *,
    checkpoint: Annotated[Path, typer.Option(help="best.ckpt of a `cxr classify` run.")],
    manifest: Annotated[Path, typer.Option(help="Manifest of the images to evaluate.")],
    out: Annotated[Path, typer.Option(help="Output directory (metrics.json, predictions, plots).")],
    split: Annotated[
        str, typer.Option(help="Rows to evaluate: test, val, train or all.")
    ] = "test",
    batch_size: Annotated[
        int, typer.Option(help="Inference batch size; 0 = the run's (reproduces its metrics).")
    ] = 0,
    bootstrap: Annotated[
        int, typer.Option(help="Patient-bootstrap resamples for the CIs; -1 = the run's.")
    ] = -1,
    seed: Annotated[int, typer.Option(help="Bootstrap seed; -1 = the run's.")] = -1,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader workers.")] = 0,
    cache_dir: Annotated[Path, typer.Option(help="Image cache folder.")] = Path(".cxr-cache"),
) -> None:
    """Metrics with patient-level CIs, per source and within source, at the run's threshold."""
    from cxr.config import EvaluateConfig, build_config
    from cxr.experiments.evaluate.run import run_evaluate

    cfg = build_config(
        EvaluateConfig, None, checkpoint=str(checkpoint), manifest=str(manifest), out=str(out),
        split=split, batch_size=batch_size, bootstrap=bootstrap, seed=seed, device=device,
        workers=workers, cache_dir=str(cache_dir),
    )
    run_evaluate(cfg)
