"""A sweep's inputs per split seed: the split manifest and, for ratios > 0, GAN images.

Leakage-safe by construction (Roberts et al., Nat. Mach. Intell. 3, 2021): the
CycleGAN of a split is trained on that split's train patients only (`cxr gan
train` refuses anything else) and synthesises from train images only, so one
GAN per split seed. ``--shared-gan`` trains one GAN on the first split and
reuses it for the others; its weights have then seen patients that are
evaluation patients of the other splits, and the notes (carried into the
report) say so. GAN rows whose source patient is not a train patient of a split
are dropped for that split, so the row-level leakage check still holds.

Every step is skipped when its output is complete (split manifest written,
GAN ``summary.json`` at the final epoch, synth ``manifest.csv``), and a killed
GAN run resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from cxr.config import AblateConfig, GanConfig, SplitConfig, build_config
from cxr.pipelines.ablate.grid import CellTask, InputKey, SplitInputs
from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.errors import ConfigError, CxrError

if TYPE_CHECKING:
    import pandas as pd


def manifest_content_key(df: pd.DataFrame) -> str:
    """Content key of a split manifest: images *and* their split assignment."""
    from cxr.data.manifest import manifest_key

    splits = hashlib.sha256("\n".join(df["split"].astype(str)).encode()).hexdigest()
    return manifest_key(df, splits)


def split_for_sweep(
    cfg: AblateConfig, df: pd.DataFrame, seed: int | None, sweep_dir: Path, console: Console
) -> Path:
    from cxr.data.leakage.checks import check_leakage
    from cxr.data.manifest import save_manifest
    from cxr.data.split import split_manifest

    if seed is None:
        used = set(df["split"].astype(str)) & {"train", "val", "test"}
        if used != {"train", "val", "test"}:
            raise ConfigError(
                f"{cfg.manifest}: needs train, val and test rows (has: {', '.join(sorted(used))}); "
                "run `cxr data split` first or pass --split-seeds"
            )
        check_leakage(df)
        return Path(cfg.manifest)
    out = sweep_dir / "splits" / f"split{seed}" / "manifest.csv"
    if out.is_file():
        return out
    real = df[df["origin"] == "real"].reset_index(drop=True)
    split_df, report = split_manifest(real, SplitConfig(seed=seed))
    for w in report.warnings:
        console.print(f"[yellow]split {seed}:[/] {w}")
    save_manifest(split_df, out)
    console.print(f"split seed {seed}: {report.leakage.summary()}")
    return out


def gan_images_needed(df: pd.DataFrame, cfg: AblateConfig, target: str) -> int:
    """Enough GAN rows for the largest ratio: G = R r / (1 - r) (docs/mixing.md), + 10 %."""
    r = max(cfg.synthetic)
    real_target = int(
        ((df["split"] == "train") & (df["origin"] == "real") & (df["label"] == target)).sum()
    )
    return max(1, math.ceil(1.1 * real_target * r / (1 - r)))


def _gan_finished(run: Path, gan: GanConfig) -> bool:
    summary = run / "summary.json"
    if not summary.is_file():
        return False
    return json.loads(summary.read_text()).get("epochs_done", 0) >= gan.epochs + gan.epochs_decay


def train_and_synth(
    cfg: AblateConfig, gan: GanConfig, manifest: Path, gan_dir: Path, seed: int, console: Console
) -> Path:
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.gan.run_synth import run_synth
    from cxr.pipelines.gan.train_gan import train_gan

    run = gan_dir / "train"
    ckpt = run / "checkpoints" / "last.ckpt"
    if not _gan_finished(run, gan):
        console.print(f"training the CycleGAN of {manifest} -> {run}")
        train_gan(gan, manifest=manifest, out_dir=run, resume=ckpt.is_file(), progress=True)
    syn = gan_dir / "synth" / "manifest.csv"
    df = load_manifest(manifest, check_files=False)
    n = cfg.synth_per_split or gan_images_needed(df, cfg, gan.target)
    if not syn.is_file():
        run_synth(
            checkpoint=ckpt,
            manifest=manifest,
            out_dir=gan_dir / "synth",
            n=n,
            seed=seed,
            progress=True,
        )
    return syn


def evaluate_gans(
    inputs: dict[InputKey, SplitInputs],
    tasks: Sequence[CellTask],
    *,
    console: Console | None = None,
) -> None:
    """FID/KID (`cxr gan eval`) of each GAN the sweep trained, once its reference cell is done.

    The feature space is the penultimate layer of the split's ratio-0 classifier
    (trained on real images only): Inception weights are not downloaded, and
    domain features are argued to be more meaningful for radiographs
    (Kynkäänniemi et al., ICLR 2023). Skipped when ``eval/eval.json`` exists.
    """
    from cxr.pipelines.ablate.grid import is_done
    from cxr.pipelines.gan.gan_eval import run_gan_eval

    console = console or Console()
    seen: set[str] = set()
    for key, inp in inputs.items():
        if not inp.gan_dir or not inp.synthetic_manifest or inp.gan_dir in seen:
            continue
        seen.add(inp.gan_dir)
        out = Path(inp.gan_dir).parent / "eval"
        if (out / "eval.json").is_file():
            continue
        refs = [
            t
            for t in tasks
            if t.cell.input_key == key
            and t.cell.is_reference
            and is_done(t.run_dir)
            and ClassifyRunFolder(t.run_dir).weights.is_file()
        ]
        if not refs:
            console.print(
                f"[yellow]note:[/] no finished ratio-0 cell for {inp.gan_dir}: "
                "GAN evaluation skipped"
            )
            continue
        ckpt = ClassifyRunFolder(refs[0].run_dir).weights
        console.print(f"evaluating {inp.synthetic_manifest} (features of {ckpt})")
        try:
            res = run_gan_eval(
                manifest=inp.manifest,
                synthetic_manifest=inp.synthetic_manifest,
                out_dir=out,
                classifier=ckpt,
                progress=False,
            )
        except (CxrError, ValueError) as exc:  # e.g. too few images for FID in a small fold
            # the cells are done: a GAN evaluation that cannot run must not cost the summary
            console.print(f"[yellow]note:[/] GAN evaluation of {inp.gan_dir} skipped: {exc}")
            continue
        for w in res.warnings:
            console.print(f"[yellow]note:[/] {w}")


def _filter_to_train(syn: Path, manifest: Path, out: Path) -> tuple[Path, int]:
    """GAN rows whose source patient is a train patient of ``manifest``."""
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(manifest, check_files=False)
    gan = load_manifest(syn, check_files=False)
    train = set(df.loc[df["split"] == "train", "patient_id"].astype(str))
    keep = gan[gan["source_patient"].astype(str).isin(train)]
    save_manifest(keep, out)
    return out, len(gan) - len(keep)


def _check_lineage(cfg: AblateConfig, syn_df: pd.DataFrame, split_df: pd.DataFrame,
                   syn: Path) -> None:
    """Refuse before any cell runs when a val/test patient of the split trained the GAN."""
    from cxr.config import ClassifyConfig
    from cxr.data.leakage.lineage import check_gan_rows

    trust = build_config(ClassifyConfig, cfg.classify_config or None,
                         **cfg.classify).trust_gan_lineage
    split = split_df["split"].astype(str)
    check_gan_rows(syn_df[syn_df["origin"] == "gan"],
                   {"validation": split_df[split == "val"], "test": split_df[split == "test"]},
                   source=syn, trust=trust)


def prepare_inputs(
    cfg: AblateConfig, sweep_dir: Path, *, console: Console | None = None
) -> dict[InputKey, SplitInputs]:
    """Split manifests, GAN training + synthesis (or the given synthetic manifest) per split."""
    import pandas as pd

    from cxr.data.leakage.checks import check_leakage
    from cxr.data.manifest import load_manifest
    from cxr.runtime.tracking import mlflow_uri

    console = console or Console()
    if not cfg.manifest:
        raise ConfigError("--manifest is required")
    df = load_manifest(cfg.manifest)
    gan = build_config(GanConfig, cfg.gan_config or None, **cfg.gan)
    if "logger" not in cfg.gan:  # the sweep's GAN is tracked where its cells are
        uri = cfg.mlflow_uri or (mlflow_uri(sweep_dir) if cfg.logger == "mlflow" else "")
        gan = dataclasses.replace(gan, logger=cfg.logger, mlflow_uri=uri)
    need_gan = any(r > 0 for r in cfg.synthetic)
    seeds: tuple[int | None, ...] = cfg.split_seeds or (None,)
    out: dict[InputKey, SplitInputs] = {}
    shared: Path | None = None
    for seed in seeds:
        manifest = split_for_sweep(cfg, df, seed, sweep_dir, console)
        split_df = load_manifest(manifest, check_files=False)
        tag = "given" if seed is None else f"split{seed}"
        split_name = "the manifest's own split" if seed is None else f"split seed {seed}"
        notes: list[str] = []
        syn: Path | None = None
        gan_dir = ""
        if need_gan and cfg.synthetic_manifest:
            syn = Path(cfg.synthetic_manifest)
            notes.append(f"GAN images from {syn} (not trained by this sweep).")
        elif need_gan and cfg.shared_gan and shared is not None:
            syn, dropped = _filter_to_train(
                shared, manifest, sweep_dir / "gan" / f"shared-{tag}.csv"
            )
            gan_dir = str(sweep_dir / "gan" / "shared" / "train")
            notes.append(
                f"Shared GAN (--shared-gan): trained on the train split of split seed {seeds[0]}; "
                f"for {split_name} its weights have seen some validation/test patients, so results "
                f"for that split may be optimistic ({dropped} GAN rows from non-train sources "
                "dropped)."
            )
        elif need_gan:
            d = sweep_dir / "gan" / ("shared" if cfg.shared_gan else tag)
            syn = train_and_synth(cfg, gan, manifest, d, 0 if seed is None else seed, console)
            gan_dir = str(d / "train")
            shared = syn if cfg.shared_gan else None
            notes.append(f"GAN for {split_name} trained on its train patients only.")
        syn_key = ""
        if syn is not None:
            syn_df = load_manifest(syn, check_files=False)
            check_leakage(pd.concat([split_df, syn_df], ignore_index=True))
            _check_lineage(cfg, syn_df, split_df, syn)
            syn_key = manifest_content_key(syn_df)
        out[seed] = SplitInputs(
            manifest=str(manifest),
            synthetic_manifest=str(syn) if syn else "",
            gan_dir=gan_dir,
            manifest_key=manifest_content_key(split_df),
            synthetic_key=syn_key,
            notes=tuple(notes),
        )
    return out
