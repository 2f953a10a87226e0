"""The steps of ``cxr data``: split a manifest and cache its images, printing what each did."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cxr.config import CacheConfig, SplitConfig
from cxr.data.images.cache import ImageCache, cache_manifest
from cxr.data.split import SplitReport, split_file
from cxr.pipelines.data.data_tables import cache_table, split_table


def split_and_report(
    manifest: str | Path, cfg: SplitConfig, out: str | Path | None = None,
    *, console: Console | None = None,
) -> tuple[Path, SplitReport]:
    """Split ``manifest`` patient-level; print the split table, its warnings and leakage check."""
    console = console or Console()
    dest, report = split_file(manifest, cfg, out)
    console.print(split_table(report))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"[green]{report.leakage.summary()}[/]")
    if report.conflicts_path is not None:
        console.print(f"label conflicts ({report.on_conflict}): {report.conflicts_path}")
    console.print(f"wrote {dest}")
    return Path(dest), report


def cache_and_report(
    manifest: str | Path, cfg: CacheConfig, *, console: Console | None = None,
) -> ImageCache:
    """Build (or reuse) the image cache of ``manifest`` and print its summary."""
    built = cache_manifest(manifest, cfg)
    (console or Console()).print(cache_table(built))
    return built
