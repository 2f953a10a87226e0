"""Contact sheet of a phantom (or any covid-chestxray-layout) dataset, for people to look at.

One row per finding (a few patients each, the last tile with the lung mask in
cyan and the lesion mask in red), then a progression strip of the longitudinal
patient with the most studies. Written as a palette PNG so it stays small
enough for a README.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from cxr.phantom.lesions import CLASSES, FINDINGS
from cxr.runtime.errors import ManifestError
from cxr.runtime.files import atomic_save


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def _rows(root: Path) -> list[dict[str, str]]:
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise ManifestError(f"{meta}: not found (generate with `cxr data phantom` first)")
    with open(meta, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "filename" not in rows[0] or "finding" not in rows[0]:
        raise ManifestError(f"{meta}: needs rows with 'finding' and 'filename' columns")
    return rows


def contact_sheet(root: str | Path, out_png: str | Path, *, per_class: int = 4,
                  tile_inches: float = 1.9, dpi: int = 72) -> Path:
    """Render the sheet of dataset ``root`` to ``out_png`` (atomic); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    root, out_png = Path(root), Path(out_png)
    rows = _rows(root)
    studies: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        studies[r["patientid"]].append(r)
    first: dict[str, list[dict[str, str]]] = defaultdict(list)
    for group in studies.values():
        first[group[0]["finding"]].append(group[0])
    longest = max(studies.values(), key=lambda g: (g[0]["finding"] != FINDINGS["normal"],
                                                   len(g), g[0]["finding"] == FINDINGS["covid"]))
    ncols = max(per_class + 1, len(longest))
    lines = [(k, first[FINDINGS[k]][:per_class]) for k in CLASSES if first[FINDINGS[k]]]
    fig, axes = plt.subplots(len(lines) + 1, ncols,
                             figsize=(tile_inches * ncols, tile_inches * 1.08 * (len(lines) + 1)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (kind, group) in enumerate(lines):
        for c, row in enumerate(group):
            axes[i, c].imshow(_read(root / "images" / row["filename"]), cmap="gray", vmin=0,
                              vmax=255)
            axes[i, c].set_title(f"{kind}  {row['view']} {row['sex']}{row['age']}", fontsize=8)
        _overlay(axes[i, len(group)], root, group[0]["filename"], f"{kind}: masks")
    for c, row in enumerate(longest):
        img = _read(root / "images" / row["filename"])
        axes[-1, c].imshow(img, cmap="gray", vmin=0, vmax=255)
        lesion = root / "masks" / "lesion" / row["filename"]
        lung = root / "masks" / "lung" / row["filename"]
        share = ""
        if lesion.is_file() and lung.is_file():
            pct = 100 * (_read(lesion) > 0).sum() / max((_read(lung) > 0).sum(), 1)
            share = f", lesion {pct:.0f}% of lung"
        axes[-1, c].set_title(f"day {row['offset']}{share}", fontsize=8)
    kind = next((k for k, f in FINDINGS.items() if f == longest[0]["finding"]), "?")
    axes[-1, 0].text(-0.08, 0.5, f"{kind} course", transform=axes[-1, 0].transAxes,
                     rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    buf.seek(0)
    sheet = Image.open(buf).convert("RGB").quantize(palette=_palette(), dither=Image.Dither.NONE)
    atomic_save(out_png, lambda tmp: sheet.save(tmp, format="PNG", optimize=True))
    return out_png


def _palette() -> Any:
    """Greys plus the overlay colours: keeps the sheet small without losing the contours."""
    from PIL import Image

    greys = [(g, g, g) for g in np.linspace(0, 255, 96).round().astype(int)]
    colours = [(255, 0, 0), (0, 191, 191), (0, 255, 255), (200, 60, 60), (60, 200, 200)]
    flat = [c for rgb in greys + colours for c in rgb]
    pal = Image.new("P", (1, 1))
    pal.putpalette(flat + [0] * (768 - len(flat)))
    return pal


def _overlay(ax: Any, root: Path, name: str, title: str) -> None:
    ax.imshow(_read(root / "images" / name), cmap="gray", vmin=0, vmax=255)
    for sub, colour in (("lung", "c"), ("lesion", "r")):
        path = root / "masks" / sub / name
        if path.is_file() and (_read(path) > 0).any():
            ax.contour(_read(path) > 0, [0.5], colors=colour, linewidths=1.0)
    ax.set_title(title, fontsize=8)
