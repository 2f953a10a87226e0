"""The settings every command shares, declared once: seed, workers, device, cache, logger.

Each function returns a :func:`~cxr.config.schema.setting` field, so a command's dataclass
writes ``seed: int = seed_setting()`` and the help text is the same everywhere; a command
that needs another default or says what the value drives passes it
(``workers_setting(0)``, ``seed_setting(purpose="probe training, holdouts, bootstrap")``).
"""

from __future__ import annotations

from typing import Any

from cxr.config.schema import setting

CACHE_DIR = ".cxr-cache"


def seed_setting(default: int = 0, *, purpose: str = "") -> Any:
    """``--seed``: every random component of the command takes it."""
    return setting(default, f"Random seed ({purpose})." if purpose else "Random seed.")


def workers_setting(default: int = 2, *, what: str = "DataLoader workers", **kw: Any) -> Any:
    """``--workers``: processes that feed the command (DataLoader workers, decoders)."""
    return setting(default, f"{what} (0 = the main process).", **kw)


def device_setting() -> Any:
    """``--device`` of the commands that run a finished model (no Lightning trainer)."""
    return setting("auto", "auto, cpu, cuda or cuda:N.")


def cache_dir_setting() -> Any:
    """``--cache-dir``: the content-addressed uint8 image store (cxr.data.images.cache)."""
    return setting(CACHE_DIR, "Image cache folder.", metavar="PATH")


def bootstrap_setting(default: int = 1000, *, what: str = "the confidence intervals") -> Any:
    """``--bootstrap``: patient-level bootstrap resamples (cxr.stats.bootstrap)."""
    return setting(default, f"Patient-bootstrap resamples for {what}.")


def logger_setting() -> Any:
    """``--logger``: run tracking beside the CSV log (cxr.runtime.tracking)."""
    return setting(
        "tensorboard",
        "Run tracking beside the CSV log: csv, tensorboard or mlflow (a sweep records every "
        "finished cell as an MLflow run).",
    )


def mlflow_uri_setting() -> Any:
    """``--mlflow-uri``: where ``--logger mlflow`` writes."""
    return setting("", "MLflow tracking URI; empty = the file store OUT/mlruns.", metavar="URI")


def views_setting() -> Any:
    """``--views``: which radiographic views a command uses (cxr.data.views)."""
    return setting(
        "frontal",
        "frontal (pa, ap, ap-supine and unrecorded views; lateral rows are left out and "
        "counted) or all.",
    )
