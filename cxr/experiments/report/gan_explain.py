"""Report sections for the GAN stage (samples, FID/KID) and the explain stage (Grad-CAM).

Built from files only, like :mod:`cxr.experiments.report.sections`: the synthetic
manifest and training grids of `cxr gan train/synth`, ``eval.json`` of `cxr gan eval`
(FID, Heusel et al. 2017; KID, Bińkowski et al. 2018) and ``explain.json`` plus
contact sheets of `cxr explain` (Grad-CAM, Selvaraju et al. 2017).
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from cxr.errors import CxrError
from cxr.experiments.report import plots
from cxr.experiments.report.sections import Section, html_figure, html_table, read_manifest

if TYPE_CHECKING:
    from cxr.experiments.report.discover import Found


# ---------------------------------------------------------------------- GAN
def gan_samples_section(found: Found, n: int = 8) -> Section | str:
    from cxr.data.imageio import read_image_u8
    from cxr.data.preprocess import square_resize

    parts = []
    for syn in found.synthetic_manifests:
        try:
            df = read_manifest(syn)
        except CxrError as exc:
            parts.append(f'<p class="bad">{escape(str(exc))}</p>')
            continue
        df = df[df["origin"] == "gan"]
        if "source_image" not in df.columns or df.empty:
            continue
        pick = df.sample(n=min(n, len(df)), random_state=0)
        pairs = []
        for _, r in pick.iterrows():
            try:
                out = read_image_u8(r["image_path"])
                src = square_resize(read_image_u8(r["source_image"]), out.shape[0])
            except CxrError:
                continue
            pairs.append((src, out))
        if pairs:
            png = plots.image_pairs(pairs, ("source (real)", "CycleGAN"))
            parts.append(
                html_figure(png, f"{len(pairs)} random GAN images beside their source (from {syn})")
            )
    for gan_dir in found.gan_dirs:
        grids = sorted((Path(gan_dir) / "samples").glob("epoch_*.png"))
        if grids:
            parts.append(
                html_figure(grids[-1], f"last training grid of {gan_dir} ({grids[-1].name})")
            )
    if not parts:
        return "no synthetic manifest or GAN run found"
    return Section("GAN samples", "gan-samples", Markup("".join(parts)))


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flat(
                v, f"{prefix}{k}." if not isinstance(v, (int, float, str)) else f"{prefix}{k}"
            )
    elif isinstance(d, list) and all(isinstance(v, (int, float)) for v in d) and len(d) <= 4:
        out.append((prefix.rstrip("."), ", ".join(f"{v:.4g}" for v in d)))
    elif isinstance(d, (int, float, str)) and not isinstance(d, bool):
        out.append((prefix.rstrip("."), f"{d:.4g}" if isinstance(d, float) else d))
    return out


_DIFF_CAPTIONS = {
    "difference": "source | CycleGAN | synthetic - source (unaugmented outputs, shared scale)",
    "mean_difference": "mean synthetic - source over {n} unaugmented outputs "
    "(red: GAN adds density; outline: mean lung mask, dashed: expected lesion region)",
}


def _difference_figures(eval_dir: Path, figures: Any) -> list[str]:
    """The difference PNGs of `cxr gan eval` (names relative to eval.json), when present."""
    if not isinstance(figures, dict):
        return []
    out = []
    for key, caption in _DIFF_CAPTIONS.items():
        name = figures.get(key)
        png = eval_dir / str(name) if name else None
        if png is not None and png.is_file():
            text = caption.format(n=figures.get("n_images", "?"))
            out.append(html_figure(png, text, _upscaled(png, 900)))
    return [f'<div class="grid">{"".join(out)}</div>'] if out else []


def gan_quality_section(found: Found) -> Section | str:
    import pandas as pd

    if not found.gan_evals:
        return "no GAN evaluation (eval.json from `cxr gan eval`) found"
    parts = []
    for path in found.gan_evals:
        doc = json.loads(Path(path).read_text())
        figures = doc.get("figures") if isinstance(doc, dict) else None
        if isinstance(doc, dict) and isinstance(doc.get("metrics"), list):
            table = pd.DataFrame(doc["metrics"])
        else:
            body = {k: v for k, v in doc.items() if k != "figures"} if figures else doc
            table = pd.DataFrame(_flat(body), columns=["metric", "value"])
        table = table.astype(str) if not len(table.columns) else table
        parts.append(f"<h3>{escape(str(path))}</h3>" + html_table(table, 4))
        for note in (
            (doc.get("notes", []) + doc.get("warnings", [])) if isinstance(doc, dict) else []
        ):
            parts.append(f'<p class="note">{escape(str(note))}</p>')
        parts += _difference_figures(Path(path).parent, figures)
    return Section("GAN quality (FID / KID)", "gan-quality", Markup("".join(parts)))


# ------------------------------------------------------------------ Grad-CAM
def _upscaled(png: Path, limit: int = 1100) -> int:
    """Display width for a small contact sheet: twice its pixels, at most ``limit``."""
    from PIL import Image

    with Image.open(png) as im:
        return min(2 * im.width, limit)


def gradcam_section(found: Found, sheets: int = 2) -> Section | str:
    import pandas as pd

    if not found.explain_dirs:
        return "no `cxr explain` output (explain.json) found"
    parts, notes = [], []
    for d in found.explain_dirs:
        doc = json.loads((d / "explain.json").read_text())
        rows = []
        for group, scores in doc.get("scores", {}).items():
            for name, s in scores.items():
                if s.get("n"):
                    ci = s.get("ci95") or [math.nan, math.nan]
                    rows.append(
                        {
                            "images": group,
                            "score": name,
                            "n": s["n"],
                            "mean": s["mean"],
                            "ci_low": ci[0],
                            "ci_high": ci[1],
                            "random baseline": s.get("baseline"),
                        }
                    )
        parts.append(
            f"<h3>{escape(str(doc.get('method', 'map')))} on {doc.get('images', '?')} "
            f"images ({escape(str(d))})</h3>"
        )
        if rows:
            parts.append(html_table(pd.DataFrame(rows)))
        else:
            parts.append('<p class="note">no lesion or lung masks: localization not scored</p>')
        imgs = [d / s for s in doc.get("sheets", [])][:sheets]
        if not imgs:
            imgs = sorted((d / "overlays").glob("*.png"))[:4]
        if imgs:
            figs = "".join(html_figure(p, p.name, _upscaled(p)) for p in imgs if p.is_file())
            parts.append(f'<div class="grid">{figs}</div>')
        notes += [str(n) for n in doc.get("notes", [])]
    return Section("Grad-CAM examples and localization", "gradcam", Markup("".join(parts)), notes)
