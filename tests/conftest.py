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


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _every_classify_run_has_its_model_card(tmp_path_factory):
    """After the session: every finished classify run that a test left under the session's
    temporary folder carries a model card equal to its metrics.json (issue 27)."""
    yield
    from support.model_card_check import assert_model_card_matches, finished_runs

    for run in finished_runs(tmp_path_factory.getbasetemp()):
        if json_ok(run / "metrics.json"):
            assert_model_card_matches(run)


def json_ok(path):
    """metrics.json that parses (fault tests truncate some on purpose)."""
    import json

    try:
        return isinstance(json.loads(path.read_text()), dict)
    except (OSError, ValueError):
        return False
