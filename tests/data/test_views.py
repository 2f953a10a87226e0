"""View normalisation and the frontal/all policy every training stage applies (cxr.data.views)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.fakelayouts import make_dicom, tiny_image, write_csv

from cxr.data.images.imageio import dicom_view_position
from cxr.data.index.indexer import index_roots
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.data.views import normalise_view, select_views, view_keep, views_left_out
from cxr.runtime.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "view"),
    [
        ("PA", "pa"), ("pa", "pa"), (" AP ", "ap"), ("AP Supine", "ap-supine"),
        ("AP SUPINE", "ap-supine"), ("ap-supine", "ap-supine"), ("AP semi erect", "ap"),
        ("APS", "ap-supine"), ("L", "lateral"), ("LL", "lateral"), ("RL", "lateral"),
        ("Lateral", "lateral"), ("LATERAL", "lateral"), ("", ""), (None, ""), ("nan", ""),
        ("Axial", "unknown"), ("Coronal", "unknown"), ("unknown", "unknown"), ("LAO", "unknown"),
    ],
)
def test_normalise_view(raw: object, view: str) -> None:
    assert normalise_view(raw) == view
    assert normalise_view(view) == view  # idempotent: a saved manifest reads the same


def _rows(views: list[str]) -> pd.DataFrame:
    return new_manifest(
        {"image_path": f"/x/{i}.png", "patient_id": f"d:{i}", "label": "covid", "dataset": "d",
         "view": v} for i, v in enumerate(views)
    )


def test_frontal_policy_leaves_out_laterals_and_counts_them() -> None:
    df = _rows(["PA", "L", "AP Supine", "", "LL", "Axial"])
    assert df["view"].tolist() == ["pa", "lateral", "ap-supine", "", "lateral", "unknown"]
    assert view_keep(df, "frontal").tolist() == [True, False, True, True, False, True]
    assert view_keep(df, "all").all()
    assert views_left_out(df, "frontal") == {"lateral view": 2}
    assert views_left_out(df, "all") == {}
    kept, out = select_views(df, "frontal")
    assert len(kept) == 4 and "lateral" not in set(kept["view"]) and out == {"lateral view": 2}
    with pytest.raises(ConfigError, match="--views 'lat'"):
        view_keep(df, "lat")
    assert view_keep(df.drop(columns="view"), "frontal").all()  # no view column: keep all


def test_older_manifest_with_upper_case_views_reads_normalised(tmp_path: Path) -> None:
    img = tiny_image(tmp_path / "a.png")
    old = tmp_path / "old.csv"
    write_csv(old, ["image_path", "patient_id", "label", "label_detail", "view", "offset_days",
                    "dataset", "origin", "split", "width", "height", "content_hash"],
              [[img.name, "d:1", "covid", "", "AP SUPINE", "", "d", "real", "", 64, 64, ""],
               ["b.png", "d:2", "covid", "", "LL", "", "d", "real", "", 64, 64, ""]])
    df = load_manifest(old, check_files=False)
    assert df["view"].tolist() == ["ap-supine", "lateral"]
    save_manifest(df, tmp_path / "new.csv")
    assert load_manifest(tmp_path / "new.csv", check_files=False)["view"].tolist() == [
        "ap-supine", "lateral"]


def test_dicom_view_position_fills_an_empty_view(tmp_path: Path) -> None:
    import pydicom

    from cxr.data.index.adapters import get_adapter

    root = tmp_path / "cls"
    (root / "COVID").mkdir(parents=True)
    path = make_dicom(root / "COVID" / "a.dcm", (np.arange(64 * 64).reshape(64, 64) % 4000)
                      .astype(np.uint16))
    ds = pydicom.dcmread(path)
    ds.ViewPosition = "LL"
    ds.save_as(path)
    tiny_image(root / "COVID" / "b.png", seed=2)
    assert dicom_view_position(path.read_bytes()) == "LL"
    assert dicom_view_position((root / "COVID" / "b.png").read_bytes()) == ""
    assert get_adapter("folder-per-class").detect(root)
    df = index_roots([root], workers=1, progress=False).manifest_df.set_index("image_path")
    assert df.loc[str(path), "view"] == "lateral"
    assert df.loc[str(root / "COVID" / "b.png"), "view"] == ""
