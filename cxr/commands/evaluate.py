"""`cxr evaluate`: score a trained classifier on any manifest, without retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import option, overrides
from cxr.config import EvaluateConfig as V


def evaluate(
    *,
    checkpoint: Annotated[Path, option(V, "checkpoint", required=True)],
    manifest: Annotated[Path, option(V, "manifest", required=True)],
    out: Annotated[Path, option(V, "out", required=True)],
    split: Annotated[str | None, option(V, "split")] = None,
    batch_size: Annotated[int | None, option(V, "batch_size")] = None,
    bootstrap: Annotated[int | None, option(V, "bootstrap")] = None,
    seed: Annotated[int | None, option(V, "seed")] = None,
    device: Annotated[str | None, option(V, "device")] = None,
    workers: Annotated[int | None, option(V, "workers")] = None,
    cache_dir: Annotated[Path | None, option(V, "cache_dir")] = None,
    on_copies: Annotated[str | None, option(V, "on_copies")] = None,
    trust_gan_lineage: Annotated[
        bool | None, option(V, "trust_gan_lineage", flag_only=True)
    ] = None,
) -> None:
    """Metrics with patient-level CIs, per source and within source, at the run's threshold."""
    from cxr.config import build_config
    from cxr.pipelines.evaluate.run_evaluate import run_evaluate

    run_evaluate(build_config(V, None, **overrides(evaluate, locals(), V)))
