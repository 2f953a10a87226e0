"""Report sections for the GAN stage (samples, FID/KID) and the explain stage (Grad-CAM).

Built from files only, like :mod:`cxr.pipelines.report.sections`: the synthetic
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

from cxr.pipelines.report import report_plots as plots
from cxr.pipelines.report.sections import Section, html_figure, html_table, read_manifest
from cxr.runtime.errors import CxrError
from cxr.runtime.fmt import fmt_ci

if TYPE_CHECKING:
    from cxr.pipelines.report.discover import Found


# ---------------------------------------------------------------------- GAN
def gan_samples_section(found: Found, n: int = 8) -> Section | str:
    from cxr.data.images.imageio import read_image_u8
    from cxr.data.images.preprocess import square_resize

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


_MEANING = {
    "FID": "Fréchet distance between the feature distributions; lower is closer to the real "
    "target images, 0 = identical. The GAN should beat the baseline (untranslated real source "
    "images), which is what the translation has to improve on.",
    "KID": "kernel (MMD) distance, mean ± s.d. over subsets; lower is closer. It is an unbiased "
    "estimator, so when the two sets are indistinguishable at this sample size it scatters "
    "around 0 and can be slightly negative.",
    "label preservation": "share of synthetic images that a classifier trained on real images "
    "calls the target class (1 = all look like the target to it).",
    "mean P(target)": "that classifier's mean probability of the target class on synthetic images.",
    "lesion-region change": "mean intensity change synthetic - source inside the expected lesion "
    "region; the baseline column is the change in the rest of the lungs.",
}


def _kid(d: dict[str, Any]) -> str:
    from cxr.runtime.fmt import fmt_pm

    return fmt_pm(d.get("kid_mean"), d.get("kid_std"))


def gan_eval_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, synthetic, baseline, meaning) rows of an eval.json of `cxr gan eval`."""
    from cxr.runtime.fmt import fmt_num

    rows = []
    syn = doc.get("synthetic_vs_real_target")
    base = doc.get("real_source_vs_real_target")
    if isinstance(syn, dict):
        b = base if isinstance(base, dict) else {}
        rows.append(("FID", fmt_num(syn.get("fid")), fmt_num(b.get("fid")) if b else "–",
                     _MEANING["FID"]))
        rows.append(("KID", _kid(syn), _kid(b) if b else "–", _MEANING["KID"]))
    if doc.get("label_preservation") is not None:
        rows.append(("label preservation", fmt_num(doc["label_preservation"]), "–",
                     _MEANING["label preservation"]))
    if doc.get("mean_p_target") is not None:
        rows.append(("mean P(target)", fmt_num(doc["mean_p_target"]), "–",
                     _MEANING["mean P(target)"]))
    region = doc.get("lesion_region")
    if isinstance(region, dict):
        rows.append(("lesion-region change", fmt_num(region.get("mean_change_inside")),
                     fmt_num(region.get("mean_change_outside")), _MEANING["lesion-region change"]))
    return rows


def _flat(doc: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``a.b`` -> formatted value pairs of a nested JSON document (numbers and text only)."""
    from cxr.runtime.fmt import fmt_num

    if isinstance(doc, dict):
        out: list[tuple[str, str]] = []
        for k, v in doc.items():
            out += _flat(v, f"{prefix}{k}.")
        return out
    if isinstance(doc, (int, float, str)) and not isinstance(doc, bool):
        return [(prefix.rstrip("."), fmt_num(doc))]
    return []


def _gan_eval_html(path: Path, doc: dict[str, Any], origin: str) -> str:
    rows = gan_eval_rows(doc)
    target, source = doc.get("target", "target"), ", ".join(doc.get("source", []) or ["source"])
    head = (
        f"<p>{escape(str(doc.get('features') or 'no'))} features; {doc.get('n_synthetic', '?')} "
        f"synthetic {escape(str(target))} images vs {doc.get('n_real_target_heldout', '?')} "
        f"held-out real {escape(str(target))}; baseline: {doc.get('n_real_source_heldout', '?')} "
        f"held-out real {escape(source)} vs the same real {escape(str(target))}. "
        f"From {escape(origin)}.</p>"
    )
    if not rows:  # not the layout of `cxr gan eval`: show what the file holds
        # the synthetic-data audit has its own block (report/gan_audit.py)
        flat = [(k, v) for k, v in _flat(doc) if k not in ("warnings", "notes")
                and not k.startswith("audit.")]
        if not flat:
            return head + '<p class="note">no measures in this file</p>'
        body = "".join(f"<tr><td>{escape(k)}</td><td class=\"num\">{escape(v)}</td></tr>"
                       for k, v in flat)
        return head + f"<table><tbody>{body}</tbody></table>"
    body = "".join(
        f"<tr><td>{escape(m)}</td><td class=\"num\">{escape(v)}</td>"
        f"<td class=\"num\">{escape(b)}</td><td class=\"meaning\">{escape(t)}</td></tr>"
        for m, v, b, t in rows
    )
    return head + (
        "<table><thead><tr><th>measure</th><th>synthetic vs real "
        f"{escape(str(target))}</th><th>baseline</th><th>what it means</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def gan_quality_section(found: Found) -> Section | str:
    import pandas as pd

    if not found.gan_evals:
        return "no GAN evaluation (eval.json from `cxr gan eval`) found"
    parts = []
    for path in found.gan_evals:
        doc = json.loads(Path(path).read_text())
        figures = doc.get("figures") if isinstance(doc, dict) else None
        parts.append(f"<h3>{escape(str(Path(path).parent))}</h3>")
        if isinstance(doc, dict) and isinstance(doc.get("metrics"), list):
            parts.append(html_table(pd.DataFrame(doc["metrics"])))
        elif isinstance(doc, dict):
            parts.append(_gan_eval_html(Path(path), doc, found.origin(path)))
        for note in (
            (doc.get("notes", []) + doc.get("warnings", [])) if isinstance(doc, dict) else []
        ):
            parts.append(f'<p class="note">{escape(str(note))}</p>')
        parts += _difference_figures(Path(path).parent, figures)
    return Section("GAN quality (FID / KID)", "gan-quality", Markup("".join(parts)),
                   list(found.eval_notes), [found.origin(p) for p in found.gan_evals])


# ------------------------------------------------------------------ Grad-CAM
def _upscaled(png: Path, limit: int = 1100) -> int:
    """Display width for a small contact sheet: twice its pixels, at most ``limit``."""
    from PIL import Image

    with Image.open(png) as im:
        return min(2 * im.width, limit)


def explain_dirs_by_empty(dirs: list[Path]) -> list[Path]:
    """Explanation folders, those with the smallest share of empty (all-zero) maps first."""

    def share(d: Path) -> float:
        try:
            doc = json.loads((d / "explain.json").read_text())
            return float(doc.get("empty_maps", 0)) / max(1, int(doc.get("images", 1) or 1))
        except (OSError, ValueError, TypeError):
            return 1.0

    return sorted(dirs, key=share)


def gradcam_section(found: Found, sheets: int = 2) -> Section | str:
    import pandas as pd

    if not found.explain_dirs:
        return "no `cxr explain` output (explain.json) found"
    parts, notes = [], []
    for d in explain_dirs_by_empty(list(found.explain_dirs)):
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
                            "mean [95% CI]": fmt_ci(s["mean"], ci[0], ci[1]),
                            "random baseline": s.get("baseline"),
                        }
                    )
        parts.append(
            f"<h3>{escape(str(doc.get('method', 'map')))} on {doc.get('images', '?')} "
            f"images ({escape(str(d))})</h3>"
        )
        ckpt = (doc.get("inputs") or {}).get("checkpoint") or (doc.get("config") or {}).get(
            "checkpoint")
        facts = [f"from {found.origin(d)}"]
        if ckpt:
            facts.append(f"model {ckpt}")
        if doc.get("decision"):
            facts.append(f"decision {doc['decision']} (shown on every tile)")
        parts.append(f"<p>{escape('; '.join(facts))}.</p>")
        if doc.get("empty_maps"):
            parts.append(
                f'<p class="note">{doc["empty_maps"]} of {doc.get("images", "?")} maps are empty '
                "(all zero): shown as EMPTY MAP tiles and scored 0 in every mean below.</p>"
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
    return Section("Grad-CAM examples and localization", "gradcam", Markup("".join(parts)), notes,
                   [found.origin(d / "explain.json") for d in found.explain_dirs])
