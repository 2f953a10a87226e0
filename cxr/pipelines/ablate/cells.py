"""What one sweep cell means as a `cxr classify` run.

The arms differ in exactly the knobs being compared; everything else comes from
the sweep's base classify config (``classify_config`` YAML, then ``classify``
overrides, then the backbone's ``classify_by_backbone`` entry, e.g. a learning rate per
network):

============== =============== ========== ============== ========== ====================
arm            synthetic_ratio balance    augment        aug_scope  synthetic manifest
============== =============== ========== ============== ========== ====================
syn0 (ref.)    0               none       none           base       -
syn<r>         r               none       none           base       the split's GAN rows
oversample     0               oversample none           base       -
augment        0               none       base augment   minority   -
                                          (``standard``
                                          if none)
============== =============== ========== ============== ========== ====================

so the GAN is compared with the cheaper alternatives on equal terms: the
``augment`` arm is albumentations on the minority (COVID-19) class only, a share
``aug_share`` (from the base config) of its real draws per epoch, and no other
class is augmented (:mod:`cxr.augment.mixing`, ``aug_scope="minority"``), just as
GAN images are added to the minority only. With ``augment: none`` the other arms
augment nothing, so their ``aug_scope`` (the base config's) has no effect.

Resource options (devices, strategy, accelerator, workers, cache dir) are
passed to Lightning but left out of the cell's hash: moving a sweep to a GPU
does not invalidate finished cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cxr.config import AblateConfig, ClassifyConfig, build_config, config_to_dict
from cxr.pipelines.ablate.grid import Cell, CellTask, SplitInputs
from cxr.runtime.errors import ConfigError


def base_classify(sweep: AblateConfig) -> ClassifyConfig:
    if not isinstance(sweep.classify, dict):
        raise ConfigError("sweep config key 'classify': expected a mapping of classify options")
    return build_config(ClassifyConfig, sweep.classify_config or None, **sweep.classify)


#: what makes an arm an arm (and a cell a cell): never set per backbone
ARM_FIELDS = frozenset({"synthetic_ratio", "synthetic_manifest", "balance", "augment",
                        "aug_scope", "manifest", "backbone", "loss", "seed"})


def backbone_overrides(sweep: AblateConfig, backbone: str) -> dict[str, Any]:
    """The sweep's ``classify_by_backbone`` entry for ``backbone`` (checked), or ``{}``."""
    table = sweep.classify_by_backbone
    if not isinstance(table, dict):
        raise ConfigError("sweep config key 'classify_by_backbone': expected a mapping "
                          "backbone -> classify options")
    unknown = sorted(set(table) - set(sweep.backbones))
    if unknown:
        raise ConfigError(f"classify_by_backbone: {unknown[0]!r} is not one of the sweep's "
                          f"backbones ({', '.join(sweep.backbones)})")
    over = table.get(backbone) or {}
    if not isinstance(over, dict):
        raise ConfigError(f"classify_by_backbone.{backbone}: expected a mapping of classify "
                          f"options, got {over!r}")
    fixed = sorted(set(over) & ARM_FIELDS)
    if fixed:
        raise ConfigError(f"classify_by_backbone.{backbone}.{fixed[0]}: set by the sweep's "
                          "arms, not per backbone")
    return dict(over)


def check_backbone_overrides(sweep: AblateConfig) -> None:
    """Fail before any GAN or cell runs on a bad ``classify_by_backbone`` entry."""
    base = config_to_dict(base_classify(sweep))
    for backbone in sweep.backbones:
        over = backbone_overrides(sweep, backbone)
        if over:
            try:
                build_config(ClassifyConfig, None, **{**base, **over})
            except ConfigError as exc:
                raise ConfigError(f"classify_by_backbone.{backbone}: {exc}") from None


def resolve_classify(cell: Cell, inputs: SplitInputs, *, sweep: AblateConfig) -> dict[str, Any]:
    """The cell's full ClassifyConfig (as a dict) plus the content keys of its inputs."""
    base = base_classify(sweep)
    per_backbone = backbone_overrides(sweep, cell.backbone)
    if per_backbone:
        base = build_config(ClassifyConfig, None, **{**config_to_dict(base), **per_backbone})
    arm: dict[str, Any] = {"synthetic_ratio": cell.ratio, "balance": "none", "augment": "none"}
    if cell.baseline == "oversample":
        arm["balance"] = "oversample"
    elif cell.baseline == "augment":  # albumentations on the minority class only
        arm["augment"] = base.augment if base.augment != "none" else "standard"
        arm["aug_scope"] = "minority"
    if cell.ratio > 0 and not inputs.synthetic_manifest:
        raise ConfigError(
            f"cell {cell.prefix()}: synthetic ratio {cell.ratio:g} needs GAN images "
            "(train a GAN in the sweep or pass --synthetic-manifest)"
        )
    fields = {
        **config_to_dict(base),
        **arm,
        "manifest": inputs.manifest,
        "synthetic_manifest": inputs.synthetic_manifest if cell.ratio > 0 else "",
        "backbone": cell.backbone,
        "loss": cell.loss,
        "seed": cell.seed,
    }
    if sweep.devices:
        fields["devices"] = sweep.devices
    if sweep.strategy:
        fields["strategy"] = sweep.strategy
    # an MLflow sweep logs its finished cells itself (sweep/tracking.py)
    fields["logger"] = "csv" if sweep.logger == "mlflow" else sweep.logger
    cfg = build_config(ClassifyConfig, None, **fields)
    resolved = config_to_dict(cfg)
    resolved["_inputs"] = {
        "manifest_key": inputs.manifest_key,
        "synthetic_key": inputs.synthetic_key if cell.ratio > 0 else "",
    }
    return resolved


def classify_cell(
    task: CellTask, keep_checkpoints: bool = False, epoch_lines: bool = False
) -> None:
    """Run `cxr classify` for one cell into its run dir (Lightning resumes a killed cell).

    ``epoch_lines``: print `cxr classify`'s plain line per epoch (for a log; off under a
    live view or when cells run elsewhere).
    """
    import logging
    import warnings

    from cxr.pipelines.classify.run_classify import run_classify

    # many cells share one console: keep Lightning's per-run banners out of the live view
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    fields = {k: v for k, v in task.config.items() if not k.startswith("_")}
    cfg = build_config(ClassifyConfig, None, **fields)
    run_classify(cfg, Path(task.run_dir), progress=epoch_lines, keep_checkpoints=keep_checkpoints)
