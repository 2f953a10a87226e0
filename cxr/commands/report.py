"""`cxr report DIR`: one self-contained HTML page for a classify run, a sweep or a demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import command_option


def report(
    path: Annotated[
        Path, typer.Argument(help="A classify run dir, a sweep dir, or a demo folder.")
    ],
    *,
    out: Annotated[
        Path | None, command_option(help="HTML file to write.", shown_default="PATH/report.html")
    ] = None,
    gan_eval: Annotated[
        list[Path] | None,
        command_option(help="eval.json of `cxr gan eval` (or its folder) to include; repeatable."),
    ] = None,
    explain: Annotated[
        list[Path] | None,
        command_option(help="Output folder of `cxr explain` to include; repeatable."),
    ] = None,
) -> None:
    """Write one self-contained HTML report for a run, sweep or demo folder.

    Sections: test metrics, dataset, split and leakage checks, GAN samples, FID/KID, sweep
    table and plots, ROC curves, Grad-CAM. The GAN evaluation and explanations of a run are
    found through the paths it recorded (and beside it); --gan-eval / --explain add others.
    Images are embedded; nothing is fetched.
    """
    from cxr.pipelines.report.build import build_report

    build_report(path, out, gan_evals=gan_eval or (), explains=explain or ())
