"""Shared test setup: headless plotting, deterministic and small CPU work."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests run on CPU even where a GPU exists
os.environ.setdefault("PYTHONHASHSEED", "0")
# Test workloads are tiny: one intra-op thread avoids spin-waiting worker threads, which
# cost more than they give on a 2-core machine (measured: 8 s vs 147 s for the explain tests).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_configure(config: object) -> None:
    """The same for torch itself, even when the caller's environment set OMP_NUM_THREADS:
    one place instead of a thread-pinning fixture in every torch test file."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(1)
