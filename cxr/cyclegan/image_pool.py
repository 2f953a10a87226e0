"""History of generated images for the discriminators (Shrivastava et al., CVPR 2017).

CycleGAN (Zhu et al., ICCV 2017, Sec. 4) updates each discriminator with a
mix of the newest fakes and fakes from a buffer of the last 50, which reduces
model oscillation. This is the reference ``ImagePool`` with two changes for
reproducibility: it draws from its own seeded generator, and its whole state
(images and RNG) round-trips through :meth:`state_dict` so a resumed run
continues exactly.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """Buffer of up to ``size`` generated images; ``size=0`` returns the input unchanged."""

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self._gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch the size of ``images``: each slot is the new image, or (p=0.5,
        once the pool is full) a stored one, which the new image then replaces."""
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=self._gen).item() > 0.5:
                j = int(torch.randint(0, self.size, (), generator=self._gen).item())
                # the stored image leaves the pool here, so it needs no copy (cat copies it)
                out.append(self.images[j].to(img.device, img.dtype))
                self.images[j] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "images": [t.cpu() for t in self.images],
            "rng": self._gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        if int(state["size"]) != self.size:
            raise ValueError(
                f"image pool size mismatch: checkpoint {state['size']}, config {self.size}"
            )
        self.images = [t.to(device) if device is not None else t for t in state["images"]]
        self._gen.set_state(state["rng"])
