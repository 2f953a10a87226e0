"""Replayable augmented draws: a mixing epoch as ``(index, augment, seed)`` keys.

:class:`SeededDraws` turns a :class:`~cxr.augment.mixing.MixingSampler` epoch into
one key per draw, the seed derived from ``(seed, epoch, position)`` with NumPy's
``SeedSequence``; :class:`SeededMixedDataset` reseeds the albumentations pipeline
with that seed before reading an augmented draw. The augmented images are thereby
identical with any number of DataLoader workers and after a resume (MONAI's split
between drawing random parameters and applying them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from torch.utils.data import Dataset, Sampler

if TYPE_CHECKING:
    from cxr.augment.mixing import MixingSampler


class SeededDraws(Sampler[tuple[int, bool, int]]):
    """``(index, augment, seed)`` per draw of this rank's shard of a MixingSampler epoch."""

    def __init__(self, sampler: MixingSampler, seed: int) -> None:
        self.sampler = sampler
        self.seed = int(seed)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[int, bool, int]]:
        # seeds are drawn over the whole plan, then sharded: a draw's augmentation is the
        # same whichever rank (and however many ranks) draws it
        plan = self.sampler.plan
        n = len(plan)
        seeds = np.random.SeedSequence([self.seed, plan.epoch, 7]).generate_state(max(n, 1))
        for k in self.sampler.positions().tolist():
            yield int(plan.indices[k]), bool(plan.augment[k]), int(seeds[k])


class SeededMixedDataset(Dataset[dict[str, Any]]):
    """Route ``(index, augment, seed)``: reseed the pipeline, then read augmented or plain."""

    def __init__(self, plain: Dataset[dict[str, Any]], augmented: Dataset[dict[str, Any]] | None,
                 pipeline: Any = None) -> None:
        self.plain, self.augmented, self.pipeline = plain, augmented, pipeline

    def __len__(self) -> int:
        return len(self.plain)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, bool, int]) -> dict[str, Any]:
        index, aug, seed = key
        if aug and self.augmented is not None:
            self.pipeline.set_random_seed(int(seed))
            return self.augmented[int(index)]
        return self.plain[int(index)]
