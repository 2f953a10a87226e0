"""The 16-overlay figure of docs/lungs.md: python docs/lungs/overlays.py PREDICTED_MANIFEST OUT.png

PREDICTED_MANIFEST: `cxr lungs predict` of docs/lungs/overlay16.csv (8 Hannover, 8 Kermany
images, a seeded draw); green = plausible predicted mask, red = flagged.
"""
import sys
from pathlib import Path
import numpy as np
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from cxr.data.manifest import load_manifest
from cxr.data.images.imageio import read_image_u8
from cxr.runtime.files import atomic_save
df = load_manifest(sys.argv[1])
fig, axes = plt.subplots(4, 4, figsize=(12, 12.6))
for ax, (_, r) in zip(axes.ravel(), df.iterrows()):
    img = read_image_u8(r["image_path"])
    ax.imshow(img, cmap="gray"); ax.axis("off")
    flag = r.get("lung_mask_flag", "")
    if r["lung_mask_path"]:
        m = read_image_u8(r["lung_mask_path"]) > 127
        ax.contour(m.astype(float), levels=[0.5], colors="lime", linewidths=1.2)
        ov = np.zeros(img.shape + (4,)); ov[m] = (0, 1, 0, 0.18); ax.imshow(ov)
        tag = "predicted"
    else:
        key = Path(r["image_path"]).stem
        fl = list((Path(sys.argv[1]).parent / "masks" / "flagged").glob(f"{key[:60]}-*.png"))
        if fl:
            m = read_image_u8(fl[0]) > 127
            ax.contour(m.astype(float), levels=[0.5], colors="red", linewidths=1.2)
        tag = f"FLAGGED: {flag}"
    ax.set_title(f"{r['dataset']}: {Path(r['image_path']).name[:24]}\n{tag}"[:90], fontsize=7)
fig.suptitle("cxr lungs predict (U-Net, 128 px, trained on ieee8023 manual masks): green = plausible predicted mask, red = flagged", fontsize=9)
fig.tight_layout()
atomic_save(sys.argv[2], lambda t: fig.savefig(t, dpi=80, format="png"))
