"""Files a person opens while a CycleGAN trains, and the per-epoch checkpoint.

* ``samples/epoch_NNN.png``: for fixed monitoring images, columns
  *source | translated | reconstructed* (top rows A -> B -> A, i.e. x, G(x),
  F(G(x)); bottom rows B -> A -> B), the qualitative check of Zhu et al.'s
  figures.
  The same grid goes to the run's TensorBoard (image ``samples``) or MLflow
  (artifact ``samples/``) logger when the trainer has one.
* ``losses.csv`` and ``losses.png``: per-epoch mean of every loss term.
  The history lives in the callback's state, which Lightning stores in the
  checkpoint, so a resumed run rewrites a CSV without duplicate epochs.
* ``checkpoints/last.ckpt``: written after every epoch (atomically, through
  the trainer's checkpoint IO), after the LightningModule's epoch-end hook stepped the
  schedulers, so resuming continues with the next epoch exactly.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint

from cxr.data.images.imageio import write_png
from cxr.data.images.intensity import from_network, to_network
from cxr.runtime.files import atomic_save, atomic_write_text

__all__ = ["AtomicEpochCheckpoint", "EpochMonitor", "publish_grid", "save_grid", "save_loss_plot"]


def save_grid(path: str | Path, columns: list[torch.Tensor], nrow_hint: int = 3) -> np.ndarray:
    """PNG grid: each item of ``columns`` is a ``(K, 1, S, S)`` network-range tensor; row i
    shows item i of every column side by side. Returns the grid as uint8 ``(H, W)``."""
    from torchvision.utils import make_grid

    k = columns[0].shape[0]
    tiles = torch.stack(columns, dim=1).reshape(k * len(columns), *columns[0].shape[1:])
    grid = make_grid(tiles.float().cpu(), nrow=len(columns), padding=2, pad_value=1.0)
    u8 = from_network(grid[0]).numpy()
    write_png(path, u8)
    return u8


def publish_grid(trainer: L.Trainer, path: Path, u8: np.ndarray, epoch: int) -> None:
    """The sample grid to the trainer's TensorBoard (image) and MLflow (artifact) loggers."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image("samples", u8, epoch, dataformats="HW")
        elif isinstance(logger, MLFlowLogger) and logger.run_id:
            logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="samples")


def save_loss_plot(path: str | Path, history: list[dict[str, float]], names: list[str]) -> None:
    """Loss curves per epoch (matplotlib Agg), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    for n in names:
        ax = ax_d if n.startswith("D_") else ax_g
        ax.plot(epochs, [h.get(n, float("nan")) for h in history], marker=".", label=n)
    ax_g.set_title("generators (G = total)")
    ax_d.set_title("discriminators (LSGAN)")
    for ax in (ax_g, ax_d):
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_save(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))


class EpochMonitor(Callback):
    """Per-epoch sample grid, loss CSV and loss plot (rank 0 only)."""

    def __init__(
        self,
        out_dir: str | Path,
        monitor_a: np.ndarray,
        monitor_b: np.ndarray,
        loss_names: tuple[str, ...],
    ) -> None:
        self.out_dir = Path(out_dir)
        self.monitor_a = np.asarray(monitor_a, dtype=np.uint8)
        self.monitor_b = np.asarray(monitor_b, dtype=np.uint8)
        self.loss_names = list(loss_names)
        self.history: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(h) for h in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state_dict.get("history", [])]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = int(trainer.current_epoch)
        metrics = trainer.callback_metrics
        row: dict[str, float] = {"epoch": float(epoch + 1)}
        for n in self.loss_names:
            v = metrics.get(f"epoch/{n}")
            row[n] = float(v) if v is not None else float("nan")
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.history = [h for h in self.history if h["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            self._write_tables()
            self._write_grid(trainer, pl_module, epoch + 1)

    def _write_tables(self) -> None:
        cols = ["epoch", *self.loss_names, "lr"]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for h in self.history:
            w.writerow({c: (int(h[c]) if c == "epoch" else f"{h[c]:.6g}") for c in cols})
        atomic_write_text(self.out_dir / "losses.csv", buf.getvalue())
        save_loss_plot(self.out_dir / "losses.png", self.history, self.loss_names)

    @torch.no_grad()
    def _write_grid(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        rows: list[list[torch.Tensor]] = []
        for images, direction in ((self.monitor_a, "AtoB"), (self.monitor_b, "BtoA")):
            if len(images) == 0:
                continue
            x = to_network(images).unsqueeze(1).to(pl_module.device)
            fake, rec = pl_module.translate(x, direction)  # type: ignore[operator]
            rows.append([x, fake.float(), rec.float()])
        if rows:
            cols = [torch.cat([r[i] for r in rows]) for i in range(3)]
            path = self.out_dir / "samples" / f"epoch_{epoch:03d}.png"
            publish_grid(trainer, path, save_grid(path, cols), epoch)


class AtomicEpochCheckpoint(Checkpoint):
    """``checkpoints/last.ckpt`` after every epoch.

    A ``Checkpoint`` subclass so Lightning runs it after the module's
    ``on_train_epoch_end`` (scheduler step). Every rank calls
    ``trainer.save_checkpoint`` (it synchronises); only rank 0 writes. The write is
    atomic through the trainer's checkpoint IO (``cxr gan train`` passes one that writes
    a temporary file beside ``last.ckpt``, fsyncs and renames it).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        # full state (optimizers, schedulers, loops) is needed for an exact --resume
        trainer.save_checkpoint(self.last_path, weights_only=False)
        trainer.strategy.barrier("cxr_gan_checkpoint")
