"""STAGE HOOK: the expert-severity correlation of the lung-field issue, on the study's checkpoint.

`cxr explain severity` was built in parallel. This hook looks for it with importlib
(``cxr.pipelines.explain.run_severity`` or ``cxr.pipelines.explain.severity``, a function
``run_severity``) and, when it is there, calls it on the study's real-only reference
checkpoint and held-out rows: the split's *test* rows plus, when the study's index is given,
the scored images of patients the study's caps left out (copies of training images dropped;
:func:`held_out_scored`); the rows carry the expert scores the index joined
(``severity_extent``, ``severity_opacity``): as
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


def _scored(df: Any) -> Any:
    cols = [c for c in ("severity_extent", "severity_opacity") if c in df.columns]
    return df[df[cols].notna().any(axis=1)] if cols else df.iloc[:0]


def held_out_scored(split: Path, index: Path | None, out: Path,
                    views: str = "frontal") -> tuple[Path, dict[str, int]]:
    """The severity stage's rows: the split's test rows, plus the scored frontal images of
    patients the study never used (left out by its patient caps) from ``index``, so that the
    correlation rests on every expert score no classifier saw rather than on the few that
    fell into the test split. Written to ``out/severity-manifest.csv`` (``split=test``);
    returns it with the counts of scored images from each source."""
    import pandas as pd

    from cxr.data.manifest import load_manifest, save_manifest
    from cxr.data.views import select_views

    df = load_manifest(split, check_files=False)
    test = df[df["split"].astype(str) == "test"]
    counts = {"test_split": len(_scored(test)), "left_out_patients": 0}
    parts = [test]
    if index is not None and Path(index).is_file():
        idx = load_manifest(index, check_files=False)
        extra = _scored(idx[~idx["patient_id"].astype(str).isin(set(df["patient_id"].astype(str)))])
        extra, _ = select_views(extra, views)  # the views rule every stage applies
        # a left-out patient's radiograph may be a copy of a training image (another id):
        # the split's copy rule (exact or confirmed near copy) drops it, counted
        if len(extra):
            from cxr.data.leakage.crossleak import duplicate_pairs

            dev = df[df["split"].astype(str).isin(["train", "val"])].reset_index(drop=True)
            dup = sorted({j for _, j in duplicate_pairs(dev, extra)})
            counts["left_out_copies_dropped"] = len(dup)
            extra = extra.drop(index=dup)
        extra = extra.assign(split="test")
        counts["left_out_patients"] = len(extra)
        parts.append(extra)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "severity-manifest.csv"
    save_manifest(pd.concat(parts, ignore_index=True), path)
    return path, counts


def severity_stage(split: Path, checkpoint: str, out: Path, *, seed: int = 0,
                   device: str = "cpu", index: Path | None = None,
                   views: str = "frontal") -> dict[str, Any]:
    """Run the severity correlation, or return ``{"skipped": reason}``.

    With ``index``, the rows are :func:`held_out_scored` (test rows plus the scored images of
    patients the study left out); otherwise the split's test rows."""
    from cxr.data.manifest import load_manifest
    from cxr.runtime.errors import CxrError

    df = load_manifest(split, check_files=False)
    scored = int(df["severity_extent"].notna().sum()) if "severity_extent" in df else 0
    held: dict[str, int] = {}
    if index is not None:
        split, held = held_out_scored(split, index, out, views)
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
            "scored_images_in_split": scored, "held_out_scored": held}
