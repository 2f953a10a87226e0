"""cxr.data.index.indexer and `cxr data index`: merge roots, decode once, report bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from unittest import mock

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from support.fakelayouts import (
    make_coronahack,
    make_covid_chestxray,
    make_dicom,
    make_hannover,
    make_kaggle,
    make_radiography,
    tiny_image,
)
from typer.testing import CliRunner

from cxr.cli import app
from cxr.data.images.imageio import read_image_u8
from cxr.data.index.adapters import LayoutError
from cxr.data.index.indexer import ProbeLimits, build_index, index_roots, skipped_report_path
from cxr.data.manifest import load_manifest
from cxr.runtime.files import sha256_file


@pytest.fixture
def five_roots(tmp_path: Path) -> list[Path]:
    return [
        make_radiography(tmp_path / "radiography"),
        make_kaggle(tmp_path / "kaggle"),
        make_covid_chestxray(tmp_path / "ccx"),
        make_hannover(tmp_path / "hannover"),
        make_coronahack(tmp_path / "coronahack"),
    ]


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A class folder holding good and bad files of every kind."""
    covid = tmp_path / "messy" / "COVID"
    good = tiny_image(tmp_path / "full.png", seed=1, size=48)
    data = good.read_bytes()
    (covid).mkdir(parents=True)
    (covid / "truncated.png").write_bytes(data[: len(data) // 2])
    (covid / "empty.png").write_bytes(b"")
    (covid / "notes.png").write_text("this is not an image\n")
    deep = np.tile(np.linspace(30000, 40000, 30).astype(np.uint16), (20, 1))
    Image.fromarray(deep).save(covid / "deep16.png")
    rgba = np.zeros((24, 16, 4), dtype=np.uint8)
    rgba[..., :3], rgba[..., 3] = 255, 128
    rgba[:, :8, 1] = 0
    Image.fromarray(rgba, "RGBA").save(covid / "alpha.png")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, (40, 36)).astype(np.uint16)
    make_dicom(covid / "mono1.dcm", pixels, photometric="MONOCHROME1")
    inverted = np.rint(255 * (1 - pixels / 4095.0)).astype(np.uint8)
    Image.fromarray(inverted, "L").save(covid / "mono1_as_png.png")
    return tmp_path / "messy"


def test_merge_five_layouts(five_roots: list[Path]) -> None:
    res = index_roots(five_roots, workers=1, progress=False)
    df = res.manifest_df
    assert set(df["dataset"]) == {"radiography", "kaggle", "ccx", "hannover", "coronahack"}
    assert res.summary.formats == {
        "radiography": "folder-per-class", "kaggle": "kaggle-pneumonia", "ccx": "covid-chestxray",
        "hannover": "hannover-covid", "coronahack": "coronahack",
    }
    assert (df["patient_id"].str.split(":").str[0] == df["dataset"]).all()
    assert len(df) == 6 + 8 + 7 + 5 + 6
    assert (df["width"] == 64).all() and (df["height"] == 64).all()
    assert df["content_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert df["phash"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert (df["origin"] == "real").all() and (df["split"] == "").all()
    # deterministic order: dataset, patient, offset, path
    key = df[["dataset", "patient_id", "offset_days", "image_path"]]
    assert key.equals(key.sort_values(list(key.columns), na_position="last").reset_index(drop=True))
    row = df.set_index(df["image_path"].map(lambda p: Path(p).name))
    assert row.loc["a.png", "view"] == "pa" and row.loc["b.png", "view"] == "ap-supine"
    assert row.loc["a.png", "patient_id"] == "ccx:1" and row.loc["b.png", "offset_days"] == 4
    assert row.loc["a.png", "lung_mask_path"].endswith("ccx/masks/lung/a.png")
    assert row.loc["a.png", "lesion_mask_path"].endswith("ccx/masks/lesion/a.png")
    assert row.loc["c.png", "lung_mask_path"] == ""
    assert row.loc["COVID-1.png", "lung_mask_path"].endswith("radiography/COVID/masks/COVID-1.png")
    hann = df[df["patient_id"] == "hannover:p1"]
    assert hann["offset_days"].tolist() == [0.0, 3.0, 7.0]
    assert hann["view"].tolist() == ["pa", "ap", "ap"]
    assert row.loc["person7_virus_30.jpeg", "patient_id"] == "kaggle:person7"
    assert res.summary.images[("kaggle", "pneumonia")] == 3
    assert res.summary.patients[("kaggle", "pneumonia")] == 2
    assert res.summary.skipped == {
        "modality CT": 1, "empty or unknown finding": 2, "not listed in metadata.csv": 1,
        "listed but not found": 1,
    }
    assert any(ds == "radiography" and "impossible" in m for ds, m in res.summary.notices)


def test_bad_files_reported_good_files_decoded(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "manifest.csv"
    res = build_index([messy], out, workers=1, progress=False, limits=ProbeLimits(min_side=1))
    skipped = pd.read_csv(skipped_report_path(out), dtype=str, keep_default_na=False)
    reasons = {Path(p).name: r for p, r in zip(skipped["path"], skipped["reason"], strict=True)}
    assert reasons == {
        "truncated.png": "truncated image",
        "empty.png": "empty file",
        "notes.png": "not an image (text file)",
    }
    df = load_manifest(out)
    by_name = df.set_index(df["image_path"].map(lambda p: Path(p).name))
    assert set(by_name.index) == {"deep16.png", "alpha.png", "mono1.dcm", "mono1_as_png.png"}
    assert tuple(by_name.loc["deep16.png", ["width", "height"]]) == (30, 20)
    assert tuple(by_name.loc["mono1.dcm", ["width", "height"]]) == (36, 40)
    # the MONOCHROME1 DICOM decodes to exactly its inverted PNG twin
    assert by_name.loc["mono1.dcm", "phash"] == by_name.loc["mono1_as_png.png", "phash"]
    for name in by_name.index:
        path = by_name.loc[name, "image_path"]
        assert by_name.loc[name, "content_hash"] == sha256_file(path)
        expected = imagehash.phash(Image.fromarray(read_image_u8(path)))
        assert by_name.loc[name, "phash"] == str(expected)
    assert res.summary.skipped == {
        "truncated image": 1, "empty file": 1, "not an image (text file)": 1,
    }


def test_process_pool_matches_inline(five_roots: list[Path]) -> None:
    one = index_roots(five_roots[:2], workers=1, progress=False).manifest_df
    two = index_roots(five_roots[:2], workers=2, progress=False).manifest_df
    pd.testing.assert_frame_equal(one, two)


def test_rerun_reuses_hashes_and_is_byte_identical(five_roots: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    first = build_index(five_roots[2:4], out, workers=1, progress=False)
    text = out.read_text()
    assert first.summary.reused == 0
    again = build_index(five_roots[2:4], out, workers=1, progress=False)
    assert again.summary.reused == len(again.manifest_df) and out.read_text() == text
    tiny_image(five_roots[2] / "images" / "a.png", seed=123)  # content changes
    third = build_index(five_roots[2:4], out, workers=1, progress=False)
    assert third.summary.reused == len(third.manifest_df) - 1
    assert out.read_text() != text


def test_names_and_errors(five_roots: list[Path], tmp_path: Path) -> None:
    res = index_roots(five_roots[3:4], names=["mhh"], workers=1, progress=False)
    assert set(res.manifest_df["patient_id"].str.split(":").str[0]) == {"mhh"}
    with pytest.raises(LayoutError, match="--name given 2 time"):
        index_roots(five_roots[3:4], names=["a", "b"], progress=False)
    twin = make_hannover(tmp_path / "x" / "hannover")
    with pytest.raises(LayoutError, match="unique"):
        index_roots([five_roots[3], twin], progress=False)
    with pytest.raises(LayoutError, match="valid: coronahack"):
        index_roots(five_roots[3:4], "nope", progress=False)
    with pytest.raises(LayoutError, match="not found"):
        index_roots([tmp_path / "missing"], progress=False)


def test_forced_format_and_same_root_twice(five_roots: list[Path]) -> None:
    res = index_roots(five_roots[3:4], "hannover-covid", workers=1, progress=False)
    assert len(res.manifest_df) == 5
    res = index_roots([five_roots[3], five_roots[3]], names=["a", "b"], workers=1, progress=False)
    assert set(res.manifest_df["dataset"]) == {"a"}
    assert (res.skipped_df["reason"] == "already indexed in dataset a").sum() == 5


def test_cli_passes_options(tmp_path: Path) -> None:
    with mock.patch("cxr.data.index.indexer.build_index") as build:
        result = CliRunner().invoke(
            app,
            ["data", "index", str(tmp_path / "r1"), str(tmp_path / "r2"), "--out", "m.csv",
             "--format", "hannover-covid", "--name", "a", "--name", "b",
             "--keep-published-split", "--workers", "3", "--class-map", "Opacity=other:opacity",
             "--patient-regex", r"^(\d+)_", "--min-side", "32", "--max-pixels", "1000"],
        )
    assert result.exit_code == 0, result.output
    args, kwargs = build.call_args
    assert args == ([tmp_path / "r1", tmp_path / "r2"], Path("m.csv"))
    assert kwargs == {"fmt": "hannover-covid", "names": ["a", "b"],
                      "keep_published_split": True, "workers": 3,
                      "limits": ProbeLimits(min_side=32, max_pixels=1000),
                      "class_map": {"opacity": ("other", "opacity")},
                      "patient_regex": r"^(\d+)_"}
    bad = CliRunner().invoke(app, ["data", "index", "r", "--out", "m.csv",
                                   "--class-map", "Opacity=blurry"])
    assert bad.exit_code != 0 and "FOLDER=label" in str(bad.exception)


def test_cli_end_to_end(five_roots: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "cli" / "manifest.csv"
    result = CliRunner().invoke(
        app, ["data", "index", *map(str, five_roots[2:4]), "--out", str(out), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "hannover-covid" in result.output and "left out" in result.output
    df = load_manifest(out)
    assert len(df) == 12 and set(df["dataset"]) == {"ccx", "hannover"}
    assert skipped_report_path(out).is_file()


def test_cli_unknown_format_is_one_line_error(tmp_path: Path) -> None:
    make_hannover(tmp_path / "h")
    code = ("import sys; from cxr import cli; "
            f"sys.argv=['cxr','data','index',{str(tmp_path / 'h')!r},'--out','m.csv',"
            "'--format','bogus']; cli.main()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("cxr: error: unknown dataset format 'bogus' (valid: ")
    assert "kaggle-pneumonia" in out.stderr and len(out.stderr.strip().splitlines()) == 1
