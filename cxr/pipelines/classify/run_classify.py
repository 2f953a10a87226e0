"""`cxr classify`: train a COVID-19 classifier, pick the threshold on validation, test once.

Transfer learning from torchvision backbones (registry in
:mod:`cxr.classifier.backbones`) with optional CycleGAN images (Zhu et al.,
ICCV 2017) mixed into the COVID-19 class as in GAN-augmentation studies
(Waheed et al., IEEE Access 2020). Evaluation follows the leakage and reporting
advice of Roberts et al. (Nat. Mach. Intell. 2021): patient-level splits, GAN
and augmented images only in training, the operating threshold chosen on
validation (binary: the highest threshold reaching ``target_sensitivity``;
3-class: argmax) and never on test, and 95% bootstrap CIs resampled by patient.

Run directory::

    config.yaml        resolved config          best.ckpt     self-describing weights
    MODEL_CARD.md      the model card (Hugging Face layout; model_card.json the same as JSON)
    metrics.json       test metrics + CIs       predictions.csv   one row per test image
    run.json           draws, GAN count, ...    plots/        ROC, PR, confusion, calibration
    checkpoints/       Lightning best/last      logs/         CSV training log
                       (while training)
    external/<NAME>/   metrics.json, predictions.csv, plots/ of each ``--external`` set
    tensorboard/       curves, test metrics (``logger=tensorboard``, the default; or MLflow,
                       see :mod:`cxr.runtime.tracking`)

``metrics.json`` also holds ``by_dataset``, ``within_source`` and ``external``
(:mod:`cxr.pipelines.classify.score`). A finished run directory is not retrained
(its summary is shown again; ``--external`` sets not yet evaluated are
evaluated from ``best.ckpt``); a killed run continues from
``checkpoints/last.ckpt``. Lightning's checkpoints (weights plus optimizer state,
about three times ``best.ckpt`` each) exist only to resume: they are deleted when
the run finishes, unless ``keep_checkpoints``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxr.config import ClassifyConfig, config_to_dict, load_saved_config, save_config
from cxr.pipelines.classify.run_folder import ClassifyRunFolder, RunRecord
from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    from cxr.pipelines.classify.loaders import ClassifyData


@dataclasses.dataclass
class ClassifyResult:
    out: Path
    metrics: dict[str, Any]
    run: dict[str, Any]
    reused: bool = False


def check_options(cfg: ClassifyConfig) -> None:
    """Fail fast, before any data is read, on options that cannot work."""
    from cxr.augment.mixing import AUG_SCOPES, BALANCE_MODES
    from cxr.augment.transforms import pipeline_names
    from cxr.classifier.factory import backbone_class
    from cxr.classifier.losses import LOSSES
    from cxr.classifier.module import TRANSFER_MODES
    from cxr.classifier.tasks import task_classes
    from cxr.data.views import VIEW_POLICIES
    from cxr.runtime.tracking import check_logger

    task_classes(cfg.task)
    check_logger(cfg.logger)
    backbone_class(cfg.backbone).check_input_size(cfg.image_size)
    for value, valid, opt in (
        (cfg.loss, LOSSES, "--loss"),
        (cfg.transfer, TRANSFER_MODES, "--transfer"),
        (cfg.balance, BALANCE_MODES, "--balance"),
        (cfg.aug_scope, AUG_SCOPES, "--aug-scope"),
        (cfg.augment, ("none", *pipeline_names()), "--augment"),
        (cfg.views, VIEW_POLICIES, "--views"),
    ):
        if value not in valid:
            raise ConfigError(f"{opt} {value!r} is not one of: {', '.join(valid)}")
    if cfg.external:
        from cxr.pipelines.classify.external import parse_external

        parse_external(cfg.external)
    if not 0.0 <= cfg.synthetic_ratio < 1.0:
        raise ConfigError(f"--with-synthetic must be in [0, 1), got {cfg.synthetic_ratio}")
    for name in ("epochs", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.lr > 0:
        raise ConfigError(f"--lr must be > 0, got {cfg.lr}")
    if cfg.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {cfg.workers}")
    if cfg.pretrained.startswith("txv:"):  # the weights file, before any data is read
        from cxr.classifier.txv_weights import parse_txv, require_file

        weights = parse_txv(cfg.pretrained)
        if weights.backbone != cfg.backbone:
            raise ConfigError(f"--pretrained {weights.spec} holds {weights.backbone} weights; "
                              f"use --backbone {weights.backbone} (got {cfg.backbone})")
        require_file(weights)


def _finished(cfg: ClassifyConfig, out: Path) -> ClassifyResult | None:
    """The finished run in ``out`` (same config), None when there is none to reuse.

    A run (finished or killed) with another config is never reused, resumed or mixed with;
    only ``--external`` sets may be added to a finished run.
    """
    folder = ClassifyRunFolder(out)
    if not folder.config.is_file():
        return None
    saved = load_saved_config(ClassifyConfig, out, folder.CONFIG)
    done = folder.is_finished()
    # neither the external sets nor where the run is tracked change its results
    free = ("external", "logger", "mlflow_uri")
    if dataclasses.replace(saved, **{k: getattr(cfg, k) for k in free}) != cfg:
        diff = [k for k, v in config_to_dict(cfg).items()
                if config_to_dict(saved)[k] != v and k not in free]
        state = "finished" if done else "unfinished"
        raise ConfigError(f"{out} holds an {state} run with a different config "
                          f"({', '.join(diff)}); use a new --out")
    if not done:
        return None
    metrics = folder.read_metrics()
    if saved.external != cfg.external:
        metrics = _add_external(cfg, out, metrics)
    run = folder.read_run().to_dict() | {"reused": True}
    card = folder.read_model_card(tolerant=True)
    if (card.get("cxr") or {}).get("metrics") != metrics:  # new external sets, or an older run
        from cxr.pipelines.classify.model_card import write_model_card

        write_model_card(out)
    return ClassifyResult(out, metrics, run, True)


def _add_external(cfg: ClassifyConfig, out: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the ``--external`` sets a finished run has not seen, from its ``best.ckpt``."""
    from cxr.classifier import load_classifier
    from cxr.pipelines.classify.classify_outputs import write_json
    from cxr.pipelines.classify.external import evaluate_external, parse_external
    from cxr.pipelines.classify.loaders import merge_manifests
    from cxr.runtime.device import resolve_device

    have = metrics.get("external") or {}
    todo = [s for s, (name, path) in zip(cfg.external, parse_external(cfg.external), strict=True)
            if (have.get(name) or {}).get("manifest") != str(path)]
    if todo:
        device = resolve_device("cpu" if cfg.accelerator == "cpu" else "auto")
        model, info = load_classifier(ClassifyRunFolder(out).weights, map_location=device)
        merged = merge_manifests(cfg)
        dev = merged[merged["split"].isin(["train", "val"])]
        have = have | evaluate_external(todo, model, info, dev, out=out, cache_dir=cfg.cache_dir,
                                        workers=cfg.workers, device=device, progress=False,
                                        trust_gan_lineage=cfg.trust_gan_lineage)
    metrics = metrics | {"external": have}
    write_json(ClassifyRunFolder(out).metrics, metrics)
    save_config(dataclasses.replace(cfg, external=tuple(sorted(set(cfg.external) | set(
        load_saved_config(ClassifyConfig, out).external)))), out)
    return metrics


def _trainer(cfg: ClassifyConfig, out: Path, progress: bool) -> Any:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from cxr.classifier.module import TransferSchedule
    from cxr.runtime.lightning_io import AtomicCheckpointIO
    from cxr.runtime.lightning_stop import StopAtSafePoint
    from cxr.runtime.lightning_threads import FollowLoad
    from cxr.runtime.tracking import lightning_loggers

    devices: Any = cfg.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    callbacks: list[Any] = [
        # last.ckpt after every epoch, so a resumed run repeats at most the interrupted one
        ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_auroc",
                        # an epoch that improved links last.ckpt to best.ckpt instead of
                        # writing the weights and optimiser state twice (VGG16: 1.6 GB each)
                        mode="max", save_last="link", every_n_epochs=1),
        EarlyStopping(monitor="val_auroc", mode="max", patience=cfg.patience),
        TransferSchedule(cfg.transfer, cfg.unfreeze_epoch),
        FollowLoad(),  # torch threads follow the load (cxr/runtime/lightning_threads.py)
        # SIGTERM/SIGINT: stop at the next batch end, keeping last.ckpt (runtime/lightning_stop.py)
        StopAtSafePoint(out / "checkpoints" / "last.ckpt"),
    ]
    if progress:
        from cxr.runtime.progress import epoch_progress_bar

        callbacks.append(epoch_progress_bar())  # rich bar on a terminal, a line per epoch in a log
    from cxr.runtime.lightning_quiet import quiet_lightning

    quiet_lightning()
    return L.Trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=devices,
        strategy=cfg.strategy, precision=cfg.precision,  # type: ignore[arg-type]
        deterministic="warn", callbacks=callbacks, default_root_dir=out,
        plugins=[AtomicCheckpointIO()],
        logger=lightning_loggers(cfg.logger, out, csv=True, experiment="cxr-classify",
                                 run_name=out.name, uri=cfg.mlflow_uri),
        enable_progress_bar=progress,
        enable_model_summary=False, log_every_n_steps=1, num_sanity_val_steps=0,
        # the mixing sampler shards by rank itself; Lightning's DistributedSampler wrapper
        # would not forward set_epoch to it, replaying epoch 0's draws every epoch
        use_distributed_sampler=False,
    )


def evaluate_saved(cfg: ClassifyConfig, out: Path, data: ClassifyData, device: Any, *,
                   progress: bool) -> dict[str, Any]:
    """Test split (and ``cfg.external`` sets) scored from the saved ``best.ckpt``.

    Scoring the reloaded checkpoint through :mod:`cxr.pipelines.classify.score`
    is what lets `cxr evaluate` reproduce these numbers exactly.
    """
    from cxr.classifier import load_classifier
    from cxr.pipelines.classify.external import evaluate_external
    from cxr.pipelines.classify.score import score, set_metrics, write_set

    model, info = load_classifier(ClassifyRunFolder(out).weights, map_location=device)
    test = data.masks["test"]
    scored = score(model, info, data.df[test].reset_index(drop=True), data.targets[test],
                   cache_dir=cfg.cache_dir, workers=cfg.workers, device=device,
                   progress=progress, label="test")
    metrics = set_metrics(scored, info)
    if cfg.external:
        dev = data.df[data.masks["train"] | data.masks["val"]]
        metrics["external"] = evaluate_external(
            cfg.external, model, info, dev, out=out, cache_dir=cfg.cache_dir,
            workers=cfg.workers, device=device, progress=progress,
            trust_gan_lineage=cfg.trust_gan_lineage)
    if data.lineage is not None:
        metrics["gan_lineage"] = data.lineage.to_dict()
    write_set(out, scored, info, metrics_name=ClassifyRunFolder.METRICS, metrics=metrics)
    return metrics


def run_classify(cfg: ClassifyConfig, out: str | Path, *, progress: bool = True,
                 keep_checkpoints: bool = False) -> ClassifyResult:
    """Train, choose the threshold on validation, evaluate on test; see the module docstring."""
    import shutil

    import lightning as L
    import numpy as np
    import torch
    from rich.console import Console

    from cxr.augment.mixing import class_weights
    from cxr.classifier import ClassifierInfo, create_backbone, save_classifier
    from cxr.classifier.losses import build_loss
    from cxr.classifier.metrics import choose_threshold
    from cxr.classifier.module import ClassifierModule
    from cxr.data.leakage.confounding import print_confounding
    from cxr.data.manifest import manifest_key
    from cxr.pipelines.classify.classify_outputs import predict_probs, summary_table
    from cxr.pipelines.classify.loaders import make_loaders, prepare_data
    from cxr.pipelines.classify.model_card import data_facts, write_model_card
    from cxr.runtime.device import resolve_device
    from cxr.runtime.files import safe_torch_load
    from cxr.runtime.lightning_io import resume_point
    from cxr.runtime.tracking import headline_metrics, log_final, log_params

    out = Path(out)
    console = Console(stderr=True, quiet=not progress)
    check_options(cfg)
    done = _finished(cfg, out)
    if done is not None:
        console.print(summary_table(done.metrics, done.run | {"out": str(out)}))
        return done

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    data = prepare_data(cfg, progress=progress)
    if data.confounding is not None:
        print_confounding(data.confounding, console)
    loaders = make_loaders(data, cfg)
    save_config(cfg, out)
    plan = data.first_plan
    n_cls, pos = len(data.classes), data.positive_index
    weights = None
    if cfg.loss == "weighted-ce" or cfg.balance == "class-weights":
        train_targets = data.targets[data.masks["train"]]
        weights = torch.tensor(class_weights(train_targets[plan.indices], n_cls),
                               dtype=torch.float32)
    backbone = create_backbone(cfg.backbone, n_cls, pretrained=cfg.pretrained, in_chans=1)
    if cfg.pretrained not in ("", "none"):
        console.print(f"[dim]pretrained weights: {backbone.load_report.summary()}[/dim]")
        native = backbone.load_report.input_size
        if native and native != cfg.image_size:
            console.print(f"[yellow]warning:[/] {cfg.pretrained} was trained at {native} px; "
                          f"--image-size {cfg.image_size} shifts its features "
                          f"(use --image-size {native} to start from them unchanged)",
                          highlight=False)
    module = ClassifierModule(
        backbone,
        build_loss(cfg.loss, num_classes=n_cls, positive_index=pos, class_weights=weights,
                   gamma=cfg.focal_gamma, alpha=cfg.focal_alpha),
        classes=data.classes, lr=cfg.lr, weight_decay=cfg.weight_decay, max_epochs=cfg.epochs,
    )
    from cxr.runtime.device import cpu_bf16_note

    if note := cpu_bf16_note(cfg.precision, cfg.accelerator):
        console.print(f"[yellow]warning:[/] {note}", highlight=False)
    trainer = _trainer(cfg, out, progress)
    log_params(trainer.loggers, config_to_dict(cfg))
    last = out / "checkpoints" / "last.ckpt"
    ckpts = out / "checkpoints"
    start = resume_point([ckpts / "last.ckpt", ckpts / "best.ckpt"], console.print)
    trainer.fit(module, loaders["train"], loaders["val"],
                ckpt_path=None if start is None else str(start))
    if trainer.global_rank != 0:
        return ClassifyResult(out, {}, {})

    ckpt_cb = trainer.checkpoint_callback
    best = Path(ckpt_cb.best_model_path) if ckpt_cb and ckpt_cb.best_model_path else last
    module.load_state_dict(safe_torch_load(best, what="Lightning checkpoint")["state_dict"])
    device = resolve_device("cpu" if cfg.accelerator == "cpu" else "auto")
    p_val, r_val = predict_probs(module.backbone, loaders["val"], device, progress=progress,
                                 label="validation")
    threshold = None
    if n_cls == 2:
        threshold = choose_threshold(data.targets[r_val] == pos, p_val[:, pos],
                                     cfg.target_sensitivity)
    train_df = data.rows("train")
    info = ClassifierInfo(
        classes=data.classes, task=cfg.task, backbone=cfg.backbone, image_size=cfg.image_size,
        resize_mode=cfg.resize_mode, threshold=threshold, positive="covid",
        manifest_key=manifest_key(train_df), eval_batch_size=cfg.batch_size,
        bootstrap=cfg.bootstrap, seed=cfg.seed,
    )
    folder = ClassifyRunFolder(out)
    save_classifier(folder.weights, module.backbone.cpu(), info)
    metrics = evaluate_saved(cfg, out, data, device, progress=progress)
    log_final(trainer.loggers, headline_metrics(metrics), step=trainer.global_step)
    best_score = ckpt_cb.best_model_score if ckpt_cb else None
    record = RunRecord(
        backbone=cfg.backbone, task=cfg.task, classes=list(data.classes),
        inputs={"manifest": str(Path(cfg.manifest).resolve()) if cfg.manifest else None,
                "synthetic_manifest": (str(Path(cfg.synthetic_manifest).resolve())
                                       if cfg.synthetic_manifest else None)},
        threshold=threshold, target=cfg.target_sensitivity,
        train_rows={"real": int((train_df["origin"] == "real").sum()),
                    "gan_available": int((train_df["origin"] == "gan").sum())},
        real_covid_train=int(((data.targets[data.masks["train"]] == pos)
                              & (train_df["origin"] == "real").to_numpy()).sum()),
        gan_per_epoch=int(np.unique(plan.indices[train_df["origin"].to_numpy()[plan.indices]
                                                 == "gan"]).size),
        gan_draws_per_epoch=int(plan.counts.get(pos, {}).get("gan", 0)),
        draws_per_epoch={data.classes[c]: v for c, v in sorted(plan.counts.items())},
        left_out=data.left_out, unsplit_rows=data.unsplit,
        val_images=int(data.masks["val"].sum()), test_images=int(data.masks["test"].sum()),
        epochs_run=int(trainer.current_epoch),
        best_val_auroc=None if best_score is None else float(best_score),
        lightning_checkpoints=str(best.parent) if keep_checkpoints else "removed",
        cache=str(data.cache.path),
        class_weights=None if weights is None else [float(w) for w in weights],
        external=sorted(metrics.get("external") or {}),
        source_confounding=None if data.confounding is None else data.confounding.to_dict(),
        gan_lineage=None if data.lineage is None else data.lineage.to_dict(),
        data=data_facts(data.df, data.targets, data.masks, data.classes),
    )
    folder.write_run(record)
    write_model_card(out)  # after run.json and metrics.json: the card is built from them
    run = record.to_dict()
    if not keep_checkpoints:  # best.ckpt (written above) is the run's one set of weights
        shutil.rmtree(folder.checkpoints, ignore_errors=True)
    console.print(summary_table(metrics, run | {"out": str(out)}))
    return ClassifyResult(out, metrics, run)
