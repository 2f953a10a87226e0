"""`cxr data ...`: phantoms, indexing public layouts, patient-level splits, the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import CacheConfig, PhantomConfig, SplitConfig

app = CxrTyper(
    help="Build and check datasets: phantom, index, split, cache.", no_args_is_help=True
)


@app.command("phantom")
def phantom(
    *,
    out: Annotated[
        Path, command_option(help="Dataset folder to write (covid-chestxray layout).")
    ],
    patients: Annotated[int | None, option(PhantomConfig, "patients")] = None,
    seed: Annotated[int | None, option(PhantomConfig, "seed")] = None,
    image_size: Annotated[int | None, option(PhantomConfig, "image_size")] = None,
    workers: Annotated[int, command_option(help="Rendering processes.")] = 2,
    config: Annotated[
        Path | None, command_option(help="YAML file with PhantomConfig keys.")
    ] = None,
) -> None:
    """Generate synthetic chest X-ray phantoms (normal, bacterial, viral, COVID-19) with masks."""
    from cxr.config import build_config
    from cxr.phantom import generate_phantoms

    cfg = build_config(PhantomConfig, config, **overrides(phantom, locals(), PhantomConfig))
    from cxr.runtime.runguard import output_lock

    with output_lock(out):
        typer.echo(generate_phantoms(out, cfg, workers=workers))


@app.command("split")
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV to split.")],
    *,
    val: Annotated[float | None, option(SplitConfig, "val")] = None,
    test: Annotated[float | None, option(SplitConfig, "test")] = None,
    seed: Annotated[int | None, option(SplitConfig, "seed")] = None,
    near_duplicate_bits: Annotated[int | None, option(SplitConfig, "near_duplicate_bits")] = None,
    duplicate_min_corr: Annotated[
        float | None, option(SplitConfig, "duplicate_min_corr")
    ] = None,
    on_conflict: Annotated[str | None, option(SplitConfig, "on_conflict")] = None,
    out: Annotated[
        Path | None, command_option(help="Write here instead of overwriting MANIFEST.")
    ] = None,
    config: Annotated[
        Path | None, command_option(help="YAML file with SplitConfig keys.")
    ] = None,
) -> None:
    """Patient-level, label-stratified train/val/test split; duplicates stay in one split."""
    from cxr.config import build_config
    from cxr.pipelines.data.data_steps import split_and_report

    cfg = build_config(SplitConfig, config, **overrides(split, locals(), SplitConfig))
    split_and_report(manifest, cfg, out)


@app.command("index")
def index(
    roots: Annotated[list[Path], typer.Argument(help="Dataset root folder(s), one dataset each.")],
    *,
    out: Annotated[
        Path, command_option(help="Manifest CSV to write (plus <stem>.skipped.csv).")
    ],
    fmt: Annotated[
        str | None,
        command_option(
            "--format", help="Layout name for every root.", shown_default="detected per root"
        ),
    ] = None,
    name: Annotated[
        list[str] | None,
        command_option(
            help="Dataset name, once per root in order.", shown_default="the folder's name"
        ),
    ] = None,
    keep_published_split: Annotated[
        bool,
        command_option(
            "--keep-published-split",
            help="Keep a layout's published train/test split (may leak patients).",
        ),
    ] = False,
    workers: Annotated[int, command_option(help="Decoding processes.")] = 2,
    class_map: Annotated[
        list[str] | None,
        command_option(help="Map a class folder: 'FOLDER=label[:detail]' (repeatable); names "
                            "match case- and punctuation-insensitively.", shown_default="none"),
    ] = None,
    patient_regex: Annotated[
        str | None,
        command_option(help="Patient id from each file name (re.search): its 'patient' group, "
                            "else its first group.", shown_default="the layout's ids"),
    ] = None,
    min_side: Annotated[
        int, command_option(help="Skip images whose shorter side is below this many pixels.")
    ] = 64,
    max_pixels: Annotated[
        int, command_option(help="Pixel budget per image, read from its header (JPEGs are "
                                 "decoded smaller, others skipped); 0 = no limit.")
    ] = 50_000_000,
) -> None:
    """Index dataset roots (published layouts) into one manifest; bad files are reported."""
    from cxr.data.index.adapters.folder_per_class import parse_class_map
    from cxr.data.index.indexer import ProbeLimits, build_index
    from cxr.runtime.errors import ConfigError

    if min_side < 1 or max_pixels < 0:
        raise ConfigError(
            f"--min-side must be >= 1 and --max-pixels >= 0 (got {min_side}, {max_pixels})"
        )
    build_index(
        roots, out, fmt=fmt, names=name or None, keep_published_split=keep_published_split,
        workers=workers, limits=ProbeLimits(min_side=min_side, max_pixels=max_pixels),
        class_map=parse_class_map(class_map or []), patient_regex=patient_regex,
    )


@app.command("cache")
def cache(
    manifest: Annotated[Path, typer.Argument(help="Manifest CSV whose images to cache.")],
    *,
    image_size: Annotated[int | None, option(CacheConfig, "image_size")] = None,
    resize_mode: Annotated[str | None, option(CacheConfig, "resize_mode")] = None,
    cache_dir: Annotated[str | None, option(CacheConfig, "cache_dir")] = None,
    workers: Annotated[int | None, option(CacheConfig, "workers")] = None,
    config: Annotated[
        Path | None, command_option(help="YAML file with CacheConfig keys.")
    ] = None,
) -> None:
    """Decode and resize every image once into a memory-mapped uint8 cache (reused, resumable)."""
    from cxr.config import build_config
    from cxr.pipelines.data.data_steps import cache_and_report

    cfg = build_config(CacheConfig, config, **overrides(cache, locals(), CacheConfig))
    from cxr.runtime.runguard import output_lock

    with output_lock(cfg.cache_dir, what="--cache-dir"):
        built = cache_and_report(manifest, cfg)
    typer.echo(built.path)
