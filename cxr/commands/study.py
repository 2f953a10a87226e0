"""`cxr study CONFIG`: the seed paper's question on real radiographs, one resumable run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import option, overrides
from cxr.config import StudyConfig as S


def study(
    config: Annotated[
        Path,
        typer.Argument(help="Study YAML (StudyConfig keys), e.g. configs/study/seed-paper.yaml."),
    ],
    *,
    out: Annotated[Path | None, option(S, "out")] = None,
    profile: Annotated[str | None, option(S, "profile")] = None,
    data_root: Annotated[Path | None, option(S, "data_root")] = None,
    index: Annotated[Path | None, option(S, "index")] = None,
) -> None:
    """Does CycleGAN-synthesised COVID-19 help VGG16, ResNet50 and EfficientNet-B0 on real
    radiographs, and is what they detect the disease or the source?

    index -> frontal views -> patient-level split -> GAN arms (+ FID/KID, synthetic audit) ->
    protocol grid with paired seeds -> scarcity curve -> leave-one-collection-out and
    within-source -> shortcut audit -> severity -> results.json + report.html (the
    confounding findings first). Resumable: rerun the same command after a kill.
    """
    from cxr.config import build_config
    from cxr.pipelines.study.run_study import run_study

    given = overrides(study, locals(), S)
    given.pop("config", None)
    cfg = build_config(S, config, **given)
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.out):
        run_study(cfg)
