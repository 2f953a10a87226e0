"""Recall and false-group rate of cross-collection duplicate grouping.

Originals: the real radiographs in ``../shared/data`` when present (the whole
Hannover set and the Kaggle pneumonia sample; the Hannover sample is left out
because it holds the same pictures) plus ``--phantoms`` phantom patients
(``cxr.phantom``, one study each, 320 px). Every original is written
back through the transforms that public collections apply when they copy
each other - resized, re-encoded as JPEG, borders trimmed (both sides or one
side), contrast/gamma changed, stored as 16 bits (full range and 12 bits in a
16-bit word), a combination, and asymmetric re-crops (one or two sides trimmed
2-10 % each, shifted up to 2 %, some with a burnt-in letter, resized and
re-encoded as JPEG; drawn at random per original with a fixed seed) - each
copy as its own file, "patient" and dataset. Files are indexed with the
indexer's own probe (decode + signature) and grouped with the split's
:func:`cxr.data.duplicates.grouping.find_duplicates`.

* **recall** (per transform and overall): share of copies that land in their
  original's duplicate group;
* **false-group rate**: share of duplicate groups that join two different
  originals (different radiographs; for the real data these include studies of
  one patient, reported apart), and the number of such wrong original pairs.

    .venv/bin/python benchmarks/dedup_recall.py --phantoms 100 --min-corr 0.945 0.95 0.955 \
        --probes /tmp/cxr-bench/probes.pkl

Candidates and confirmation are the split's own (``grouping.candidates`` and
``grouping.confirm``); run with ``PYTHONPATH`` at an older checkout (and another
``--probes`` file: the signatures differ) to measure that version on the same copies.

``--probes FILE`` caches the signatures of the generated copies, so other
thresholds can be compared without decoding again.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _shared() -> Path:
    """``$CXR_SHARED_DATA``, else ``shared/data`` beside the checkout (or beside its parent,
    for a git worktree under ``wt/``)."""
    if os.environ.get("CXR_SHARED_DATA"):
        return Path(os.environ["CXR_SHARED_DATA"])
    here = Path(__file__).resolve().parents[1]
    for up in (here.parent, here.parent.parent):
        if (up / "shared" / "data").is_dir():
            return up / "shared" / "data"
    return here.parent / "shared" / "data"


SHARED = _shared()


def _jpeg(u8: np.ndarray, q: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=q)
    return buf.getvalue()


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _resize(u8: np.ndarray, f: float) -> np.ndarray:
    import cv2

    return np.asarray(cv2.resize(u8, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), np.uint8)


def _trim(u8: np.ndarray, top: float, bottom: float, left: float, right: float) -> np.ndarray:
    h, w = u8.shape
    return u8[int(h * top) : h - int(h * bottom), int(w * left) : w - int(w * right)]


def _gamma(u8: np.ndarray, g: float) -> np.ndarray:
    return np.asarray(255 * (u8 / 255.0) ** g, dtype=np.uint8)


def _stretch(u8: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(u8, [2, 98])
    return np.clip((u8 - lo) / max(hi - lo, 1) * 255, 0, 255).astype(np.uint8)


def _shift(u8: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Content moved by (dy, dx) pixels in the same frame; the uncovered band is black."""
    out = np.zeros_like(u8)
    h, w = u8.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = u8[ys, xs]
    return out


def _letter(u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A burnt-in panel letter (white, about 8 % of the height) at a random corner."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(u8)
    h, w = u8.shape
    size = max(8, h // 12)
    font = ImageFont.load_default(size=size)
    x = int(rng.uniform(0.03, 0.12) * w) if rng.random() < 0.5 else int(w * 0.85)
    y = int(rng.uniform(0.03, 0.12) * h) if rng.random() < 0.5 else int(h * 0.85)
    ImageDraw.Draw(img).text((x, y), str(rng.choice(list("ABLR"))), fill=255, font=font)
    return np.asarray(img)


def _recrop(u8: np.ndarray, rng: np.random.Generator, sides: int, letter: bool = False) -> bytes:
    """An asymmetric re-crop: ``sides`` sides trimmed 2-10 % each, a shift of up to 2 % along
    each axis, optionally a burnt-in letter, resized to 60-100 % and re-encoded as JPEG q60-90."""
    h, w = u8.shape
    cut = dict.fromkeys(("top", "bottom", "left", "right"), 0.0)
    for side in rng.choice(list(cut), size=sides, replace=False):
        cut[str(side)] = float(rng.uniform(0.02, 0.10))
    out = _trim(u8, cut["top"], cut["bottom"], cut["left"], cut["right"])
    hh, ww = out.shape
    out = _shift(out, int(rng.uniform(-0.02, 0.02) * hh), int(rng.uniform(-0.02, 0.02) * ww))
    if letter:
        out = _letter(out, rng)
    return _jpeg(_resize(out, float(rng.uniform(0.6, 1.0))), int(rng.integers(60, 91)))


Transform = Callable[[np.ndarray, np.random.Generator], bytes]
TRANSFORMS: dict[str, Transform] = {
    "resize-50%": lambda u, r: _png(_resize(u, 0.5)),
    "jpeg-q60": lambda u, r: _jpeg(u, 60),
    "trim-2%": lambda u, r: _png(_trim(u, 0.02, 0.02, 0.02, 0.02)),
    "trim-5%": lambda u, r: _png(_trim(u, 0.05, 0.05, 0.05, 0.05)),
    "trim-4%-one-corner": lambda u, r: _png(_trim(u, 0.04, 0, 0, 0.04)),
    "trim-4%-top": lambda u, r: _png(_trim(u, 0.04, 0, 0, 0)),
    "gamma-0.6": lambda u, r: _png(_gamma(u, 0.6)),
    "gamma-1.6": lambda u, r: _png(_gamma(u, 1.6)),
    "contrast-stretch": lambda u, r: _png(_stretch(u)),
    "low-contrast": lambda u, r: _png((u * 0.6 + 40).astype(np.uint8)),
    "16-bit": lambda u, r: _png(u.astype(np.uint16) * 257),
    "12-bit-in-16": lambda u, r: _png(u.astype(np.uint16) << 4),
    "combo": lambda u, r: _jpeg(_gamma(_resize(_trim(u, 0.03, 0.03, 0.03, 0.03), 0.6), 1.3), 70),
    # asymmetric re-crops (issue 23, item 7): random per original, seeded
    "recrop-1-side": lambda u, r: _recrop(u, r, 1),
    "recrop-2-sides": lambda u, r: _recrop(u, r, 2),
    "recrop-2-sides+letter": lambda u, r: _recrop(u, r, 2, letter=True),
}


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def real_originals() -> list[tuple[Path, str]]:
    """(file, patient) for the real sample images present (Hannover full + Kaggle)."""
    import pandas as pd

    out: list[tuple[Path, str]] = []
    full = SHARED / "hannover-covid-full"
    if (full / "data.csv").is_file():
        meta = pd.read_csv(full / "data.csv", dtype=str)
        for image_id, patient in zip(meta["image_id"], meta["patient_id"], strict=True):
            if (full / "png" / f"{image_id}.png").is_file():
                out.append((full / "png" / f"{image_id}.png", f"hannover:{patient}"))
    for f in sorted((SHARED / "real-sample" / "kaggle-chest-xray").rglob("*.jpeg")):
        m = re.match(r"(person\d+)|(?:NORMAL2-)?(IM-\d+)", f.stem)
        out.append((f, f"kaggle:{m.group(0) if m else f.stem}"))
    return out


def phantom_originals(folder: Path, n: int) -> list[tuple[Path, str]]:
    from cxr.config import PhantomConfig
    from cxr.phantom import generate_phantoms

    if n <= 0:
        return []
    cfg = PhantomConfig(patients=n, seed=1, image_size=320, longitudinal_fraction=0.0)
    generate_phantoms(folder, cfg, workers=2)
    return [(p, f"phantom:{p.stem}") for p in sorted((folder / "images").glob("*.png"))]


def build_probes(args: argparse.Namespace, root: Path) -> Any:
    """The copies' manifest rows with the indexer's signatures (cached in ``--probes``)."""
    import pandas as pd

    from cxr.data.images.imageio import read_image_u8
    from cxr.data.index.indexer import probe_image

    if args.probes and Path(args.probes).is_file():
        return pd.read_pickle(args.probes)
    originals = [] if args.no_real else real_originals()
    originals += phantom_originals(root / "phantoms", args.phantoms)
    rows = []
    for k, (path, patient) in enumerate(originals):
        rows.append({"image_path": str(path), "orig": k, "patient": patient,
                     "transform": "original"})
        u8 = read_image_u8(path)
        for t, (name, fn) in enumerate(TRANSFORMS.items()):
            rng = np.random.default_rng([k, t])
            dest = root / "copies" / name / f"{k:05d}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(fn(u8, rng))
            rows.append({"image_path": str(dest), "orig": k, "patient": patient,
                         "transform": name})
    probes = [probe_image(r["image_path"]) for r in rows]
    bad = [p for p in probes if "reason" in p]
    if bad:
        raise SystemExit(f"unreadable: {bad[:3]}")
    cols = ("content_hash", "phash", "phash_crops", "thumb")
    df = pd.DataFrame([{**r, **{c: p[c] for c in cols}} for r, p in zip(rows, probes, strict=True)])
    if args.probes:
        df.to_pickle(args.probes)
    return df


def evaluate(df: Any, pairs: list[tuple[int, int]], scores: np.ndarray, corr: float,
             verbose: bool) -> dict[str, Any]:
    """Recall per transform and wrong groups when candidates scoring >= ``corr`` are joined."""
    from cxr.data.duplicates.hashing import duplicate_components

    accepted = [p for p, sc in zip(pairs, scores, strict=True) if sc >= corr]
    comp = np.asarray(duplicate_components(list(df["content_hash"]), accepted))
    orig = df["orig"].to_numpy()
    is_orig = (df["transform"] == "original").to_numpy()
    orig_row = dict(zip(orig[is_orig].tolist(), np.flatnonzero(is_orig).tolist(), strict=True))
    hit = comp == comp[[orig_row[o] for o in orig]]
    recall = {name: float(hit[(df["transform"] == name).to_numpy()].mean()) for name in TRANSFORMS}
    recall["overall"] = float(hit[~is_orig].mean())
    members: dict[int, list[int]] = {}
    for i, c in enumerate(comp.tolist()):
        members.setdefault(c, []).append(i)
    groups = [m for m in members.values() if len(m) > 1]
    wrong = same = wrong_pairs = 0
    for m in groups:
        origs = sorted({int(orig[i]) for i in m})
        if len(origs) > 1:
            pts = sorted({str(df["patient"].iat[orig_row[o]]) for o in origs})
            wrong_pairs += len(origs) * (len(origs) - 1) // 2
            if len(pts) > 1:
                wrong += 1
                if verbose:
                    print(f"  wrong group: {len(m)} images of {len(origs)} originals: "
                          f"{', '.join(pts[:6])}{' ...' if len(pts) > 6 else ''}")
            else:
                same += 1
    return {"recall": recall, "groups": len(groups), "wrong": wrong, "same_patient": same,
            "wrong_pairs": wrong_pairs, "components": comp}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phantoms", type=int, default=200, help="phantom patients [200]")
    ap.add_argument("--no-real", action="store_true", help="ignore ../shared/data")
    ap.add_argument("--near-bits", type=int, default=None, help="candidate radius [config]")
    ap.add_argument("--min-corr", type=float, nargs="*", default=None,
                    help="confirmation threshold(s) to report [config]")
    ap.add_argument("--probes", default="", help="pickle caching the copies' signatures")
    ap.add_argument("--verbose", action="store_true", help="list the wrong groups")
    ap.add_argument("--save-groups", default="", help="write the groups at the first threshold")
    ap.add_argument("--compare-groups", default="",
                    help="groups saved by an earlier run: report its true-copy pairs lost now")
    args = ap.parse_args(argv)

    from cxr.config import SplitConfig
    from cxr.data.duplicates import grouping
    from cxr.data.duplicates.hashing import candidate_pairs
    from cxr.data.duplicates.nearcopy import decode_thumb

    cfg = SplitConfig()
    bits = cfg.near_duplicate_bits if args.near_bits is None else args.near_bits
    thresholds = args.min_corr or [cfg.duplicate_min_corr]
    with tempfile.TemporaryDirectory() as tmp:
        df = build_probes(args, Path(tmp))
    start, cpu_start = time.perf_counter(), time.process_time()
    thumbs = [decode_thumb(t) for t in df["thumb"]]
    if hasattr(grouping, "candidates"):  # the split's own candidate step (issue 23 on)
        pairs = grouping.candidates(list(df["phash"]), list(df["phash_crops"]), thumbs, bits)
    else:  # the hash bands of earlier versions, to measure them on the same copies
        pairs = candidate_pairs(list(df["phash"]), list(df["phash_crops"]), bits)
    mid, cpu_mid = time.perf_counter(), time.process_time()
    if hasattr(grouping, "confirm"):  # the split's own confirmation (crop estimate, issue 23)
        scores = grouping.confirm(pairs, thumbs)
    else:  # the aligned-views confirmation of earlier versions (run with main's checkout)
        from cxr.data.duplicates.nearcopy import aligned_correlation  # type: ignore[attr-defined]

        scores = aligned_correlation(pairs, thumbs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    orig = df["orig"].to_numpy()
    n_orig = int((df["transform"] == "original").sum())
    is_orig = df["transform"] == "original"
    n_real = int((~df["patient"].str.startswith("phantom:") & is_orig).sum())
    neg = np.array([orig[i] != orig[j] for i, j in pairs], dtype=bool)
    print(f"{n_orig} originals ({n_real} real, {n_orig - n_real} phantoms) x "
          f"{len(TRANSFORMS)} transforms = {len(df) - n_orig} copies; near_duplicate_bits {bits}; "
          f"{len(pairs)} candidate pairs ({int(neg.sum())} between different originals); "
          f"candidates + scores took {seconds:.1f} s wall, {cpu:.1f} s CPU (candidates "
          f"{mid - start:.1f} s / {cpu_mid - cpu_start:.1f} s CPU, confirmation "
          f"{seconds - (mid - start):.1f} s / {cpu - (cpu_mid - cpu_start):.1f} s CPU; load "
          f"average {_load()} at the end)")
    if neg.any():
        q = np.quantile(scores[neg], [0.5, 0.99, 0.999, 1.0])
        print(f"scores of candidate pairs between different originals: median {q[0]:.3f}, "
              f"99% {q[1]:.3f}, 99.9% {q[2]:.3f}, max {q[3]:.3f}")
    results = {t: evaluate(df, pairs, scores, t, args.verbose and t == thresholds[0])
               for t in thresholds}
    print("| transform | " + " | ".join(f"recall @ {t:g}" for t in thresholds) + " |")
    print("|---|" + "---|" * len(thresholds))
    for name in (*TRANSFORMS, "overall"):
        print(f"| {name} | " + " | ".join(f"{results[t]['recall'][name]:.3f}"
                                          for t in thresholds) + " |")
    comp = results[thresholds[0]]["components"]
    if args.save_groups:
        np.save(args.save_groups, comp)
    if args.compare_groups:
        before = np.load(args.compare_groups)
        same_orig = orig[:, None] == orig[None, :]
        was = (before[:, None] == before[None, :]) & same_orig
        lost = was & (comp[:, None] != comp[None, :])
        print(f"true-copy pairs grouped by the saved run: {int(np.triu(was, 1).sum())}; "
              f"not grouped now: {int(np.triu(lost, 1).sum())}")
    for t in thresholds:
        r = results[t]
        print(f"min_corr {t:g}: {r['groups']} duplicate groups; joining different patients: "
              f"{r['wrong']} (false-group rate {r['wrong'] / max(1, r['groups']):.4f}); joining "
              f"two studies of one patient: {r['same_patient']}; wrong original pairs: "
              f"{r['wrong_pairs']} of {n_orig * (n_orig - 1) // 2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
