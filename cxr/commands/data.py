"""`cxr data ...`: phantoms, indexing public layouts, patient-level splits, the cache."""

from __future__ import annotations

import typer

app = typer.Typer(help="Build and check datasets: phantom, index, split, cache.", no_args_is_help=True)
