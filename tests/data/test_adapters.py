"""cxr.data.index.adapters: every published layout is detected and parsed into candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakelayouts import (
    make_coronahack,
    make_covid_chestxray,
    make_hannover,
    make_kaggle,
    make_radiography,
)

from cxr.data.index.adapters import (
    Adapter,
    Candidate,
    LayoutError,
    LeftOut,
    Notice,
    detect_adapter,
    get_adapter,
    list_adapters,
    register_adapter,
)
from cxr.data.index.adapters.covid_chestxray import map_finding
from cxr.data.index.adapters.folder_per_class import class_of
from cxr.data.index.adapters.kaggle_pneumonia import parse_kermany_name

BUILDERS = {
    "folder-per-class": make_radiography,
    "kaggle-pneumonia": make_kaggle,
    "covid-chestxray": make_covid_chestxray,
    "hannover-covid": make_hannover,
    "coronahack": make_coronahack,
}


Collected = tuple[dict[str, Candidate], list[LeftOut], list[str]]


def collect(name: str, root: Path, **opts: bool) -> Collected:
    cands: dict[str, Candidate] = {}
    left: list[LeftOut] = []
    notes: list[str] = []
    for rec in get_adapter(name).records(root, **opts):
        if isinstance(rec, Candidate):
            assert rec.image_path.name not in cands, "duplicate candidate"
            cands[rec.image_path.name] = rec
        elif isinstance(rec, LeftOut):
            left.append(rec)
        else:
            assert isinstance(rec, Notice)
            notes.append(rec.message)
    return cands, left, notes


def test_registry_lists_every_layout() -> None:
    assert set(BUILDERS) <= set(list_adapters())
    assert list_adapters()[-1] == "folder-per-class"  # the generic layout is tried last


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_layout_autodetected_uniquely(tmp_path: Path, name: str) -> None:
    root = BUILDERS[name](tmp_path / name)
    assert detect_adapter(root).name == name
    # no other adapter claims this layout
    assert [n for n in list_adapters() if n != name and get_adapter(n).detect(root)] == []
    cands, _, _ = collect(name, root)
    assert cands and all(c.image_path.is_file() for c in cands.values())
    assert all(c.label in ("covid", "pneumonia", "normal", "other") for c in cands.values())


def test_unknown_format_lists_valid_names() -> None:
    with pytest.raises(LayoutError) as info:
        get_adapter("nih-chestxray14")
    for name in BUILDERS:
        assert name in str(info.value)


def test_undetectable_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(LayoutError, match="known formats: .*covid-chestxray"):
        detect_adapter(tmp_path / "stuff")
    with pytest.raises(LayoutError, match="not found"):
        detect_adapter(tmp_path / "nope")


def test_register_adapter_rejects_bad_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        register_adapter("Bad Name")
    with pytest.raises(ValueError, match="registered twice"):

        @register_adapter("hannover-covid")
        class Again(Adapter):
            pass


def test_folder_per_class(tmp_path: Path) -> None:
    root = make_radiography(tmp_path / "radiography")
    cands, left, notes = collect("folder-per-class", root)
    assert set(cands) == {
        "COVID-1.png", "COVID-2.png", "Normal-1.png", "Viral Pneumonia-1.png",
        "Lung_Opacity-1.png", "x-1.png",
    }  # masks/ and .DS_Store are not images
    assert (cands["COVID-1.png"].label, cands["COVID-1.png"].label_detail) == ("covid", "covid-19")
    assert cands["COVID-1.png"].lung_mask_path == root / "COVID" / "masks" / "COVID-1.png"
    assert cands["Normal-1.png"].lung_mask_path is None
    assert (cands["Viral Pneumonia-1.png"].label, cands["Viral Pneumonia-1.png"].label_detail) == (
        "pneumonia", "viral",
    )
    assert (cands["Lung_Opacity-1.png"].label, cands["Lung_Opacity-1.png"].label_detail) == (
        "other", "lung opacity",
    )
    assert cands["x-1.png"].label == "normal"  # "no_findings" alias
    assert cands["COVID-2.png"].patient_id == "COVID-2"  # one patient per image
    assert any("patient-level splitting is impossible" in n for n in notes)
    assert left == []


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("COVID-19", ("covid", "covid-19")), ("covid19", ("covid", "covid-19")),
        ("No Finding", ("normal", "")), ("NORMAL", ("normal", "")),
        ("Bacterial_Pneumonia", ("pneumonia", "bacterial")),
        ("lung opacity", ("other", "lung opacity")),
        ("masks", None), ("train", None),
    ],
)
def test_class_aliases(folder: str, expected: tuple[str, str] | None) -> None:
    assert class_of(folder) == expected


@pytest.mark.parametrize("where", ["parent", "chest_xray", "unnamed"])
def test_kaggle_pneumonia(tmp_path: Path, where: str) -> None:
    # the root may hold chest_xray/, be chest_xray/, or be any folder holding train/ test/ val/
    root = make_kaggle(tmp_path / "kaggle", nested=where != "unnamed")
    target = root / "chest_xray" if where == "chest_xray" else root
    assert detect_adapter(target).name == "kaggle-pneumonia"
    cands, left, notes = collect("kaggle-pneumonia", target)
    assert len(cands) == 8 and left == []
    c = cands["person7_bacteria_29.jpeg"]
    assert (c.patient_id, c.label, c.label_detail) == ("person7", "pneumonia", "bacterial")
    assert cands["person7_virus_30.jpeg"].patient_id == "person7"  # same person, other image
    assert cands["person12_virus_44.jpeg"].label_detail == "viral"
    # NORMAL2-IM-0012 and IM-0012 are the same patient (documented decision)
    assert cands["NORMAL2-IM-0012-0001.jpeg"].patient_id == cands["IM-0012-0001.jpeg"].patient_id
    assert cands["IM-0011-0001-0001.jpeg"].patient_id == "IM-0011"
    assert cands["IM-0115-0001.jpeg"].label == "normal"
    assert all(c.split == "" for c in cands.values())
    assert any("published split dropped" in n for n in notes)


def test_kaggle_keep_published_split_warns_with_leak_count(tmp_path: Path) -> None:
    root = make_kaggle(tmp_path / "kaggle")
    cands, _, notes = collect("kaggle-pneumonia", root / "chest_xray", keep_published_split=True)
    assert cands["IM-0012-0001.jpeg"].split == "train"
    assert cands["NORMAL2-IM-0012-0001.jpeg"].split == "test"
    assert cands["NORMAL2-IM-1427-0001.jpeg"].split == "val"
    # IM-0012 (train+test) and person7 (train+test) leak
    assert any("leaks patients (2 patient(s)" in n for n in notes)


def test_kermany_names() -> None:
    assert parse_kermany_name("person1637_virus_2834") == ("person1637", "pneumonia", "viral")
    assert parse_kermany_name("NORMAL2-IM-0232-0001") == ("IM-0232", "normal", "")
    assert parse_kermany_name("IM-12-0001") == ("IM-0012", "normal", "")
    assert parse_kermany_name("1-s2.0-S0929664620300449-gr2_lrg") is None


@pytest.mark.parametrize("variant", ["folder", "imagename"])
def test_covid_chestxray(tmp_path: Path, variant: str) -> None:
    root = make_covid_chestxray(tmp_path / "ccx", variant=variant)
    cands, left, _ = collect("covid-chestxray", root)
    assert set(cands) == {f"{x}.png" for x in "abcdefg"}
    a, b = cands["a.png"], cands["b.png"]
    assert (a.label, a.label_detail, a.patient_id, a.view, a.offset_days) == (
        "covid", "covid-19", "1", "pa", 0.0,
    )
    assert (b.view, b.offset_days) == ("ap-supine", 4.0)
    assert (cands["c.png"].label, cands["c.png"].label_detail) == ("pneumonia", "bacterial")
    assert cands["c.png"].offset_days is None
    assert (cands["d.png"].label, cands["d.png"].label_detail) == ("pneumonia", "viral")
    assert cands["e.png"].label == "normal"
    assert (cands["f.png"].label, cands["f.png"].label_detail) == ("other", "tuberculosis")
    assert cands["g.png"].label == "covid"
    reasons = {Path(x.path.split(" ")[0]).name: x.reason for x in left}
    assert reasons["h.png"].startswith("modality CT")
    assert reasons["i.png"].startswith("empty or unknown finding")
    assert reasons["j.png"].startswith("empty or unknown finding")
    assert reasons["stray.png"] == "not listed in metadata.csv"
    assert len(left) == 4


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        ("Pneumonia/Viral/COVID-19", ("covid", "covid-19")),
        ("COVID-19, ARDS", ("covid", "covid-19")),
        ("Pneumonia/Fungal/Pneumocystis", ("pneumonia", "fungal")),
        ("Pneumonia", ("pneumonia", "")),
        ("Streptococcus", ("pneumonia", "bacterial")),
        ("SARS", ("pneumonia", "viral")),
        ("No Finding", ("normal", "")),
        ("Tuberculosis", ("other", "tuberculosis")),
        ("", None),
        ("todo", None),
    ],
)
def test_map_finding(finding: str, expected: tuple[str, str] | None) -> None:
    assert map_finding(finding) == expected


def test_hannover(tmp_path: Path) -> None:
    root = make_hannover(tmp_path / "hannover")
    cands, left, _ = collect("hannover-covid", root)
    assert set(cands) == {"0a1.png", "0a2.png", "0a3.png", "0b1.png", "0c1.png"}  # ids keep zeros
    assert all((c.label, c.label_detail) == ("covid", "covid-19") for c in cands.values())
    assert [cands[f"0a{i}.png"].offset_days for i in (1, 2, 3)] == [0.0, 3.0, 7.0]
    assert cands["0b1.png"].offset_days == -2.0 and cands["0c1.png"].offset_days is None
    assert {c.patient_id for c in cands.values()} == {"p1", "p2", "p3"}
    assert cands["0a1.png"].view == "pa" and cands["0a2.png"].view == "ap"
    assert [Path(x.path).name for x in left] == ["missing.png"]
    assert "not found" in left[0].reason


def test_coronahack(tmp_path: Path) -> None:
    root = make_coronahack(tmp_path / "coronahack")
    cands, left, notes = collect("coronahack", root)
    assert left == []
    assert (cands["IM-0128-0001.jpeg"].label, cands["IM-0128-0001.jpeg"].patient_id) == (
        "normal", "IM-0128",
    )
    assert cands["person1_bacteria_1.jpeg"].label_detail == "bacterial"
    assert cands["person1_virus_6.jpeg"].patient_id == "person1"
    covid = cands["1-s2.0-S0929664620300449-gr2_lrg.jpg"]
    assert (covid.label, covid.label_detail) == ("covid", "covid-19")
    assert covid.patient_id == "file:1-s2.0-S0929664620300449-gr2_lrg"
    assert (cands["ards-sars.jpg"].label, cands["ards-sars.jpg"].label_detail) == ("other", "ards")
    assert (cands["sars-1.jpg"].label, cands["sars-1.jpg"].label_detail) == ("pneumonia", "viral")
    assert all(c.split == "" for c in cands.values())
    assert any("3 image(s) without a Kermany patient number" in n for n in notes)
    kept, _, notes = collect("coronahack", root, keep_published_split=True)
    assert kept["person1_virus_6.jpeg"].split == "test" and kept["sars-1.jpg"].split == "test"
    assert any("leaks patients" in n for n in notes)


def test_bad_metadata_csv_is_a_clear_error(tmp_path: Path) -> None:
    root = make_hannover(tmp_path / "hannover")
    (root / "data.csv").write_text("patient_id,image_id\n")  # header only: fine, no rows
    assert collect("hannover-covid", root)[0] == {}
    (root / "data.csv").write_text("patient,image\np1,0a1\n")
    with pytest.raises(LayoutError, match="missing column"):
        collect("hannover-covid", root)
