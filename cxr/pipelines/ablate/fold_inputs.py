"""A leave-one-dataset-out sweep's inputs: one fold per collection holding COVID images.

Each fold (:mod:`cxr.data.leakage.folds`) trains on the other collections' train split,
validates on their validation split and tests on every image of the held-out
collection. Its CycleGAN is trained and synthesises on that fold's train split
only (:func:`cxr.pipelines.ablate.split_inputs.train_and_synth`), so neither the
classifier nor the GAN ever sees the held-out collection: the paired gain of
synthetic data on held-out sources is then a statement about generalisation to
a new hospital, the question internal test splits cannot answer (DeGrave et al.,
Nat. Mach. Intell. 3, 2021). A GAN shared across folds, or GAN rows made
elsewhere, would have seen the held-out collection, so both are refused.

Fold manifests are written to ``folds/<split tag>/<collection>/manifest.csv``;
GANs to ``gan/<split tag>-out-<collection>/``. Folds that cannot be trained (no
COVID image left in train or val without the held-out collection) are skipped
and named in the notes.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from cxr.config import AblateConfig, GanConfig, build_config
from cxr.pipelines.ablate.grid import InputKey, SplitInputs, input_key
from cxr.pipelines.ablate.split_inputs import manifest_content_key, split_for_sweep, train_and_synth
from cxr.runtime.errors import ConfigError


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def prepare_fold_inputs(
    cfg: AblateConfig, sweep_dir: Path, *, console: Console | None = None
) -> dict[InputKey, SplitInputs]:
    """Fold manifests and per-fold GAN images for every split seed (see the module docstring)."""
    import pandas as pd

    from cxr.data.leakage.checks import check_leakage
    from cxr.data.leakage.folds import build_folds
    from cxr.data.manifest import load_manifest, save_manifest

    console = console or Console()
    need_gan = any(r > 0 for r in cfg.synthetic)
    if cfg.shared_gan:
        raise ConfigError("--leave-dataset-out trains one GAN per fold; --shared-gan would let "
                          "it see the held-out collection")
    if need_gan and cfg.synthetic_manifest:
        raise ConfigError("--leave-dataset-out trains the GAN per fold so that it never sees the "
                          "held-out collection; --synthetic-manifest cannot promise that")
    if not cfg.manifest:
        raise ConfigError("--manifest is required")
    df = load_manifest(cfg.manifest)
    gan = build_config(GanConfig, cfg.gan_config or None, **cfg.gan)
    out: dict[InputKey, SplitInputs] = {}
    for seed in cfg.split_seeds or (None,):
        manifest = split_for_sweep(cfg, df, seed, sweep_dir, console)
        tag = "given" if seed is None else f"split{seed}"
        folds = build_folds(load_manifest(manifest, check_files=False))
        skipped = [f"Fold {f.name!r} ({tag}) skipped: {f.reason}." for f in folds
                   if f.manifest is None]
        for note in skipped:
            console.print(f"[yellow]{note}[/]")
        for fold in folds:
            if fold.manifest is None:
                continue
            path = sweep_dir / "folds" / tag / _safe(fold.name) / "manifest.csv"
            check_leakage(fold.manifest)
            save_manifest(fold.manifest, path)
            c = fold.counts
            notes = [f"Fold {fold.name!r} ({tag}): " + "; ".join(fold.notes) + "; "
                     f"train {c['train_covid']} covid / {c['train_other']} other, "
                     f"test {c['test_covid']} covid / {c['test_other']} other.", *skipped]
            syn: Path | None = None
            gan_dir = ""
            if need_gan:
                d = sweep_dir / "gan" / f"{tag}-out-{_safe(fold.name)}"
                syn = train_and_synth(cfg, gan, path, d, 0 if seed is None else seed, console)
                gan_dir = str(d / "train")
                notes.append(f"GAN of fold {fold.name!r} ({tag}) trained on the other "
                             "collections' train split only; it never saw the held-out one.")
            syn_key = ""
            fold_df = load_manifest(path, check_files=False)
            if syn is not None:
                syn_df = load_manifest(syn, check_files=False)
                check_leakage(pd.concat([fold_df, syn_df], ignore_index=True))
                syn_key = manifest_content_key(syn_df)
            out[input_key(seed, fold.name)] = SplitInputs(
                manifest=str(path), synthetic_manifest=str(syn) if syn else "", gan_dir=gan_dir,
                manifest_key=manifest_content_key(fold_df), synthetic_key=syn_key,
                notes=tuple(notes),
            )
    return out
