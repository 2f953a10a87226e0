"""Classification tasks: which manifest labels become which class index.

``binary``: COVID-19 against the rest, ``classes = ("rest", "covid")``, where
rest = normal + pneumonia (bacterial and viral). ``3class``: ``("covid",
"pneumonia", "normal")``, the usual COVIDx-style setting (Wang et al.,
"COVID-Net", Scientific Reports 2020). In both, rows labelled ``other``
(findings outside these classes, e.g. lung opacity) are left out of training
and evaluation and **counted**, so a reader sees how many images a task ignores.
The positive class for sensitivity / thresholds is always ``covid``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cxr.runtime.errors import ConfigError

POSITIVE = "covid"
TASKS: dict[str, dict[str, str]] = {
    # manifest label -> class name (labels not listed are left out)
    "binary": {"normal": "rest", "pneumonia": "rest", "covid": "covid"},
    "3class": {"covid": "covid", "pneumonia": "pneumonia", "normal": "normal"},
}
CLASSES: dict[str, tuple[str, ...]] = {
    "binary": ("rest", "covid"),
    "3class": ("covid", "pneumonia", "normal"),
}


def task_classes(task: str) -> tuple[str, ...]:
    if task not in TASKS:
        raise ConfigError(f"unknown task '{task}' (valid: {', '.join(TASKS)})")
    return CLASSES[task]


def task_targets(labels: Sequence[str] | np.ndarray, task: str) -> np.ndarray:
    """Class index per manifest label; ``-1`` for labels the task leaves out."""
    classes = task_classes(task)
    mapping = {lab: classes.index(name) for lab, name in TASKS[task].items()}
    return np.array([mapping.get(str(lab), -1) for lab in labels], dtype=np.int64)
