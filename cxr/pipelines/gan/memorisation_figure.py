"""``memorisation.png``: synthetic images beside their nearest GAN-training image.

The eight synthetic images with the highest SSIM to a training image (flagged
copies first), each beside that training image, captioned with SSIM and the
feature distance, so a reader judges by eye whether the GAN copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxr.runtime.files import atomic_save


def memorisation_figure(
    synthetic: np.ndarray, reference: np.ndarray, nn: dict[str, np.ndarray], path: Path,
    n: int = 8,
) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ssim = np.nan_to_num(nn["ssim"], nan=-2.0)
    order = np.lexsort((-ssim, ~nn["copies"]))[:n]  # copies first, then by SSIM
    fig, axes = plt.subplots(2, len(order), figsize=(1.6 * len(order), 3.6), squeeze=False)
    for c, i in enumerate(order):
        j = int(nn["ssim_index"][i])
        for r, (img, what) in enumerate(((synthetic[i], "synthetic"),
                                         (reference[j], "nearest train"))):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(what, fontsize=8)
        flag = "COPY " if nn["copies"][i] else ""
        axes[0, c].set_title(f"{flag}SSIM {nn['ssim'][i]:.3f}\nd {nn['distance'][i]:.3g}",
                             fontsize=7, color="#b00020" if flag else "black")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path.name
