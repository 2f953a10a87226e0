"""Tiny split phantom datasets (and fake GAN manifests) for the classify tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cxr.config import PhantomConfig, SplitConfig


def make_split_manifest(root: Path, *, patients: int = 48, size: int = 48) -> Path:
    """Phantoms -> index -> patient-level split; returns the split manifest path."""
    from cxr.data.index.indexer import ProbeLimits, build_index
    from cxr.data.split import split_file
    from cxr.phantom import generate_phantoms

    cfg = PhantomConfig(patients=patients, seed=0, image_size=size, mix_normal=0.3,
                        mix_bacterial=0.2, mix_viral=0.2, mix_covid=0.3,
                        longitudinal_fraction=0.1, max_studies=2)
    ds = generate_phantoms(root / "phantoms", cfg, workers=1, progress=False)
    manifest = root / "manifest.csv"
    # tiny phantoms on purpose: below the index's default minimum side
    build_index([ds], manifest, workers=1, progress=False, limits=ProbeLimits(min_side=8))
    split_file(manifest, SplitConfig(val=0.25, test=0.25, seed=0), progress=False)
    return manifest


def make_gan_manifest(manifest: Path, out_dir: Path, *, copies: int = 2,
                      split: str = "") -> Path:
    """Fake CycleGAN output: copies of the train COVID images as origin=gan rows."""
    from cxr.data.leakage.lineage import record_lineage
    from cxr.data.manifest import load_manifest, new_manifest, save_manifest
    from cxr.runtime.files import sha256_file

    df = load_manifest(manifest)
    src = df[(df["split"] == "train") & (df["label"] == "covid")]
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(copies):
        for _, r in src.iterrows():
            dest = out_dir / f"gan{k}_{Path(r['image_path']).name}"
            shutil.copyfile(r["image_path"], dest)
            rows.append({
                "image_path": str(dest), "patient_id": f"gan:{k}:{r['patient_id']}",
                "label": "covid", "dataset": "gan", "origin": "gan", "split": split,
                "width": r["width"], "height": r["height"],
                "content_hash": sha256_file(dest) + f"-{k}",
                "source_image": r["image_path"], "source_patient": r["patient_id"],
                "gan_lineage": str(out_dir / "gan_lineage.json"),
            })
    # the fake GAN "trained" on the train split, as `cxr gan train` would record it
    lineage = record_lineage(df[df["split"] == "train"], df)
    (out_dir / "gan_lineage.json").write_text(json.dumps({"lineage": lineage.to_dict()}))
    path = out_dir / "manifest.csv"
    save_manifest(new_manifest(rows), path)
    return path


def make_sources_manifest(root: Path, names: tuple[str, ...], *, seed: int = 0,
                          patients: int = 32, size: int = 48, split: bool = True) -> Path:
    """Phantom collections named ``names`` (other seeds: other patients and images), indexed
    into one manifest (``dataset`` = the name) and, with ``split``, split by patient."""
    from cxr.data.index.indexer import ProbeLimits, build_index
    from cxr.data.split import split_file
    from cxr.phantom import generate_phantoms

    roots = []
    for k, name in enumerate(names):
        cfg = PhantomConfig(patients=patients, seed=seed + 101 * k, image_size=size,
                            mix_normal=0.4, mix_bacterial=0.15, mix_viral=0.15, mix_covid=0.3,
                            longitudinal_fraction=0.1, max_studies=2)
        roots.append(generate_phantoms(root / name, cfg, workers=1, progress=False))
    manifest = root / "manifest.csv"
    build_index(roots, manifest, names=list(names), workers=1, progress=False,
                limits=ProbeLimits(min_side=8))
    if split:
        split_file(manifest, SplitConfig(val=0.25, test=0.3, seed=seed), progress=False)
    return manifest
