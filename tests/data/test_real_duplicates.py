"""Integration: copies across the real collections in ../shared/data (skipped when absent).

The Hannover README states that the 39 images of real-sample/hannover-covid are
among the 243 of hannover-covid-full at a different size (exact hashes differ,
the pictures are the same). Indexed together with the Kaggle sample, those 39
must fall into 39 duplicate groups of one image from each Hannover folder, and
no split may separate two copies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cxr.config import SplitConfig
from cxr.data.index.indexer import build_index
from cxr.data.manifest import load_manifest
from cxr.data.split import split_file

_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data"
DATA = Path(os.environ.get("CXR_SHARED_DATA", _DEFAULT))
ROOTS = [DATA / "real-sample" / "kaggle-chest-xray", DATA / "real-sample" / "hannover-covid",
         DATA / "hannover-covid-full"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not all(r.is_dir() for r in ROOTS), reason=f"shared data not at {DATA}"),
]


def test_hannover_copies_grouped_and_never_split(tmp_path: Path) -> None:
    man = tmp_path / "all.csv"
    build_index(ROOTS, man, names=["kaggle", "mhh-sample", "mhh-full"], workers=2,
                progress=False)
    for seed in (0, 1):
        dest, rep = split_file(man, SplitConfig(seed=seed), tmp_path / f"s{seed}.csv",
                               progress=False)
        df = load_manifest(dest)
        sample = df[df["dataset"] == "mhh-sample"]
        assert len(sample) == 39
        groups = df[df["duplicate_group"] != ""].groupby("duplicate_group")
        hannover = [g for _, g in groups if set(g["dataset"]) == {"mhh-sample", "mhh-full"}]
        assert len(hannover) == 39
        for g in hannover:
            assert len(g) == 2 and g["image_path"].map(lambda p: Path(p).name).nunique() == 1
        assert (sample["duplicate_group"] != "").all()
        for _, g in groups:  # no two copies in different splits
            assert g["split"].nunique() == 1, g[["image_path", "split"]]
        assert "leakage check passed" in rep.leakage.summary()
