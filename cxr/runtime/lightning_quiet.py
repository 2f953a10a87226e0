"""Keep Lightning's console chatter out of cxr's own progress bars and summary tables.

Lightning prints, for every Trainer, hardware lines ("GPU available: ..."), an
advertisement for a cloud logger and a deprecation notice from its own internals.
In a sweep of dozens of cells these bury the information a person is looking for;
cxr reports the device in its own summaries instead. Warnings about the user's
setup (e.g. too few DataLoader workers) are kept.
"""

from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    """Raise Lightning's info loggers to WARNING and drop its internal deprecation notice."""
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
