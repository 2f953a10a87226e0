"""Integration: index the real samples in ../shared/data/real-sample (skipped when absent).

Only facts the sample's README states are asserted (layouts, naming schemes,
image counts, the Hannover patient with 13 images, 640 px width), never
numbers tuned to the particular images.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cxr.data.index.indexer import build_index

_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-sample"
SAMPLE = Path(os.environ.get("CXR_REAL_SAMPLE", _DEFAULT))
KAGGLE, HANNOVER = SAMPLE / "kaggle-chest-xray", SAMPLE / "hannover-covid"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (KAGGLE.is_dir() and HANNOVER.is_dir()), reason=f"real sample not found at {SAMPLE}"
    ),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("real") / "manifest.csv"
    return build_index([KAGGLE, HANNOVER], out, workers=2, progress=False)


def test_formats_detected(indexed) -> None:  # type: ignore[no-untyped-def]
    assert indexed.summary.formats == {
        "kaggle-chest-xray": "kaggle-pneumonia",
        "hannover-covid": "hannover-covid",
    }
    assert len(indexed.skipped_df) == 0


def test_kaggle_labels_and_patient_ids(indexed) -> None:  # type: ignore[no-untyped-def]
    df = indexed.manifest_df[indexed.manifest_df["dataset"] == "kaggle-chest-xray"]
    assert len(df) == 149  # README: 149 images
    assert set(df["label"]) == {"normal", "pneumonia"}
    assert (df["split"] == "").all()  # published split dropped by default
    for path, pid, label, detail in zip(
        df["image_path"], df["patient_id"], df["label"], df["label_detail"], strict=True
    ):
        stem = Path(path).stem
        assert Path(path).parent.name.lower() == label
        person = re.match(r"person(\d+)_(bacteria|virus)_", stem)
        if person:
            assert pid == f"kaggle-chest-xray:person{person.group(1)}"
            assert detail == {"bacteria": "bacterial", "virus": "viral"}[person.group(2)]
        else:
            im = re.search(r"IM-(\d+)-", stem)
            assert im and pid == f"kaggle-chest-xray:IM-{im.group(1)}"
    # README: several images per person occur (person numbers repeat)
    assert df["patient_id"].nunique() < len(df)


def test_hannover_patients_and_offsets(indexed) -> None:  # type: ignore[no-untyped-def]
    df = indexed.manifest_df[indexed.manifest_df["dataset"] == "hannover-covid"]
    assert len(df) == 39 and df["patient_id"].nunique() == 19  # README
    assert (df["label"] == "covid").all()
    assert df["patient_id"].value_counts().iloc[0] == 13  # README: one patient with 13 images
    assert set(df["view"]) <= {"ap", "pa"}
    assert (df["width"] == 640).all()  # README: 640 px wide
    assert df["offset_days"].notna().all()
    longest = df[df["patient_id"] == df["patient_id"].value_counts().index[0]]
    assert longest["offset_days"].is_monotonic_increasing  # rows sorted by offset


def test_keep_published_split_warns(tmp_path: Path) -> None:
    res = build_index(
        [KAGGLE], tmp_path / "m.csv", keep_published_split=True, workers=1, progress=False
    )
    assert set(res.manifest_df["split"]) == {"train", "test"}  # README: train/ and test/
    assert any("leaks patients" in msg for _, msg in res.summary.notices)
