from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cxr.data.manifest import COLUMNS, load_manifest, manifest_key, new_manifest, save_manifest
from cxr.runtime.errors import ManifestError


def _rows(tmp_path: Path, n: int = 3) -> list[dict]:
    rows = []
    for i in range(n):
        p = tmp_path / "img" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x")
        rows.append(
            {"image_path": str(p), "patient_id": f"d:{i}", "label": "covid", "dataset": "d"}
        )
    return rows


def test_roundtrip_relative_paths_and_columns(tmp_path: Path) -> None:
    df = new_manifest(_rows(tmp_path))
    out = save_manifest(df, tmp_path / "manifest.csv")
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert tuple(raw.columns[: len(COLUMNS)]) == COLUMNS
    assert raw["image_path"].iloc[0] == "img/0.png"  # portable
    back = load_manifest(out)
    assert Path(back["image_path"].iloc[0]).is_absolute()
    assert back["origin"].iloc[0] == "real" and back["split"].iloc[0] == ""
    # byte-identical on re-save
    save_manifest(back, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.drop(columns=["label"]), "missing column"),
        (lambda d: d.assign(label=["covid", "flu", "normal"]), r"row 3 .*unknown label"),
        (lambda d: d.assign(origin=["real", "real", "fake"]), r"row 4 .*unknown origin"),
        (lambda d: d.assign(split=["train", "holdout", "test"]), r"row 3 .*unknown split"),
        (lambda d: d.assign(patient_id=["a", "", "c"]), r"row 3 .*empty patient_id"),
    ],
)
def test_validation_names_column_or_row(tmp_path: Path, edit, message: str) -> None:
    df = new_manifest(_rows(tmp_path))
    raw = df.copy()
    raw["label"] = ["covid", "normal", "normal"]
    path = tmp_path / "m.csv"
    edit(raw).to_csv(path, index=False)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_duplicate_and_missing_files(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    df = new_manifest(rows + [rows[0]])
    df.to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ManifestError, match="duplicate image_path"):
        load_manifest(tmp_path / "dup.csv")
    Path(rows[1]["image_path"]).unlink()
    new_manifest(rows).to_csv(tmp_path / "gone.csv", index=False)
    with pytest.raises(ManifestError, match=r"row 3 .*file not found"):
        load_manifest(tmp_path / "gone.csv")
    assert len(load_manifest(tmp_path / "gone.csv", check_files=False)) == 3


def test_malformed_numbers_and_missing_manifest(tmp_path: Path) -> None:
    df = new_manifest(_rows(tmp_path))
    df["width"] = df["width"].astype(str)
    df.loc[1, "width"] = "wide"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ManifestError, match=r"row 3: column width"):
        load_manifest(tmp_path / "bad.csv")
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "nope.csv")


def test_manifest_key_changes_with_content(tmp_path: Path) -> None:
    df = new_manifest(_rows(tmp_path))
    k = manifest_key(df, 64)
    assert k == manifest_key(df.copy(), 64)
    assert k != manifest_key(df, 128)
    changed = df.copy()
    changed.loc[0, "content_hash"] = "abc"
    assert k != manifest_key(changed, 64)


def test_new_manifest_fills_defaults_per_row(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[0]["origin"] = "gan"  # only one row names its origin
    df = new_manifest(rows)
    assert list(df["origin"]) == ["gan", "real", "real"]
    assert list(df["width"]) == [0, 0, 0]
