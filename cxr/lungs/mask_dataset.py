"""Image and lung-mask pairs for training, with replayable albumentations augmentation.

Images are the uint8 ``(S, S)`` rows of the image cache, masks boolean ``(S, S)`` resized
like their image. Training draws a mild geometric and photometric augmentation
(albumentations: affine scale/shift/rotation applied to image and mask together,
brightness/contrast, gamma): radiographs from other hospitals differ in framing and exposure.
No flips: the heart's side is anatomy the segmenter may use. Every draw is seeded from
``(seed, epoch, index)``, so an epoch replays exactly after a resume (:meth:`set_epoch`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cxr.data.images.intensity import to_network

__all__ = ["MaskPairs", "lung_augment"]


def lung_augment() -> Any:
    """The training augmentation (image and mask share the geometry)."""
    import albumentations as A
    import cv2

    return A.Compose([
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10),
                 border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.8),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.RandomGamma(gamma_limit=(80, 120), p=0.3),
    ])


class MaskPairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(image float32 (1, S, S) in [-1, 1], mask float32 (1, S, S) in {0, 1})`` pairs."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, *, augment: bool = False,
                 seed: int = 0) -> None:
        if images.shape != masks.shape or images.ndim != 3:
            raise ValueError(f"images {images.shape} and masks {masks.shape} must be (N, S, S)")
        self.images = images
        self.masks = masks
        self.seed = seed
        self.epoch = 0
        self.transform = lung_augment() if augment else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = np.asarray(self.images[i], dtype=np.uint8)
        mask = np.asarray(self.masks[i], dtype=np.uint8)
        if self.transform is not None:
            seed = int(np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(1)[0])
            self.transform.set_random_seed(seed)
            out = self.transform(image=img, mask=mask)
            img, mask = out["image"], out["mask"]
        x = to_network(np.ascontiguousarray(img)).unsqueeze(0)
        y = torch.from_numpy(np.ascontiguousarray(mask) > 0).float().unsqueeze(0)
        return x, y
