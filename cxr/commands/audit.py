"""`cxr audit ...`: does the data let a classifier take a shortcut?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import AuditConfig as C

app = CxrTyper(help="Audits: source shortcuts in a manifest.", no_args_is_help=True)


@app.command("shortcuts")
def shortcuts(
    *,
    manifest: Annotated[
        Path, command_option(help="Split manifest (its real-origin rows are audited).")
    ],
    out: Annotated[Path, command_option(help="Folder for audit.json, audit.html, figures/.")],
    checkpoint: Annotated[
        Path | None,
        command_option(help="Classifier best.ckpt to audit (else a probe classifier is trained)."),
    ] = None,
    positive: Annotated[str | None, option(C, "positive")] = None,
    image_size: Annotated[int | None, option(C, "image_size")] = None,
    resize_mode: Annotated[str | None, option(C, "resize_mode")] = None,
    backbone: Annotated[str | None, option(C, "backbone")] = None,
    epochs: Annotated[int | None, option(C, "epochs")] = None,
    batch_size: Annotated[int | None, option(C, "batch_size")] = None,
    lr: Annotated[float | None, option(C, "lr")] = None,
    seed: Annotated[int | None, option(C, "seed")] = None,
    bootstrap: Annotated[int | None, option(C, "bootstrap")] = None,
    box_margin: Annotated[float | None, option(C, "box_margin")] = None,
    border_width: Annotated[float | None, option(C, "border_width")] = None,
    max_per_dataset: Annotated[int | None, option(C, "max_per_dataset")] = None,
    views: Annotated[str | None, option(C, "views")] = None,
    cam_images: Annotated[int | None, option(C, "cam_images")] = None,
    device: Annotated[str | None, option(C, "device")] = None,
    cache_dir: Annotated[Path | None, option(C, "cache_dir")] = None,
    workers: Annotated[int | None, option(C, "workers")] = None,
    config: Annotated[Path | None, command_option(help="YAML file with AuditConfig keys.")] = None,
) -> None:
    """Shortcut audit with a high / medium / low verdict: source probe, confounding per split,
    masking probes, and with --checkpoint Grad-CAM lung energy and the within-source gap."""
    from rich.console import Console

    from cxr.config import build_config
    from cxr.pipelines.audit.shortcuts import audit_table, run_shortcut_audit

    cfg = build_config(C, config, **overrides(shortcuts, locals(), C))
    res = run_shortcut_audit(cfg, manifest=manifest, out_dir=out, checkpoint=checkpoint)
    console = Console()
    console.print(audit_table(res))
    console.print(f"wrote {res.out_dir / 'audit.json'} and {res.out_dir / 'audit.html'}")
