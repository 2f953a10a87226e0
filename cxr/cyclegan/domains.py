"""Unpaired domains from the manifest, and their seeded sampling schedule.

CycleGAN (Zhu et al., ICCV 2017) learns from two unpaired image sets: domain
A (``X``, here the source label(s), e.g. normal) and domain B (``Y``, the
target label, e.g. covid). Only **train-split, real-origin** rows ever enter
either domain: a validation or test patient must not shape the generator
whose images later train the classifier (that would leak held-out anatomy
into training). :func:`assert_train_real` re-checks this wherever rows are
about to be used. Lateral views are left out unless ``views="all"``
(:func:`cxr.data.views.view_keep`): a lateral is not the same picture of a chest.

Sampling follows the reference data loader (A shuffled, B drawn
independently), but the order is a pure function of ``(seed, epoch)``, so a
resumed run replays exactly the batches the uninterrupted run would have
seen (MONAI-style separation of drawing and applying randomness).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cxr.data.manifest import LABELS
from cxr.data.views import view_keep
from cxr.runtime.errors import ConfigError, LeakageError

__all__ = [
    "Domains",
    "UnpairedBatches",
    "UnpairedDataModule",
    "UnpairedSampler",
    "assert_train_real",
    "monitor_rows",
    "select_domains",
    "select_sources",
    "steps_per_epoch",
]


@dataclass(frozen=True)
class Domains:
    """Manifest row positions (``iloc``) of domain A (sources) and B (target)."""

    a: np.ndarray
    b: np.ndarray
    source: tuple[str, ...]
    target: str


def _check_labels(source: Sequence[str], target: str) -> None:
    bad = [s for s in (*source, target) if s not in LABELS]
    if bad:
        raise ConfigError(
            f"unknown label(s) {', '.join(bad)} for --source/--target (valid: {', '.join(LABELS)})"
        )
    if not source:
        raise ConfigError("--source needs at least one label")
    if target in source:
        raise ConfigError(f"--target {target} is also a --source label")


def assert_train_real(rows: pd.DataFrame, what: str) -> None:
    """Raise :class:`LeakageError` if any row is not ``split=train, origin=real``."""
    bad = (rows["split"].astype(str) != "train") | (rows["origin"].astype(str) != "real")
    if bool(bad.any()):
        r = rows[bad].iloc[0]
        raise LeakageError(
            f"{what}: {r['image_path']} (patient {r['patient_id']}, split '{r['split']}', "
            f"origin '{r['origin']}') is not a real train-split image"
        )


def _usable(df: pd.DataFrame, views: str) -> pd.Series:
    train_real = (df["split"].astype(str) == "train") & (df["origin"].astype(str) == "real")
    return train_real & view_keep(df, views)


def select_domains(
    df: pd.DataFrame, source: Sequence[str], target: str, views: str = "frontal"
) -> Domains:
    """Train-split, real-origin rows of the source label(s) (A) and the target label (B),
    of the views that ``views`` keeps."""
    source = tuple(source)
    _check_labels(source, target)
    usable = _usable(df, views)
    labels = df["label"].astype(str)
    a = np.flatnonzero((usable & labels.isin(source)).to_numpy())
    b = np.flatnonzero((usable & (labels == target)).to_numpy())
    for name, idx, lab in (("source", a, ",".join(source)), ("target", b, target)):
        if idx.size == 0:
            n_any = int(labels.isin(lab.split(",")).sum())
            raise ConfigError(
                f"no train-split real images with {name} label {lab} in the manifest "
                f"({n_any} with that label in any split; run `cxr data split` first?)"
            )
    assert_train_real(df.iloc[a], "GAN domain A")
    assert_train_real(df.iloc[b], "GAN domain B")
    return Domains(a=a, b=b, source=source, target=target)


def select_sources(df: pd.DataFrame, source: Sequence[str], views: str = "frontal") -> np.ndarray:
    """Train-split, real-origin rows of the source label(s) and kept views: the only images
    synthesis may use."""
    bad = [s for s in source if s not in LABELS]
    if bad or not source:
        raise ConfigError(f"unknown source label(s) {', '.join(bad)} (valid: {', '.join(LABELS)})")
    usable = _usable(df, views)
    idx = np.flatnonzero((usable & df["label"].astype(str).isin(list(source))).to_numpy())
    if idx.size == 0:
        raise ConfigError(f"no train-split real images with label {','.join(source)} to translate")
    assert_train_real(df.iloc[idx], "synthesis sources")
    return idx


def monitor_rows(
    df: pd.DataFrame, labels: Sequence[str], k: int, views: str = "frontal"
) -> np.ndarray:
    """Up to ``k`` fixed images for the per-epoch grid: held-out (val) real images
    of ``labels`` (viewed, never trained on), else train images."""
    lab = df["label"].astype(str).isin(list(labels)) & (df["origin"].astype(str) == "real")
    lab &= view_keep(df, views)
    for split in ("val", "train"):
        idx = np.flatnonzero((lab & (df["split"].astype(str) == split)).to_numpy())
        if idx.size:
            return idx[:k]
    return np.zeros(0, dtype=np.int64)


def steps_per_epoch(n_a: int, n_b: int, batch_size: int, configured: int = 0) -> int:
    """Reference epoch length: ``max(len(A), len(B)) / batch_size`` (rounded up)."""
    if configured > 0:
        return configured
    return max(1, math.ceil(max(n_a, n_b) / batch_size))


class UnpairedSampler(Sampler[tuple[np.ndarray, np.ndarray]]):
    """Yields, per step, a batch of positions into A and an independent batch into B.

    A is walked through concatenated permutations (each image once per pass);
    B likewise with its own permutations, so the pairing is random. The draw
    depends only on ``(seed, epoch)``; with ``world_size > 1`` each rank takes
    every ``world_size``-th step of the same global schedule (DDP).
    Lightning calls :meth:`set_epoch` before every epoch.
    """

    def __init__(
        self,
        n_a: int,
        n_b: int,
        batch_size: int,
        steps: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if min(n_a, n_b, batch_size, steps) < 1:
            raise ValueError("n_a, n_b, batch_size and steps must be >= 1")
        self.n_a, self.n_b, self.batch_size = n_a, n_b, batch_size
        self.steps = math.ceil(steps / world_size) * world_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.steps // self.world_size

    @staticmethod
    def _walk(rng: np.random.Generator, n: int, total: int) -> np.ndarray:
        reps = math.ceil(total / n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])[:total]

    def schedule(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The global (all ranks) ``(steps, batch)`` position arrays for ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        total = self.steps * self.batch_size
        a = self._walk(rng, self.n_a, total).reshape(self.steps, self.batch_size)
        b = self._walk(rng, self.n_b, total).reshape(self.steps, self.batch_size)
        return a, b

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        a, b = self.schedule(self.epoch)
        for s in range(self.rank, self.steps, self.world_size):
            yield a[s], b[s]


class UnpairedBatches(Dataset[dict[str, Any]]):
    """Reads whole batches from the uint8 cache (use with ``batch_size=None``).

    ``images`` is the :class:`~cxr.data.images.cache.ImageCache` (or any ``(N, S, S)``
    uint8 array) aligned with the manifest; the
    key from :class:`UnpairedSampler` holds positions into ``domains.a``/``.b``.
    Returns uint8 tensors; conversion to ``[-1, 1]`` and augmentation happen on
    the training device. ``A_row``/``B_row`` are manifest rows (for audits).
    """

    def __init__(self, images: Any, domains: Domains) -> None:
        self.images = images
        self.domains = domains

    def __len__(self) -> int:
        return max(len(self.domains.a), len(self.domains.b))

    def _rows(self, rows: np.ndarray) -> torch.Tensor:
        # an ImageCache pickles without its memmap (workers reopen it); arrays index directly
        if hasattr(self.images, "batch"):
            return torch.from_numpy(self.images.batch(rows))
        return torch.from_numpy(np.ascontiguousarray(self.images[rows]))

    def __getitem__(self, key: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        ia, ib = key
        ra, rb = self.domains.a[ia], self.domains.b[ib]
        return {
            "A": self._rows(ra),
            "B": self._rows(rb),
            "A_row": torch.from_numpy(ra.astype(np.int64)),
            "B_row": torch.from_numpy(rb.astype(np.int64)),
        }


class UnpairedDataModule(L.LightningDataModule):
    """Builds the loader once Lightning knows this process's rank (DDP-safe sharding)."""

    def __init__(
        self,
        images: Any,
        domains: Domains,
        *,
        batch_size: int,
        steps: int,
        seed: int,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.images, self.domains = images, domains
        self.batch_size, self.steps, self.seed = batch_size, steps, seed
        self.num_workers = num_workers

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        world = trainer.world_size if trainer is not None else 1
        sampler = UnpairedSampler(
            len(self.domains.a),
            len(self.domains.b),
            self.batch_size,
            self.steps,
            seed=self.seed,
            rank=rank,
            world_size=world,
        )
        return DataLoader(
            UnpairedBatches(self.images, self.domains),
            sampler=sampler,
            batch_size=None,  # the sampler yields whole batches
            num_workers=self.num_workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
        )
