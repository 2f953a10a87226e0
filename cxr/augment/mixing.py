"""The per-epoch training draw: real, augmented-real and GAN images, and class balance.

(Over 300 lines on purpose: the exact counting rules below and the sampler that applies
them are one specification, docs/mixing.md, kept in one file so they cannot drift apart.)

GAN augmentation of the minority class follows Waheed et al., "CovidGAN: data
augmentation using auxiliary classifier GAN for improved Covid-19 detection"
(IEEE Access 2020) and Zhu et al., "Unpaired image-to-image translation using
cycle-consistent adversarial networks" (ICCV 2017) for the synthesis itself.
The exact semantics are also in ``docs/mixing.md``.

Definitions (one epoch; all counts exact, ``rnd(x) = floor(x + 0.5)``, round half up):

* Counts are computed in exact rational arithmetic (:class:`fractions.Fraction`):
  a ratio given as a float is read as the decimal it prints as (``0.6`` is 3/5,
  not the nearest binary double), so ``rnd(1 * 0.6 / 0.4) = rnd(3/2) = 2``.

* Training rows have an integer ``label`` and an ``origin`` in {"real", "gan"}.
  GAN rows must all carry the ``minority`` label (else ``ConfigError``).
* ``R`` = real rows of the minority class; ``n_c`` = real rows of class ``c``.
* ``with_synthetic = r`` in [0, 1): ``G = rnd(R * r / (1 - r))`` GAN rows are drawn
  *without replacement* from the available GAN rows, afresh each epoch, so GAN
  images are a share ``r`` of the minority's base draws ``R + G``. Fewer than
  ``G`` GAN rows -> ``ConfigError`` naming both numbers. ``r = 0`` uses none.
* Base draws of a class: every real row once (and, for the minority, the ``G``
  chosen GAN rows once): ``b_c = n_c`` and ``b_min = R + G``.
* ``balance``:
  - ``"none"`` and ``"class-weights"``: the base draws only. For the loss use
    :func:`class_weights` on ``labels[plan.indices]`` (GAN draws count as minority).
  - ``"oversample"``: every class is drawn ``T = max_c b_c`` times: its base draws
    plus ``e_c = T - b_c`` extra draws *with replacement*. For the minority the
    extras are split so the GAN share is kept: ``e_gan = rnd(e_c * G / b_min)``
    extras come from the chosen GAN rows, ``e_c - e_gan`` from its real rows.
* ``aug_share = a`` in [0, 1] and ``aug_scope`` in {"all", "minority"}: of the
  ``D_c`` real draws of class ``c`` (repeats included), exactly ``rnd(a * D_c)``
  chosen uniformly at random are marked ``augment=True`` (they go through
  albumentations). With ``aug_scope="all"`` (the default) this holds for every
  class; with ``"minority"`` only the minority is augmented (``rnd(a * D_min)``
  draws) and every other class gets none, which is the classical "albumentations
  on the minority class only" baseline. The scope changes only the augment
  flags: the same (seed, epoch) draws the same rows in the same order either
  way. GAN draws are never augmented: the minority's three pools are real,
  augmented-real and GAN.
* The draws are shuffled. Everything is drawn from
  ``numpy.random.default_rng([seed, epoch])``: the same (seed, epoch) gives the
  same plan; another epoch gives another GAN subset, augment mask and order.

``EpochPlan.counts[c] = {"real": D_c - A_c, "augmented": A_c, "gan": ...}`` with
``A_c = rnd(a D_c)``, except ``A_c = 0`` for ``c != minority`` when ``aug_scope="minority"``.

DataLoader use: :class:`MixingSampler` yields ``(index, augment)`` pairs;
:class:`MixedDataset` sends each pair to a plain or an augmenting dataset over
the same rows. Lightning calls ``sampler.set_epoch(epoch)`` each epoch; plain
loops must call it themselves.

Distributed data parallel: the sampler is itself DDP-aware, so it must *not*
be wrapped in a ``DistributedSampler`` (Lightning: ``use_distributed_sampler=False``;
Lightning's wrapper does not forward ``set_epoch`` to the wrapped sampler, so
every epoch would replay epoch 0). Every rank computes the same full plan of
the epoch from ``(seed, epoch)`` and takes the positions
:func:`shard_positions` gives it: ranks draw disjoint shards whose union is
the single-device plan (padded cyclically by at most ``world_size - 1`` draws,
as ``torch.utils.data.DistributedSampler`` pads, so every rank runs the same
number of steps). Rank and world size come from ``torch.distributed`` when a
process group is running, else ``(0, 1)``; both can be given explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler

from cxr.runtime.errors import ConfigError

BALANCE_MODES: tuple[str, ...] = ("none", "oversample", "class-weights")
POOLS: tuple[str, ...] = ("real", "augmented", "gan")
AUG_SCOPES: tuple[str, ...] = ("all", "minority")  # classes whose real draws are augmented


def exact(x: float | int | str | Fraction | np.floating) -> Fraction:
    """``x`` as an exact rational; a float is read as the decimal it prints as.

    ``exact(0.6) == Fraction(3, 5)``, whereas ``Fraction(0.6)`` is the binary
    double just below 3/5, which is what made float rounding land on the wrong
    side of a half.
    """
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            raise ConfigError(f"mixing: ratio must be finite, got {x}")
        return Fraction(str(x))  # str is the shortest decimal that reads back as x
    return Fraction(x)


def rnd(x: float | int | str | Fraction) -> int:
    """Round half up, ``floor(x + 1/2)``, exactly (floats are read via :func:`exact`)."""
    return math.floor(exact(x) + Fraction(1, 2))


def gan_count(real_minority: int, with_synthetic: float | Fraction) -> int:
    """``G = rnd(R r / (1 - r))``: GAN draws per epoch for ``R`` real minority rows."""
    r = exact(with_synthetic)
    if not 0 <= r < 1:
        raise ConfigError(f"with_synthetic must be in [0, 1), got {with_synthetic}")
    return rnd(int(real_minority) * r / (1 - r))


def augmented_count(draws: int, aug_share: float | Fraction) -> int:
    """``A = rnd(a D)``: augmented draws among ``D`` real draws of a class."""
    return rnd(exact(aug_share) * int(draws))


@dataclass(frozen=True)
class EpochPlan:
    """One epoch's draw: row positions (with repetition), augment flags, pool counts."""

    indices: np.ndarray  # int64 (D,), positions into the training rows
    augment: np.ndarray  # bool (D,), True -> the draw goes through albumentations
    counts: dict[int, dict[str, int]]  # class -> {"real", "augmented", "gan"} draws
    epoch: int

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def pairs(self) -> Iterator[tuple[int, bool]]:
        return zip(self.indices.tolist(), self.augment.tolist(), strict=True)


def _check_args(
    labels: np.ndarray, origins: np.ndarray, with_synthetic: float, aug_share: float,
    balance: str, aug_scope: str,
) -> None:
    if labels.ndim != 1 or origins.shape != labels.shape:
        raise ConfigError(
            f"mixing: labels and origins must be 1-D of equal length, got "
            f"{labels.shape} and {origins.shape}"
        )
    if not 0.0 <= with_synthetic < 1.0:
        raise ConfigError(f"with_synthetic must be in [0, 1), got {with_synthetic}")
    if not 0.0 <= aug_share <= 1.0:
        raise ConfigError(f"aug_share must be in [0, 1], got {aug_share}")
    if balance not in BALANCE_MODES:
        raise ConfigError(f"unknown balance '{balance}' (valid: {', '.join(BALANCE_MODES)})")
    if aug_scope not in AUG_SCOPES:
        raise ConfigError(f"unknown aug_scope '{aug_scope}' (valid: {', '.join(AUG_SCOPES)})")
    bad = sorted(set(origins.tolist()) - {"real", "gan"})
    if bad:
        raise ConfigError(f"mixing: origin must be 'real' or 'gan', got {bad}")


def build_epoch_indices(
    labels: np.ndarray,
    origins: np.ndarray,
    *,
    minority: int,
    with_synthetic: float,
    aug_share: float,
    balance: str,
    seed: int,
    epoch: int,
    aug_scope: str = "all",
) -> EpochPlan:
    """Draw one epoch's training schedule (semantics in the module docstring).

    ``aug_scope="all"`` augments a share ``aug_share`` of every class's real
    draws; ``"minority"`` of the minority's only.
    """
    labels = np.asarray(labels).astype(np.int64)
    origins = np.asarray(origins).astype(str)
    _check_args(labels, origins, with_synthetic, aug_share, balance, aug_scope)
    rng = np.random.default_rng([int(seed), int(epoch)])

    is_gan = origins == "gan"
    wrong = np.unique(labels[is_gan & (labels != minority)])
    if wrong.size:
        raise ConfigError(
            f"mixing: GAN rows must have the minority label {minority}, found labels "
            f"{wrong.tolist()}"
        )
    real = {int(c): np.flatnonzero((labels == c) & ~is_gan) for c in np.unique(labels)}
    real.setdefault(minority, np.empty(0, np.int64))
    r_min = real[minority].size
    if r_min == 0:
        raise ConfigError(f"mixing: no real training rows of the minority class {minority}")
    gan_rows = np.flatnonzero(is_gan)
    g = gan_count(r_min, with_synthetic)
    if g > gan_rows.size:
        raise ConfigError(
            f"with_synthetic={with_synthetic} needs {g} GAN images for {r_min} real minority "
            f"training images, but only {gan_rows.size} GAN rows are available"
        )
    gan = {c: np.empty(0, np.int64) for c in real}
    gan[minority] = rng.choice(gan_rows, size=g, replace=False) if g else gan[minority]

    base = {c: real[c].size + gan[c].size for c in real}
    target = max(base.values())
    parts_idx: list[np.ndarray] = []
    parts_aug: list[np.ndarray] = []
    counts: dict[int, dict[str, int]] = {}
    for c in sorted(real):
        real_draws, gan_draws = real[c], gan[c]
        if balance == "oversample" and base[c] and target > base[c]:
            extra = target - base[c]
            e_gan = rnd(Fraction(extra * gan[c].size, base[c]))
            real_draws = np.concatenate([real_draws, rng.choice(real[c], extra - e_gan)])
            if e_gan:
                gan_draws = np.concatenate([gan_draws, rng.choice(gan[c], e_gan)])
        share = aug_share if aug_scope == "all" or c == minority else 0.0
        n_aug = augmented_count(real_draws.size, share)
        aug_mask = np.zeros(real_draws.size, dtype=bool)
        # drawn for every class whatever the scope, so the scope changes only the flags
        aug_mask[rng.permutation(real_draws.size)[:n_aug]] = True
        parts_idx += [real_draws, gan_draws]
        parts_aug += [aug_mask, np.zeros(gan_draws.size, dtype=bool)]
        counts[c] = {"real": int(real_draws.size - n_aug), "augmented": int(n_aug),
                     "gan": int(gan_draws.size)}

    indices = np.concatenate(parts_idx).astype(np.int64)
    augment = np.concatenate(parts_aug)
    order = rng.permutation(indices.size)
    return EpochPlan(indices=indices[order], augment=augment[order], counts=counts,
                     epoch=int(epoch))


def class_weights(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Inverse-frequency loss weights ``N / (K * n_c)`` (sklearn's "balanced").

    ``K`` is the number of classes present; absent classes get weight 0.
    With ``balance="class-weights"`` pass ``labels[plan.indices]``.
    """
    labels = np.asarray(labels).astype(np.int64)
    if labels.size == 0:
        raise ConfigError("class_weights: no labels given")
    k = int(num_classes if num_classes is not None else labels.max() + 1)
    if labels.min() < 0 or labels.max() >= k:
        raise ConfigError(
            f"class_weights: labels must be in [0, {k}), got {labels.min()}..{labels.max()}"
        )
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    present = counts > 0
    weights = np.zeros(k, dtype=np.float64)
    weights[present] = labels.size / (present.sum() * counts[present])
    return weights


class _Planner:
    """Picklable ``epoch -> EpochPlan`` over fixed rows and options."""

    def __init__(self, labels: np.ndarray, origins: np.ndarray, options: dict[str, Any]) -> None:
        self.labels, self.origins, self.options = labels, origins, dict(options)

    def __call__(self, epoch: int) -> EpochPlan:
        return build_epoch_indices(self.labels, self.origins, epoch=epoch, **self.options)


def distributed_context() -> tuple[int, int]:
    """``(rank, world_size)`` of the running ``torch.distributed`` group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def shard_positions(n: int, rank: int, world_size: int) -> np.ndarray:
    """Positions of an ``n``-draw plan that ``rank`` of ``world_size`` ranks draws.

    The positions ``0..n-1`` are padded cyclically to a multiple of
    ``world_size`` and rank ``k`` takes every ``world_size``-th from ``k``
    (``torch.utils.data.DistributedSampler``'s layout): disjoint shards of equal
    length whose union is every position. ``world_size=1`` is the whole plan.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"mixing: rank {rank} is not in [0, world_size={world_size})")
    if n == 0:
        return np.empty(0, np.int64)
    total = -(-n // world_size) * world_size
    return (np.arange(rank, total, world_size) % n).astype(np.int64)


class MixingSampler(Sampler[tuple[int, bool]]):
    """This rank's ``(index, augment)`` pairs of ``plan_fn(epoch)``; ``set_epoch`` each epoch.

    ``num_replicas``/``rank`` default to the running ``torch.distributed`` group
    (looked up when iterating, so a sampler built before the processes start
    still shards correctly); see the module docstring.
    """

    def __init__(self, plan_fn: Callable[[int], EpochPlan], *, epoch: int = 0,
                 num_replicas: int | None = None, rank: int | None = None) -> None:
        self.plan_fn = plan_fn
        self.epoch = int(epoch)
        self.num_replicas = num_replicas
        self.rank = rank
        self._plan: EpochPlan | None = None

    @classmethod
    def from_arrays(cls, labels: np.ndarray, origins: np.ndarray, *,
                    num_replicas: int | None = None, rank: int | None = None,
                    **kwargs: Any) -> MixingSampler:
        """Sampler over :func:`build_epoch_indices` with fixed keyword options (not ``epoch``).

        The options are ``minority``, ``with_synthetic``, ``aug_share``, ``balance``,
        ``seed`` and optionally ``aug_scope`` (``"all"`` or ``"minority"``).
        """
        planner = _Planner(np.asarray(labels), np.asarray(origins), kwargs)
        planner(0)  # fail early on bad options
        return cls(planner, num_replicas=num_replicas, rank=rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def plan(self) -> EpochPlan:
        """The whole epoch's plan (every rank computes the same one)."""
        if self._plan is None or self._plan.epoch != self.epoch:
            self._plan = self.plan_fn(self.epoch)
        return self._plan

    def replica(self) -> tuple[int, int]:
        """``(rank, world_size)`` this sampler draws for."""
        rank, world = distributed_context()
        world = world if self.num_replicas is None else int(self.num_replicas)
        rank = rank if self.rank is None else int(self.rank)
        return rank, world

    def positions(self) -> np.ndarray:
        """Positions in :attr:`plan` that this rank draws this epoch."""
        return shard_positions(len(self.plan), *self.replica())

    def __iter__(self) -> Iterator[tuple[int, bool]]:
        plan, pos = self.plan, self.positions()
        return zip(plan.indices[pos].tolist(), plan.augment[pos].tolist(), strict=True)

    def __len__(self) -> int:
        return int(self.positions().size)


class MixedDataset(Dataset):
    """Route ``(index, augment)`` keys to ``augmented[index]`` or ``plain[index]``.

    Both datasets cover the same rows (e.g. two ``XrayDataset``s over one
    manifest and cache, one built with ``transform=ArrayTransform(...)``).
    A plain integer key reads the un-augmented dataset.
    """

    def __init__(self, plain: Dataset, augmented: Dataset) -> None:
        if len(plain) != len(augmented):  # type: ignore[arg-type]
            raise ValueError(
                f"MixedDataset: plain and augmented datasets differ in length "
                f"({len(plain)} vs {len(augmented)})"  # type: ignore[arg-type]
            )
        self.plain = plain
        self.augmented = augmented

    def __len__(self) -> int:
        return len(self.plain)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, bool]) -> Any:
        if isinstance(key, tuple):
            index, aug = key
            return (self.augmented if aug else self.plain)[int(index)]
        return self.plain[int(key)]
