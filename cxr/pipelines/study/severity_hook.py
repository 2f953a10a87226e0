"""STAGE HOOK: the expert-severity correlation of the lung-field issue, on the study's checkpoint.

`cxr explain severity` is being built in parallel. This hook looks for it with importlib
(``cxr.pipelines.explain.severity`` or ``cxr.pipelines.explain.run_severity``, a function
``run_severity``) and, when it is there, calls it on the study's real-only reference
checkpoint and split (the split carries the expert scores the index joined:
``severity_extent``, ``severity_opacity``). When it is absent, or its signature is not the one
assumed here, the stage is **skipped with the reason**, and the report says so; it lights up
after that branch is merged, with no change here unless the signature differs.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

CANDIDATES = ("cxr.pipelines.explain.severity", "cxr.pipelines.explain.run_severity")


def find_severity() -> tuple[Any, str]:
    """``(run_severity function, module name)`` or ``(None, why not)``."""
    for name in CANDIDATES:
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        fn = getattr(importlib.import_module(name), "run_severity", None)
        if callable(fn):
            return fn, name
        return None, f"{name} has no run_severity function"
    return None, ("cxr explain severity is not in this checkout (looked for "
                  f"{', '.join(CANDIDATES)})")


def severity_stage(split: Path, checkpoint: str, out: Path) -> dict[str, Any]:
    """Run the severity correlation, or return ``{"skipped": reason}``."""
    from cxr.data.manifest import load_manifest

    df = load_manifest(split, check_files=False)
    scored = int(df["severity_extent"].notna().sum()) if "severity_extent" in df else 0
    fn, where = find_severity()
    if fn is None:
        return {"skipped": where, "scored_images_in_split": scored}
    if not checkpoint:
        return {"skipped": "no reference checkpoint", "scored_images_in_split": scored}
    try:
        result = fn(checkpoint=checkpoint, manifest=str(split), out_dir=str(out))
    except TypeError as exc:  # a signature other than the one assumed above
        return {"skipped": f"{where}.run_severity: unexpected signature ({exc})",
                "scored_images_in_split": scored}
    summary = getattr(result, "summary", result)
    return {"module": where, "result": summary if isinstance(summary, dict) else str(summary),
            "scored_images_in_split": scored}
