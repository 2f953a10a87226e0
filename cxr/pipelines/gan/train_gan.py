"""`cxr gan train`: CycleGAN source -> target on the train split of a manifest.

Zhu et al., ICCV 2017 (CycleGAN), as used for COVID-19 chest X-ray
augmentation by e.g. Bar-El et al. 2021 and Morís et al. 2021. Combines the
data layer (manifest, leakage check, uint8 cache) with :mod:`cxr.cyclegan`.

Leakage guard: :func:`cxr.data.leakage.checks.check_leakage` runs on the manifest,
and only train-split, real-origin rows form the two domains
(:func:`cxr.cyclegan.domains.select_domains`). Held-out (val) images are only
*viewed* in the per-epoch grid.

Run folder: ``config.yaml``, ``checkpoints/last.ckpt`` (every epoch, atomic),
``samples/epoch_NNN.png``, ``losses.csv``, ``losses.png``, ``summary.json``, ``lineage.json``
(the patients, duplicate groups and image hashes of both domains,
:mod:`cxr.data.leakage.lineage`; also stored in the checkpoint, so synthesis, classification
and evaluation can refuse sets that share them), and with
``logger=tensorboard`` (the default) ``tensorboard/``: per-step and per-epoch losses and the
sample grids (or the same in MLflow, see :mod:`cxr.runtime.tracking`).
``resume=True`` continues from ``last.ckpt`` (epoch, optimisers, schedulers,
image pools, RNG), so a killed run loses at most the epoch in progress; with no
``last.ckpt`` yet it starts from epoch 0 and says so. SIGTERM/SIGINT stop the run
at the next batch end (:mod:`cxr.runtime.lightning_stop`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxr.config import GanConfig, config_to_dict, load_saved_config, save_config
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.fmt import fmt_duration, fmt_num
from cxr.runtime.progress import epoch_progress_bar

__all__ = [
    "GanRunResult", "build_module", "build_networks", "resolved_blocks", "summary_table",
    "train_gan",
]

# options that may change between a run and its resumption (they do not change the maths)
_RESUME_FREE = {
    "precision",
    "accelerator",
    "devices",
    "strategy",
    "compile",
    "workers",
    "cache_dir",
    "logger",
    "mlflow_uri",
}


@dataclass(frozen=True)
class GanRunResult:
    out_dir: Path
    checkpoint: Path
    epochs: int
    steps_per_epoch: int
    n_source: int
    n_target: int
    seconds: float
    final_losses: dict[str, float]


def resolved_blocks(cfg: GanConfig, image_size: int | None = None) -> int:
    """``cfg.n_blocks``, or the reference choice for the image size when it is 0."""
    from cxr.cyclegan.networks import auto_n_blocks

    return cfg.n_blocks or auto_n_blocks(image_size or cfg.image_size)


def build_networks(cfg: GanConfig, image_size: int | None = None) -> dict[str, Any]:
    """The four networks, seeded N(0, 0.02) init. 1-channel in and out."""
    from cxr.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, init_weights

    n_blocks = resolved_blocks(cfg, image_size)
    nets = {
        "G_A": ResnetGenerator(1, 1, cfg.ngf, n_blocks),
        "G_B": ResnetGenerator(1, 1, cfg.ngf, n_blocks),
        "D_A": NLayerDiscriminator(1, cfg.ndf, cfg.n_layers_d),
        "D_B": NLayerDiscriminator(1, cfg.ndf, cfg.n_layers_d),
    }
    for i, net in enumerate(nets.values()):
        init_weights(net, seed=cfg.seed * 100 + i)
    return nets


def build_module(
    nets: dict[str, Any], cfg: GanConfig, meta: dict[str, Any] | None = None
) -> Any:
    """The CycleGAN LightningModule for ``nets`` with ``cfg``'s training settings."""
    from cxr.cyclegan.gan_module import CycleGANModule

    return CycleGANModule(
        **nets,
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        lambda_cycle=cfg.lambda_cycle,
        lambda_identity=cfg.lambda_identity,
        epochs=cfg.epochs,
        epochs_decay=cfg.epochs_decay,
        pool_size=cfg.pool_size,
        aug_shift=cfg.aug_shift,
        aug_flip=cfg.aug_flip,
        seed=cfg.seed,
        record=config_to_dict(cfg),
        meta=meta,
    )


def _devices(value: str) -> int | str | list[int]:
    v = value.strip()
    if v.isdigit():
        return int(v)
    if "," in v:
        return [int(x) for x in v.split(",") if x.strip()]
    return v


def _check_resume(cfg: GanConfig, out_dir: Path) -> None:
    saved = load_saved_config(GanConfig, out_dir)
    for f in dataclasses.fields(GanConfig):
        if f.name in _RESUME_FREE:
            continue
        if getattr(saved, f.name) != getattr(cfg, f.name):
            raise ConfigError(
                f"--resume: option {f.name} is {getattr(cfg, f.name)!r} but the run in {out_dir} "
                f"used {getattr(saved, f.name)!r} (start a new --out to change it)"
            )


def train_gan(
    cfg: GanConfig,
    *,
    manifest: str | Path,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    callbacks: list[Any] | None = None,
) -> GanRunResult:
    """Train (or resume) a CycleGAN; returns where the checkpoint is and the last losses."""
    import lightning as L
    import numpy as np
    from rich.console import Console

    from cxr.cyclegan.domains import (
        UnpairedDataModule,
        monitor_rows,
        select_domains,
        steps_per_epoch,
    )
    from cxr.cyclegan.gan_module import LOSS_NAMES
    from cxr.cyclegan.monitor import EpochMonitor
    from cxr.data.images.cache import build_cache
    from cxr.data.leakage.checks import check_leakage
    from cxr.data.leakage.lineage import record_lineage
    from cxr.data.manifest import load_manifest, manifest_key
    from cxr.data.views import check_views_policy, views_left_out
    from cxr.runtime.lightning_io import resume_point
    from cxr.runtime.tracking import log_params

    out_dir = Path(out_dir)
    say = Console(stderr=True, quiet=not progress).print
    last = _check_start(cfg, out_dir, resume)
    if resume and not last.is_file():
        # a requeued job passes the same arguments every time, also when the signal came
        # before the first checkpoint: nothing to resume means the start
        say(f"--resume: no checkpoint at {last} yet; starting from epoch 0", highlight=False)
        resume = False
    if resume:  # a damaged last.ckpt is set aside and the run starts afresh
        resume = resume_point([last], say, fallback="starting from epoch 0") is not None

    check_views_policy(cfg.views)
    df = load_manifest(manifest)
    check_leakage(df)
    domains = select_domains(df, cfg.source, cfg.target, cfg.views)
    views_out = views_left_out(df[(df["split"] == "train") & (df["origin"] == "real")], cfg.views)
    if views_out:
        Console(stderr=True, quiet=not progress).print(
            "left out of the GAN domains (views: " + cfg.views + "): "
            + ", ".join(f"{k} {v}" for k, v in views_out.items()), highlight=False)
    cache = build_cache(
        df,
        image_size=cfg.image_size,
        resize_mode=cfg.resize_mode,
        cache_dir=cfg.cache_dir,
        workers=cfg.cache_workers,
        progress=progress,
    )
    mon_a = cache.batch(monitor_rows(df, cfg.source, cfg.sample_images, cfg.views))
    mon_b = cache.batch(monitor_rows(df, [cfg.target], cfg.sample_images, cfg.views))
    steps = steps_per_epoch(len(domains.a), len(domains.b), cfg.batch_size, cfg.steps_per_epoch)

    out_dir.mkdir(parents=True, exist_ok=True)
    # on resume too: the options allowed to change (precision, devices, ...) are saved as
    # actually used by this session, the rest is identical (checked by _check_resume)
    save_config(cfg, out_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    nets = build_networks(cfg)
    if cfg.compile:
        for net in nets.values():
            net.compile()  # in place: state_dict keys stay plain for synth/resume
    lineage = record_lineage(df.iloc[np.concatenate([domains.a, domains.b])], df)
    atomic_write_text(out_dir / "lineage.json", json.dumps(lineage.to_dict(), indent=1) + "\n")
    meta = {
        "source": list(cfg.source),
        "target": cfg.target,
        "image_size": cfg.image_size,
        "resize_mode": cfg.resize_mode,
        "n_blocks": resolved_blocks(cfg),
        "ngf": cfg.ngf,
        "manifest": str(Path(manifest).resolve()),
        "manifest_key": manifest_key(df),
        "views": cfg.views,
        "views_left_out": views_out,
        # the patients and images of both domains: synth/classify/evaluate refuse to evaluate them
        "lineage": lineage.to_dict(),
    }
    module = build_module(nets, cfg, meta)
    monitor = EpochMonitor(out_dir, mon_a, mon_b, LOSS_NAMES)
    from cxr.runtime.device import cpu_bf16_note

    if note := cpu_bf16_note(cfg.precision, cfg.accelerator):
        Console(stderr=True).print(f"[yellow]warning:[/] {note}", highlight=False)
    trainer = _trainer(cfg, out_dir, monitor, callbacks or [], progress)
    log_params(trainer.loggers, config_to_dict(cfg))
    dm = UnpairedDataModule(
        cache,
        domains,
        batch_size=cfg.batch_size,
        steps=steps,
        seed=cfg.seed,
        num_workers=cfg.workers,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None)
    seconds = time.perf_counter() - start
    final = {
        k: v for k, v in (monitor.history[-1] if monitor.history else {}).items() if k != "epoch"
    }
    result = GanRunResult(
        out_dir=out_dir,
        checkpoint=last,
        epochs=len(monitor.history),
        steps_per_epoch=steps,
        n_source=len(domains.a),
        n_target=len(domains.b),
        seconds=seconds,
        final_losses=final,
    )
    if trainer.is_global_zero:
        _write_summary(cfg, result)
    return result


def _trainer(
    cfg: GanConfig, out_dir: Path, monitor: Any, callbacks: list[Any], progress: bool
) -> Any:
    """The Lightning Trainer; the monitor runs before the epoch checkpoint, then ``callbacks``."""
    import lightning as L

    from cxr.cyclegan.monitor import AtomicEpochCheckpoint
    from cxr.runtime.lightning_io import AtomicCheckpointIO
    from cxr.runtime.lightning_quiet import quiet_lightning
    from cxr.runtime.lightning_stop import StopAtSafePoint
    from cxr.runtime.lightning_threads import FollowLoad
    from cxr.runtime.tracking import lightning_loggers

    ckpt = AtomicEpochCheckpoint(out_dir / "checkpoints")
    cbs: list[Any] = [monitor, ckpt, *callbacks, FollowLoad(),
                      StopAtSafePoint(ckpt.last_path)]
    if progress:
        cbs.append(epoch_progress_bar())  # rich bar on a terminal, a line per epoch in a log
    quiet_lightning()
    return L.Trainer(
        max_epochs=cfg.epochs + cfg.epochs_decay,
        accelerator=cfg.accelerator,
        devices=_devices(cfg.devices),
        strategy=cfg.strategy,
        precision=cfg.precision,  # type: ignore[arg-type]
        callbacks=cbs,
        plugins=[AtomicCheckpointIO()],
        logger=lightning_loggers(cfg.logger, out_dir, csv=False, experiment="cxr-gan",
                                 run_name=f"{out_dir.parent.name}/{out_dir.name}",
                                 uri=cfg.mlflow_uri) or False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # UnpairedSampler shards by rank itself
        default_root_dir=str(out_dir),
        log_every_n_steps=1,
        num_sanity_val_steps=0,
    )


def _check_start(cfg: GanConfig, out_dir: Path, resume: bool) -> Path:
    """Refuse what cannot start (or resume) before any data is read; the checkpoint path."""
    from cxr.runtime.tracking import check_logger

    last = out_dir / "checkpoints" / "last.ckpt"
    if resume and last.is_file():
        _check_resume(cfg, out_dir)
    elif last.exists():
        raise ConfigError(f"{out_dir} already holds a run (pass --resume or choose a new --out)")
    if cfg.image_size % 4:
        raise ConfigError(
            f"--image-size must be a multiple of 4 (two stride-2 stages), got {cfg.image_size}"
        )
    check_logger(cfg.logger)
    if cfg.batch_size < 1 or cfg.epochs + cfg.epochs_decay < 1:
        raise ConfigError("--batch-size must be >= 1 and --epochs + --epochs-decay >= 1")
    for name in ("epochs", "epochs_decay", "steps_per_epoch", "workers"):
        if getattr(cfg, name) < 0:
            opt = name.replace("_", "-")
            raise ConfigError(f"--{opt} must be >= 0, got {getattr(cfg, name)}")
    return last


def _write_summary(cfg: GanConfig, result: GanRunResult) -> None:
    summary = {
        "config": config_to_dict(cfg),
        "epochs_done": result.epochs,
        "steps_per_epoch": result.steps_per_epoch,
        "n_source": result.n_source,
        "n_target": result.n_target,
        "seconds_this_session": round(result.seconds, 2),
        "final_losses": result.final_losses,
        "checkpoint": str(result.checkpoint),
    }
    atomic_write_text(result.out_dir / "summary.json", json.dumps(summary, indent=2))


def summary_table(result: GanRunResult) -> Any:
    """One-screen rich table for the end of `cxr gan train`."""
    from rich.table import Table

    t = Table(title=f"CycleGAN run {result.out_dir}")
    t.add_column("item")
    t.add_column("value", justify="right")
    t.add_row("domain A (source) train images", str(result.n_source))
    t.add_row("domain B (target) train images", str(result.n_target))
    t.add_row("epochs completed", str(result.epochs))
    t.add_row("steps per epoch", str(result.steps_per_epoch))
    t.add_row("wall time this session", fmt_duration(result.seconds))
    for k, v in result.final_losses.items():
        t.add_row(f"last epoch {k}", fmt_num(v))
    t.add_row("checkpoint", str(result.checkpoint))
    return t
