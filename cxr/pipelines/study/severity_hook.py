"""STAGE HOOK: the expert-severity correlation of the lung-field issue, on the study's checkpoint.

`cxr explain severity` was built in parallel. This hook looks for it with importlib
(``cxr.pipelines.explain.run_severity`` or ``cxr.pipelines.explain.severity``, a function
``run_severity``) and, when it is there, calls it on the study's real-only reference
checkpoint and the *test* rows of the split (held-out images; the split carries the expert
scores the index joined: ``severity_extent``, ``severity_opacity``): as
``run_severity(SeverityConfig(...), console=...)`` when ``cxr.config`` has ``SeverityConfig``
(the landed command's API), else ``run_severity(checkpoint=, manifest=, out_dir=)``. When it
is absent, its signature is another, or it refuses the data (e.g. too few scored test
images), the stage is **skipped with the reason**, and the report says so.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

CANDIDATES = ("cxr.pipelines.explain.run_severity", "cxr.pipelines.explain.severity")


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


def _call(fn: Any, split: Path, checkpoint: str, out: Path, seed: int, device: str) -> Any:
    import cxr.config

    cfg_cls = getattr(cxr.config, "SeverityConfig", None)
    if cfg_cls is None:
        return fn(checkpoint=checkpoint, manifest=str(split), out_dir=str(out))
    from rich.console import Console

    wanted = {"checkpoint": checkpoint, "manifest": str(split), "split": "test",
              "out": str(out), "seed": seed, "device": device}
    fields = {k: v for k, v in wanted.items() if k in cfg_cls.__dataclass_fields__}
    return fn(cfg_cls(**fields), console=Console(quiet=True))


def severity_stage(split: Path, checkpoint: str, out: Path, *, seed: int = 0,
                   device: str = "cpu") -> dict[str, Any]:
    """Run the severity correlation, or return ``{"skipped": reason}``."""
    from cxr.data.manifest import load_manifest
    from cxr.runtime.errors import CxrError

    df = load_manifest(split, check_files=False)
    scored = int(df["severity_extent"].notna().sum()) if "severity_extent" in df else 0
    fn, where = find_severity()
    if fn is None:
        return {"skipped": where, "scored_images_in_split": scored}
    if not checkpoint:
        return {"skipped": "no reference checkpoint", "scored_images_in_split": scored}
    try:
        result = _call(fn, split, checkpoint, out, seed, device)
    except TypeError as exc:  # a signature other than the ones assumed above
        return {"skipped": f"{where}.run_severity: unexpected signature ({exc})",
                "scored_images_in_split": scored}
    except (CxrError, ValueError) as exc:  # e.g. too few scored test images at this size
        return {"skipped": f"{where}.run_severity refused: {exc}",
                "scored_images_in_split": scored}
    summary = getattr(result, "summary", result)
    return {"module": where, "result": summary if isinstance(summary, dict) else str(summary),
            "scored_images_in_split": scored}
