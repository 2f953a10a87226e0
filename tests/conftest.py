"""Shared test setup: headless plotting, deterministic and small CPU work."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests run on CPU even where a GPU exists
os.environ.setdefault("PYTHONHASHSEED", "0")
