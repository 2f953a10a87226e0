"""External validation: a trained classifier on test sets from other sources.

An internal test split shares its hospitals, scanners and preprocessing with
training; a model can score well on it by recognising them (Zech et al., PLoS
Med. 2018; DeGrave et al., Nat. Mach. Intell. 2021). Each ``--external
NAME=MANIFEST`` set is evaluated exactly like the internal test split
(:mod:`cxr.pipelines.classify.score`): the validation-chosen threshold, never
re-tuned; patient-level bootstrap CIs; ``by_dataset`` and ``within_source``.
All real rows of the manifest whose label the task uses are evaluated,
whatever their ``split`` column says (an external set is test data only).

Before scoring, :func:`cxr.data.leakage.crossleak.check_disjoint` refuses a set that
shares a patient or a (near-)duplicate image with the run's training or
validation data.

Outputs per set: ``external/<NAME>/{metrics.json, predictions.csv, plots/}``;
the run's ``metrics.json`` holds the same metrics under ``external.<NAME>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from cxr.classifier import ClassifierInfo
    from cxr.classifier.backbones import Backbone

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_external(specs: tuple[str, ...] | list[str]) -> list[tuple[str, Path]]:
    """``NAME=MANIFEST`` strings -> ``[(name, path)]``; names unique and file-name safe."""
    out: list[tuple[str, Path]] = []
    for spec in specs:
        name, sep, path = str(spec).partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ConfigError(f"--external {spec!r}: expected NAME=MANIFEST")
        if not _NAME.match(name):
            raise ConfigError(f"--external {spec!r}: NAME may hold letters, digits, '_', '.', '-'")
        if any(name == n for n, _ in out):
            raise ConfigError(f"--external: the name {name!r} is given twice")
        if not Path(path).is_file():
            raise ConfigError(f"--external {name}: {path} is not a file")
        out.append((name, Path(path)))
    return out


def evaluate_external(
    specs: tuple[str, ...] | list[str], model: Backbone, info: ClassifierInfo,
    development: pd.DataFrame, *, out: Path, cache_dir: str, workers: int,
    device: torch.device, progress: bool, trust_gan_lineage: bool = False,
) -> dict[str, dict[str, Any]]:
    """Leakage-check, score and write every external set; ``{name: metrics}``.

    With GAN rows in ``development``, no patient or duplicate image of an
    external set may have trained that GAN (:mod:`cxr.data.leakage.lineage`).
    """
    from cxr.data.leakage.crossleak import check_disjoint
    from cxr.data.leakage.lineage import check_gan_rows
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.classify.score import score, set_metrics, task_rows, write_set

    results: dict[str, dict[str, Any]] = {}
    sets = parse_external(specs)
    loaded = []
    for name, path in sets:  # check every set before scoring any
        rows, y = task_rows(load_manifest(path), info, what=f"--external {name}")
        rep = check_disjoint(development, rows, name=f"--external {name} ({path})",
                             dev_name="training/validation")
        lineage = check_gan_rows(development[development["origin"] == "gan"],
                                 {f"--external {name}": rows}, trust=trust_gan_lineage)
        leak = rep.summary() + ("" if lineage is None else f"; {lineage.summary()}")
        loaded.append((name, path, rows, y, leak))
    for name, path, rows, y, leak in loaded:
        scored = score(model, info, rows, y, cache_dir=cache_dir, workers=workers, device=device,
                       progress=progress, label=f"external {name}")
        metrics = set_metrics(scored, info) | {"manifest": str(path), "leakage_check": leak}
        write_set(out / "external" / name, scored, info, metrics_name=ClassifyRunFolder.METRICS,
                  metrics=metrics)
        results[name] = metrics
    return results
