"""`cxr lungs train`: a U-Net lung segmenter on a manifest's masks, scored on held-out patients.

The manifest's own patient-level split is used as it stands (`cxr data split` keeps every
patient, and every near-copy of a radiograph, in one split): the segmenter trains on the
``train`` rows whose mask source is in ``train_sources``, keeps the epoch with the best
validation Dice (``checkpoints/best.ckpt``; ``last.ckpt`` every epoch, written atomically,
so ``--resume`` continues an interrupted run), and is scored once on the ``test`` rows with
a ground-truth mask (:mod:`.lungs_data`): Dice and IoU with patient-bootstrap 95 % CIs.

Outputs in ``out``: ``lungs.pt`` (the model `cxr lungs predict` applies), ``metrics.json``,
``val_scores.csv`` / ``test_scores.csv`` (per image), ``test_worst.png`` (the failures),
``config.yaml``, ``logs/metrics.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr.config import LungsConfig, save_config
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text


@dataclass
class LungsRun:
    out_dir: Path
    metrics: dict[str, Any]


def check_lungs_options(cfg: LungsConfig) -> None:
    if cfg.image_size < 16 or cfg.image_size % 16:
        raise ConfigError(f"--image-size must be a multiple of 16, got {cfg.image_size}")
    if cfg.epochs < 1 or cfg.batch_size < 2:
        raise ConfigError(f"--epochs must be >= 1 and --batch-size >= 2 "
                          f"(got {cfg.epochs}, {cfg.batch_size})")
    if not 0.0 < cfg.threshold < 1.0:
        raise ConfigError(f"--threshold must be in (0, 1), got {cfg.threshold}")
    if cfg.resize_mode not in ("pad", "crop"):
        raise ConfigError(f"--resize-mode must be pad or crop, got {cfg.resize_mode!r}")


def run_lungs_train(cfg: LungsConfig, *, manifest: str | Path, out_dir: str | Path,
                    resume: bool = False, progress: bool = True) -> LungsRun:
    """Train (or resume), keep the best epoch, score it on validation and test patients."""
    import lightning as L
    import torch
    from rich.console import Console

    from cxr.data.manifest import load_manifest
    from cxr.lungs.lung_model import LungModelInfo, save_lung_model
    from cxr.lungs.seg_module import LungSegModule
    from cxr.lungs.unet import UNet
    from cxr.pipelines.lungs.lungs_data import load_pairs, training_rows, with_sources
    from cxr.runtime.lightning_io import resume_point

    check_lungs_options(cfg)
    out = Path(out_dir)
    say = Console(stderr=True, quiet=not progress).print
    last = out / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        # a requeued job passes the same arguments every time: nothing to resume is the start
        say(f"--resume: no checkpoint at {last} yet; starting from epoch 0", highlight=False)
        resume = False
    if not resume and (last.exists() or (out / "lungs.pt").exists()):
        raise ConfigError(f"{out} already holds a run (pass --resume or choose a new --out)")
    df = with_sources(load_manifest(manifest))
    rows = training_rows(df, cfg.train_sources, str(manifest))
    images, masks = load_pairs(rows, cfg, progress=progress)
    split = rows["split"].astype(str).to_numpy()
    tr, va = split == "train", split == "val"
    say(f"lung masks: {int(tr.sum())} train, {int(va.sum())} val images "
        f"({rows[tr]['patient_id'].nunique()} / {rows[va]['patient_id'].nunique()} patients; "
        f"sources {', '.join(sorted(set(rows['_mask_source'])))})")
    save_config(cfg, out)
    if resume and resume_point([last], say, fallback="starting from epoch 0") is None:
        resume = False

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    net = UNet(base=cfg.base_channels)
    module = LungSegModule(net, lr=cfg.lr, weight_decay=cfg.weight_decay, epochs=cfg.epochs)
    train_ds, loaders = _loaders(images, masks, tr, va, cfg)
    trainer = _trainer(cfg, out, train_ds, progress)
    trainer.fit(module, *loaders, ckpt_path=str(last) if resume else None)

    best = out / "checkpoints" / "best.ckpt"
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
    net.eval()
    ckpt_cb = trainer.checkpoint_callback
    best_dice = float(ckpt_cb.best_model_score) if ckpt_cb.best_model_score is not None else None
    info = LungModelInfo(cfg.image_size, cfg.resize_mode, cfg.base_channels, net.depth,
                         cfg.threshold, {"manifest": str(manifest), "val_dice": best_dice,
                                         "train_sources": list(cfg.train_sources),
                                         "train_images": int(tr.sum())})
    save_lung_model(out / "lungs.pt", net, info)
    metrics = {"manifest": str(manifest), "best_val_dice_epoch_mean": best_dice,
               "epochs_trained": int(trainer.current_epoch),
               "train_images": int(tr.sum()), "val_images": int(va.sum()),
               "train_sources": list(cfg.train_sources),
               "sets": score_held_out(net, df, cfg, out, progress=progress)}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    return LungsRun(out, metrics)


def score_held_out(net: Any, df: Any, cfg: LungsConfig, out: Path, *,
                   progress: bool) -> list[dict[str, Any]]:
    """Scores on the val and test patients' reference masks (any source rule, see lungs_data)."""
    from cxr.pipelines.lungs.lungs_data import load_pairs, reference_rows
    from cxr.pipelines.lungs.lungs_scoring import score_set

    results = []
    for name in ("val", "test"):
        ref, source = reference_rows(df[(df["split"].astype(str) == name)
                                        & (df["_mask_source"] != "")])
        if ref.empty:
            continue
        images, masks = load_pairs(ref, cfg, progress=progress)
        results.append(score_set(net, ref, images, masks, cfg, mode=cfg.resize_mode, name=name,
                                 source=source, out_dir=out))
    return results


def _loaders(images: np.ndarray, masks: np.ndarray, tr: np.ndarray, va: np.ndarray,
             cfg: LungsConfig) -> tuple[Any, tuple[Any, Any]]:
    import torch
    from torch.utils.data import DataLoader

    from cxr.lungs.mask_dataset import MaskPairs

    train_ds = MaskPairs(images[tr], masks[tr], augment=cfg.augment, seed=cfg.seed)
    val_ds = MaskPairs(images[va], masks[va])
    gen = torch.Generator().manual_seed(cfg.seed)
    # in-memory arrays and cheap augmentation: the main process feeds the network
    train = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                       drop_last=len(train_ds) > cfg.batch_size)
    return train_ds, (train, DataLoader(val_ds, batch_size=2 * cfg.batch_size))


def _trainer(cfg: LungsConfig, out: Path, train_ds: Any, progress: bool) -> Any:
    import lightning as L
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    from cxr.runtime.lightning_io import AtomicCheckpointIO
    from cxr.runtime.lightning_quiet import quiet_lightning
    from cxr.runtime.lightning_stop import StopAtSafePoint
    from cxr.runtime.lightning_threads import FollowLoad
    from cxr.runtime.progress import epoch_progress_bar
    from cxr.runtime.tracking import lightning_loggers

    class SetEpoch(Callback):  # the augmentation draw of epoch e is seeded by (seed, e, i)
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            train_ds.set_epoch(trainer.current_epoch)

    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_dice",
                           mode="max", save_top_k=1, save_last=True,
                           enable_version_counter=False)
    # SIGTERM/SIGINT: stop at the next batch end, keeping last.ckpt (runtime/lightning_stop.py)
    cbs: list[Any] = [SetEpoch(), best, FollowLoad(),
                      StopAtSafePoint(out / "checkpoints" / "last.ckpt")]
    if progress:
        cbs.append(epoch_progress_bar())
    quiet_lightning()
    return L.Trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=1,
                     callbacks=cbs, plugins=[AtomicCheckpointIO()],
                     logger=lightning_loggers("csv", out, csv=True, experiment="cxr-lungs",
                                              run_name=out.name),
                     enable_progress_bar=progress, enable_model_summary=False,
                     default_root_dir=str(out), log_every_n_steps=1, num_sanity_val_steps=0,
                     deterministic=False)
