"""What real collections ship beside their images: the finding table, shipped masks with their
provenance, expert severity scores, and the COVID-QU-Ex layout (tiny copies of the layouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.fakelayouts import tiny_image, write_csv

from cxr.data.index.adapters import Candidate, LayoutError, Notice, get_adapter, pick_layout
from cxr.data.index.adapters.finding_vocabulary import (
    FLAT_FINDINGS,
    known_finding,
    map_finding,
)
from cxr.data.index.adapters.mask_folders import mask_key
from cxr.data.index.adapters.severity_scores import read_severity
from cxr.data.index.indexer import build_index, index_roots
from cxr.data.manifest import MASK_SOURCES, load_manifest, save_manifest, validate
from cxr.runtime.errors import ManifestError

#: every distinct finding of the mid-2020 covid-chestxray metadata, and what it must become
FLAT_2020 = {
    "COVID-19": ("covid", "covid-19"),
    "COVID-19, ARDS": ("covid", "covid-19"),
    "No Finding": ("normal", ""),
    "SARS": ("pneumonia", "viral"),
    "MERS": ("pneumonia", "viral"),
    "Pneumocystis": ("pneumonia", "fungal"),
    "Aspergillosis": ("pneumonia", "fungal"),
    "Pneumonia": ("pneumonia", ""),
    "Streptococcus": ("pneumonia", "bacterial"),
    "Klebsiella": ("pneumonia", "bacterial"),
    "Mycoplasma Bacterial Pneumonia": ("pneumonia", "bacterial"),
    "Legionella": ("pneumonia", "bacterial"),
    "E.Coli": ("pneumonia", "bacterial"),
    "Chlamydophila": ("pneumonia", "bacterial"),
    "Nocardia": ("pneumonia", "bacterial"),
    "Bacterial": ("pneumonia", "bacterial"),
    "Lipoid": ("pneumonia", "lipoid"),
    "Varicella": ("pneumonia", "viral"),
    "Influenza": ("pneumonia", "viral"),
    "Herpes": ("pneumonia", "viral"),
    "ARDS": ("other", "ards"),
    "Tuberculosis": ("other", "tuberculosis"),
    "Unknown": None,
    "todo": None,
    "": None,
}


@pytest.mark.parametrize(("finding", "expected"), sorted(FLAT_2020.items()))
def test_flat_vocabulary_maps_completely(finding: str, expected: tuple[str, str] | None) -> None:
    assert map_finding(finding) == expected
    assert known_finding(finding)
    assert finding.strip().lower() in FLAT_FINDINGS


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        ("Pneumonia/Bacterial/Mycoplasma", ("pneumonia", "bacterial")),
        ("Pneumonia/Viral/MERS-CoV", ("pneumonia", "viral")),
        ("Pneumonia/Lipoid", ("pneumonia", "lipoid")),
        ("Pneumonia/Aspiration", ("pneumonia", "aspiration")),
        ("Pneumonia/Viral/Influenza/H1N1", ("pneumonia", "viral")),
        ("mycoplasma  bacterial   pneumonia", ("pneumonia", "bacterial")),
        ("COVID-19,ARDS", ("covid", "covid-19")),
    ],
)
def test_hierarchical_and_spacing_variants(finding: str, expected: tuple[str, str]) -> None:
    assert map_finding(finding) == expected and known_finding(finding)


def test_value_outside_the_vocabulary_is_other_and_flagged() -> None:
    assert map_finding("Pneumothorax") == ("other", "pneumothorax")
    assert not known_finding("Pneumothorax")


@pytest.mark.parametrize(
    ("name", "key"),
    [("a_mask.png", "a"), ("A-Mask.png", "a"), ("x.y_mask.png.png", "x.y"), ("b.png", "b"),
     ("c.jpeg", "c")],
)
def test_mask_key(name: str, key: str) -> None:
    assert mask_key(name) == key


# ------------------------------------------------------------------ ieee8023 layout
def make_ieee(root: Path, *, severity_header: str = "geographic_mean") -> Path:
    """covid-chestxray mid-2020 layout with V7 / lungVAE masks and severity scores."""
    rows = [
        ["1", "0", "COVID-19", "PA", "X-ray", "a.jpg"],  # manual + model mask: manual wins
        ["1", "3", "COVID-19, ARDS", "L", "X-ray", "b.png"],  # lateral, model mask only
        ["2", "", "Mycoplasma Bacterial Pneumonia", "AP Supine", "X-ray", "c.jpeg"],  # .png.png
        ["3", "", "Lipoid", "AP semi erect", "X-ray", "d.png"],  # no mask
        ["4", "", "ARDS", "AP", "X-ray", "e.png"],
        ["5", "", "COVID-19", "Axial", "CT", "f.png"],  # CT: left out, its mask unused
    ]
    for i, r in enumerate(rows):
        tiny_image(root / "images" / r[-1], seed=i, fmt="PNG" if r[-1].endswith("png") else "JPEG")
    write_csv(root / "metadata.csv",
              ["patientid", "offset", "finding", "view", "modality", "folder", "filename"],
              [[*r[:5], "images", r[5]] for r in rows])
    v7, vae = root / "annotations" / "v7-lung-masks", root / "annotations" / "lungVAE-masks"
    tiny_image(v7 / "a_mask.png", seed=50)
    tiny_image(vae / "a_mask.png", seed=51)
    tiny_image(vae / "b_mask.png", seed=52)
    tiny_image(vae / "c_mask.png.png", seed=53, fmt="PNG")
    tiny_image(vae / "f_mask.png", seed=54)
    (vae / "README.md").write_text("lungVAE masks\n")
    write_csv(v7 / "index.csv", ["filename", "lung_polygons"], [["a.jpg", 2]])
    sev = root / "annotations" / "covid-severity-scores.csv"
    sev.write_text(
        "## COVID-19 Pneumonia Severity Scores,,\n## License: CC BY-SA,,\n"
        f"filename,{severity_header},opacity_mean\n"
        "a.jpg,6.0,4.0\nB.PNG,2.7,2.0\nmissing.png,1.0,1.0\nd.png,9.5,1.0\n"
    )
    return root


def test_ieee_layout_masks_views_findings_and_severity(tmp_path: Path) -> None:
    root = make_ieee(tmp_path / "ieee")
    res = index_roots([root], names=["ieee"], workers=1, progress=False)
    df = res.manifest_df.set_index(res.manifest_df["image_path"].map(lambda p: Path(p).name))
    assert sorted(df.index) == ["a.jpg", "b.png", "c.jpeg", "d.png", "e.png"]
    assert df["view"].to_dict() == {"a.jpg": "pa", "b.png": "lateral", "c.jpeg": "ap-supine",
                                    "d.png": "ap", "e.png": "ap"}
    assert (df.loc["c.jpeg", "label"], df.loc["c.jpeg", "label_detail"]) == ("pneumonia",
                                                                             "bacterial")
    assert df.loc["d.png", "label_detail"] == "lipoid" and df.loc["e.png", "label"] == "other"
    assert df.loc["b.png", "label"] == "covid"
    # masks: manual wins over the model's, stems match across extensions and doubled suffixes
    ann = root.resolve() / "annotations"
    assert df.loc["a.jpg", "lung_mask_path"] == str(ann / "v7-lung-masks" / "a_mask.png")
    assert df["lung_mask_source"].to_dict() == {
        "a.jpg": "manual", "b.png": "dataset-model", "c.jpeg": "dataset-model", "d.png": "",
        "e.png": ""}
    assert df.loc["c.jpeg", "lung_mask_path"].endswith("c_mask.png.png")
    assert (df["lesion_mask_path"] == "").all() and (df["lesion_mask_source"] == "").all()
    # severity: joined by file name (case-insensitive), an out-of-range score refused
    assert df.loc["a.jpg", ["severity_extent", "severity_opacity"]].tolist() == [6.0, 4.0]
    assert df.loc["b.png", ["severity_extent", "severity_opacity"]].tolist() == [2.7, 2.0]
    assert df.loc[["c.jpeg", "d.png", "e.png"], "severity_extent"].isna().all()
    # the summary counts laterals as left out by default, masks by provenance, scores
    s = res.summary
    assert s.default_left_out == {"lateral view": 1}
    assert s.masks == {("ieee", "lung", "dataset-model"): 2, ("ieee", "lung", "manual"): 1}
    assert s.severity == {"ieee": 2}
    notes = " | ".join(m for _, m in s.notices)
    assert "1 image(s) have both, the manual mask is used" in notes
    assert "1 mask file(s) in annotations/lungVAE-masks match no listed image" in notes
    assert "missing.png" in notes and "line 7 (d.png)" in notes


def test_severity_columns_survive_save_and_load(tmp_path: Path) -> None:
    root = make_ieee(tmp_path / "ieee", severity_header="geographic_extent_mean")
    out = tmp_path / "m.csv"
    build_index([root], out, workers=1, progress=False, console=_quiet())
    df = load_manifest(out)
    assert df["severity_extent"].dtype.kind == "f" and df["severity_opacity"].dtype.kind == "f"
    assert sorted(df["severity_extent"].dropna().tolist()) == [2.7, 6.0]
    save_manifest(df, tmp_path / "again.csv")
    again = load_manifest(tmp_path / "again.csv")
    np.testing.assert_array_equal(again["severity_opacity"].to_numpy(),
                                  df["severity_opacity"].to_numpy())
    text = (tmp_path / "again.csv").read_text()
    assert "lung_mask_source" in text.splitlines()[0]
    bad = text.replace(",6,4,", ",six,4,")  # a number column that is not a number
    assert bad != text
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(ManifestError, match="severity_extent is not a number"):
        load_manifest(tmp_path / "bad.csv")


def test_mask_source_must_be_a_known_provenance(tmp_path: Path) -> None:
    root = make_ieee(tmp_path / "ieee")
    df = index_roots([root], workers=1, progress=False).manifest_df
    validate(df, check_files=False)
    df.loc[0, "lung_mask_source"] = "lungvae"
    with pytest.raises(ManifestError, match="unknown lung_mask_source"):
        validate(df, check_files=False)
    assert MASK_SOURCES == ("manual", "dataset-model", "predicted", "phantom")


def test_severity_file_needs_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("## header\nfilename,extent,opacity_mean\na.png,1,1\n")
    with pytest.raises(LayoutError, match="expected columns filename"):
        read_severity(path)


# ------------------------------------------------------------------ COVID-QU-Ex layout
def make_qu_ex(top: Path) -> Path:
    """``top/Infection Segmentation Data/Val/<class>/{images,lung masks,infection masks}``."""
    base = top / "Infection Segmentation Data" / "Val"
    names = {"COVID-19": ["covid_1.png", "covid_2.png"], "Non-COVID": ["non_COVID (1).png"],
             "Normal": ["Normal (1).png"]}
    for i, (cls, files) in enumerate(names.items()):
        for j, name in enumerate(files):
            tiny_image(base / cls / "images" / name, seed=10 * i + j)
            if name != "covid_2.png":
                tiny_image(base / cls / "lung masks" / name, seed=100 + 10 * i + j)
            tiny_image(base / cls / "infection masks" / name, seed=200 + 10 * i + j)
    return top


def test_covid_qu_ex_adapter(tmp_path: Path) -> None:
    top = make_qu_ex(tmp_path / "qu")
    found, adapter, note = pick_layout(top)
    assert adapter.name == "covid-qu-ex" and found.name == "Infection Segmentation Data"
    assert "one level down" in note
    recs = list(get_adapter("covid-qu-ex").records(found, keep_published_split=True))
    cands = {r.image_path.name: r for r in recs if isinstance(r, Candidate)}
    notes = [r.message for r in recs if isinstance(r, Notice)]
    assert {n: (c.label, c.patient_id, c.split) for n, c in cands.items()} == {
        "covid_1.png": ("covid", "covid_1", "val"), "covid_2.png": ("covid", "covid_2", "val"),
        "non_COVID (1).png": ("other", "non_COVID (1)", "val"),
        "Normal (1).png": ("normal", "Normal (1)", "val")}
    c1 = cands["covid_1.png"]
    assert c1.lung_mask_path is not None and c1.lung_mask_path.parent.name == "lung masks"
    assert c1.lesion_mask_path is not None and c1.lesion_mask_path.parent.name == "infection masks"
    assert (c1.lung_mask_source, c1.lesion_mask_source) == ("manual", "manual")
    assert cands["covid_2.png"].lung_mask_path is None
    assert any("no patient ids" in n and "4 images" in n for n in notes)
    assert any("1 image(s) without a mask in 'lung masks/'" in n for n in notes)
    df = index_roots([top], workers=1, progress=False).manifest_df
    assert (df["split"] == "").all()  # the published split only on request
    assert df["lesion_mask_source"].tolist().count("manual") == 4
    assert df["lung_mask_source"].tolist().count("manual") == 3
    assert df["patient_id"].nunique() == 4


# ------------------------------------------------------------------ the general rule
def test_mask_folders_beside_images_are_dataset_model_unless_phantom(tmp_path: Path) -> None:
    root = tmp_path / "radiography"
    tiny_image(root / "COVID" / "images" / "COVID-1.png", seed=1)
    tiny_image(root / "COVID" / "lung masks" / "COVID-1.png", seed=2)
    tiny_image(root / "COVID" / "infection masks" / "COVID-1_mask.png", seed=3)
    tiny_image(root / "Normal" / "images" / "Normal-1.png", seed=4)
    df = index_roots([root], workers=1, progress=False).manifest_df.set_index("patient_id")
    row = df.loc["radiography:COVID-1"]
    assert Path(row["lung_mask_path"]).parent.name == "lung masks"
    assert Path(row["lesion_mask_path"]).name == "COVID-1_mask.png"
    assert (row["lung_mask_source"], row["lesion_mask_source"]) == ("dataset-model",
                                                                   "dataset-model")
    assert df.loc["radiography:Normal-1", "lung_mask_path"] == ""
    # the phantom layout: ROOT/masks/{lung,lesion} under a phantom.yaml root
    ph = tmp_path / "ph"
    tiny_image(ph / "images" / "p1.png", seed=5)
    tiny_image(ph / "masks" / "lung" / "p1.png", seed=6)
    tiny_image(ph / "masks" / "lesion" / "p1.png", seed=7)
    write_csv(ph / "metadata.csv",
              ["patientid", "offset", "finding", "view", "modality", "folder", "filename"],
              [["1", "0", "COVID-19", "AP", "X-ray", "images", "p1.png"]])
    (ph / "phantom.yaml").write_text("seed: 0\n")
    r = index_roots([ph], workers=1, progress=False).manifest_df.iloc[0]
    assert (r["lung_mask_source"], r["lesion_mask_source"]) == ("phantom", "phantom")


def _quiet():
    from rich.console import Console

    return Console(quiet=True)
