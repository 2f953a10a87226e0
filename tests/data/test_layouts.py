"""Layout variants and patient-id schemes: Figure1, class-folder spellings, --class-map,
NIH names, --patient-regex, datasets one level down."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakelayouts import make_figure1, make_hannover, make_spelled_classes, tiny_image

from cxr.data.index.adapters import LayoutError, LayoutOptions, get_adapter, pick_layout
from cxr.data.index.adapters.folder_per_class import class_of, normalise, parse_class_map
from cxr.data.index.adapters.names import parse_nih_name, patient_from_name, strip_image_suffix
from cxr.data.index.indexer import index_roots
from cxr.runtime.errors import ConfigError


def _by_name(df):  # type: ignore[no-untyped-def]
    return df.set_index(df["image_path"].map(lambda p: Path(p).name))


def test_figure1_without_filename_column(tmp_path: Path) -> None:
    root = make_figure1(tmp_path / "figure1")
    found, adapter, note = pick_layout(root)
    assert adapter.name == "covid-chestxray" and found == root and note == ""
    res = index_roots([root], workers=1, progress=False)
    df = _by_name(res.manifest_df)
    assert sorted(df.index) == ["COVID-00001.jpg", "COVID-00003a.jpg", "COVID-00003b.png",
                                "COVID-00010.png"]
    assert df.loc["COVID-00003a.jpg", "patient_id"] == "figure1:COVID-00003"
    assert df.loc["COVID-00003b.png", "patient_id"] == "figure1:COVID-00003"
    assert df.loc["COVID-00003b.png", "offset_days"] == 2
    assert df.loc["COVID-00010.png", "label"] == "normal"
    reasons = dict(zip(res.skipped_df["path"].map(lambda p: Path(p).name),
                       res.skipped_df["reason"], strict=True))
    assert reasons["orphan.png"] == "not listed in metadata.csv"
    assert any("COVID-00012" in p for p in res.skipped_df["path"])


def test_figure1_suffix_and_nih_names() -> None:
    assert strip_image_suffix("COVID-00003a") == "COVID-00003"
    assert strip_image_suffix("COVID-00003") == "COVID-00003"
    assert strip_image_suffix("patient-b") == "patient-b"  # a letter after a letter stays
    assert parse_nih_name("00000013_005") == "nih-00000013"
    assert parse_nih_name("0000013_005") is None and parse_nih_name("00000013_05") is None
    assert patient_from_name("person12_virus_44") == "person12"
    assert patient_from_name("COVID-1") is None


@pytest.mark.parametrize(
    ("folder", "expected"),
    [("Covid-19", ("covid", "covid-19")), ("COVID", ("covid", "covid-19")),
     ("No_findings", ("normal", "")), ("Normal", ("normal", "")),
     ("Pneumonia", ("pneumonia", "")), ("Pneumonia-Bacterial", ("pneumonia", "bacterial")),
     ("Pneumonia-Viral", ("pneumonia", "viral")), ("Viral Pneumonia", ("pneumonia", "viral")),
     ("Lung_Opacity", ("other", "lung opacity")), ("covid 19", ("covid", "covid-19")),
     ("Edema", None)],
)
def test_class_spellings(folder: str, expected: tuple[str, str] | None) -> None:
    assert class_of(folder) == expected


def test_spelled_classes_nih_ids_and_unknown_folder_listed(tmp_path: Path) -> None:
    root = make_spelled_classes(tmp_path / "mixed")
    res = index_roots([root], workers=1, progress=False)
    df = _by_name(res.manifest_df)
    assert df.loc["00000013_000.png", "patient_id"] == "mixed:nih-00000013"
    assert df.loc["00000013_004.png", "patient_id"] == "mixed:nih-00000013"
    assert df.loc["00000042_001.png", ["label", "label_detail"]].tolist() == [
        "pneumonia", "bacterial"]
    assert df.loc["c1.png", "label"] == df.loc["c2.png", "label"] == "covid"
    assert df.loc["v1.png", "label_detail"] == df.loc["v2.png", "label_detail"] == "viral"
    assert df.loc["o1.png", "label"] == "other"
    assert "e1.png" not in df.index
    notes = " ".join(m for _, m in res.summary.notices)
    assert "'Edema' (2 images)" in notes and "--class-map" in notes
    edema = res.skipped_df[res.skipped_df["path"].str.contains("Edema")]
    assert len(edema) == 2 and (edema["reason"] == "folder 'Edema' is not a known class name").all()
    assert "5 image(s) without a patient id" in notes  # c1, c2, v1, v2, o1


def test_class_map(tmp_path: Path) -> None:
    root = make_spelled_classes(tmp_path / "mixed")
    mapping = parse_class_map(["EDEMA=other:edema", "covid-19=pneumonia"])
    assert mapping == {"edema": ("other", "edema"), "covid19": ("pneumonia", "")}
    res = index_roots([root], workers=1, progress=False, class_map=mapping)
    df = _by_name(res.manifest_df)
    assert df.loc["e1.png", ["label", "label_detail"]].tolist() == ["other", "edema"]
    assert df.loc["c1.png", "label"] == "pneumonia" and df.loc["c2.png", "label"] == "covid"
    for bad in ("Edema", "Edema=", "=covid", "Edema=sick"):
        with pytest.raises(ConfigError, match="FOLDER=label"):
            parse_class_map([bad])
    assert normalise(" Pneumonia - Bacterial ") == "pneumoniabacterial"
    # a collection whose only class folder is a mapped one is still detected
    only = tmp_path / "only"
    tiny_image(only / "Edema" / "x.png")
    assert get_adapter("folder-per-class").detect(only, LayoutOptions(class_map=mapping))


def test_patient_regex(tmp_path: Path) -> None:
    root = tmp_path / "site"
    for name in ("pt17-day1.png", "pt17-day5.png", "pt3-day1.png", "scan.png"):
        tiny_image(root / "Normal" / name, seed=len(name))
    res = index_roots([root], workers=1, progress=False,
                      patient_regex=r"^pt(?P<patient>\d+)-")
    df = _by_name(res.manifest_df)
    assert df.loc["pt17-day1.png", "patient_id"] == df.loc["pt17-day5.png", "patient_id"] == (
        "site:17")
    assert df.loc["scan.png", "patient_id"] == "site:scan"  # no match: the layout's id
    assert any("1 file name(s) did not match" in m for _, m in res.summary.notices)
    first = index_roots([root], workers=1, progress=False, patient_regex=r"pt(\d+)")
    assert _by_name(first.manifest_df).loc["pt3-day1.png", "patient_id"] == "site:3"
    with pytest.raises(ConfigError, match="patient-regex"):
        index_roots([root], workers=1, progress=False, patient_regex="pt(")


def test_dataset_one_level_down(tmp_path: Path) -> None:
    wrapper = tmp_path / "download"
    make_hannover(wrapper / "covid-19-image-repository-master")
    (wrapper / "notes").mkdir()
    res = index_roots([wrapper], workers=1, progress=False)
    assert len(res.manifest_df) == 5 and res.summary.formats == {"download": "hannover-covid"}
    assert any("one level down, in covid-19-image-repository-master/" in m
               for _, m in res.summary.notices)
    make_figure1(wrapper / "figure1")
    with pytest.raises(LayoutError, match="covid-19-image-repository-master/.*figure1/"):
        pick_layout(wrapper)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(LayoutError, match="here or one level down"):
        pick_layout(empty)


def test_patient_with_two_labels_reported_by_index(tmp_path: Path) -> None:
    root = tmp_path / "nih"
    tiny_image(root / "Normal" / "00000007_000.png", seed=1)
    tiny_image(root / "Pneumonia" / "00000007_001.png", seed=2)
    tiny_image(root / "Normal" / "00000008_000.png", seed=3)
    res = index_roots([root], workers=1, progress=False)
    assert any(ds == "nih" and m.startswith("1 patient(s) carry two labels (e.g. nih:nih-00000007)")
               for ds, m in res.summary.notices)
