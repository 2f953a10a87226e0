"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_classify_run(tmp_path_factory) -> Path:
    """One real, tiny `cxr classify` run on phantoms (binary, squeezenet, 48 px, 1 epoch),
    shared by the model-card and serve tests."""
    from support.classify_fixtures import make_split_manifest

    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import run_classify

    root = tmp_path_factory.mktemp("tiny_run")
    manifest = make_split_manifest(root, patients=24, size=48)
    cfg = ClassifyConfig(manifest=str(manifest), backbone="squeezenet1_1", image_size=48,
                         epochs=1, batch_size=8, workers=0, bootstrap=20, lr=1e-3,
                         cache_dir=str(root / "cache"), logger="csv")
    run_classify(cfg, root / "run", progress=False)
    return root / "run"
