"""`cxr data ...`: phantoms, indexing public layouts, patient-level splits, the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Build and check datasets: phantom, index, split, cache.", no_args_is_help=True
)


@app.command("phantom")
def phantom(
    *,
    out: Annotated[Path, typer.Option(help="Dataset folder to write (covid-chestxray layout).")],
    patients: Annotated[int | None, typer.Option(help="Number of patients [200].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [0].")] = None,
    image_size: Annotated[int | None, typer.Option(help="Square side in pixels [256].")] = None,
    workers: Annotated[int, typer.Option(help="Rendering processes.")] = 2,
    config: Annotated[Path | None, typer.Option(help="YAML file with PhantomConfig keys.")] = None,
) -> None:
    """Generate synthetic chest X-ray phantoms (normal, bacterial, viral, COVID-19) with masks."""
    from cxr.config import PhantomConfig, build_config
    from cxr.data.phantom import generate_phantoms

    cfg = build_config(PhantomConfig, config, patients=patients, seed=seed, image_size=image_size)
    typer.echo(generate_phantoms(out, cfg, workers=workers))


@app.command("split")
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV to split.")],
    *,
    val: Annotated[float | None, typer.Option(help="Validation fraction of patients [0.15].")] = (
        None
    ),
    test: Annotated[float | None, typer.Option(help="Test fraction of patients [0.15].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [0].")] = None,
    near_duplicate_bits: Annotated[
        int | None, typer.Option(help="Perceptual-hash distance counted as duplicate [4].")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write here instead of overwriting MANIFEST.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file with SplitConfig keys.")] = None,
) -> None:
    """Patient-level, label-stratified train/val/test split; duplicates stay in one split."""
    from rich.console import Console

    from cxr.config import SplitConfig, build_config
    from cxr.data.split import split_file

    cfg = build_config(
        SplitConfig, config, val=val, test=test, seed=seed, near_duplicate_bits=near_duplicate_bits
    )
    dest, report = split_file(manifest, cfg, out)
    console = Console()
    console.print(report.table())
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"[green]{report.leakage.summary()}[/]")
    console.print(f"wrote {dest}")


@app.command("index")
def index(
    roots: Annotated[list[Path], typer.Argument(help="Dataset root folder(s), one dataset each.")],
    *,
    out: Annotated[Path, typer.Option(help="Manifest CSV to write (plus <stem>.skipped.csv).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Layout name for every root (default: detected per root)."),
    ] = None,
    name: Annotated[
        list[str] | None,
        typer.Option(help="Dataset name, once per root in order (default: the folder's name)."),
    ] = None,
    keep_published_split: Annotated[
        bool, typer.Option(help="Keep a layout's published train/test split (may leak patients).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Decoding processes.")] = 2,
) -> None:
    """Index dataset roots (published layouts) into one manifest; bad files are reported."""
    from cxr.data.index import build_index

    build_index(
        roots, out, fmt=fmt, names=name or None, keep_published_split=keep_published_split,
        workers=workers,
    )


@app.command("cache")
def cache(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV whose images to cache.")],
    *,
    image_size: Annotated[int | None, typer.Option(help="Square side in pixels [256].")] = None,
    resize_mode: Annotated[
        str | None, typer.Option(help="pad (keep aspect, pad) or crop (centre crop) [pad].")
    ] = None,
    cache_dir: Annotated[str | None, typer.Option(help="Cache folder [.cxr-cache].")] = None,
    workers: Annotated[int | None, typer.Option(help="Decoding processes [2].")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML file with CacheConfig keys.")] = None,
) -> None:
    """Decode and resize every image once into a memory-mapped uint8 cache (reused, resumable)."""
    from rich.console import Console

    from cxr.config import CacheConfig, build_config
    from cxr.data.cache import cache_manifest, cache_table

    cfg = build_config(
        CacheConfig, config, image_size=image_size, resize_mode=resize_mode,
        cache_dir=cache_dir, workers=workers,
    )
    built = cache_manifest(manifest, cfg)
    Console().print(cache_table(built))
    typer.echo(built.path)
