"""`cxr explain severity` and `cxr explain localize` end to end on phantoms (a tiny classifier)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from support.classify_fixtures import make_sources_manifest

from cxr.config import ClassifyConfig, LocalizeConfig, SeverityConfig
from cxr.data.images.imageio import read_image_u8
from cxr.data.manifest import load_manifest, save_manifest
from cxr.pipelines.classify.run_classify import run_classify
from cxr.pipelines.explain.run_localize import run_localize
from cxr.pipelines.explain.run_severity import run_severity
from cxr.runtime.errors import LeakageError, ManifestError


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("xv")
    manifest = make_sources_manifest(root / "int", ("hosp_a",), patients=36)
    external = make_sources_manifest(root / "ext", ("hosp_c",), seed=11, split=False)
    cfg = ClassifyConfig(manifest=str(manifest), backbone="squeezenet1_1", image_size=48,
                         epochs=2, batch_size=8, workers=0, bootstrap=20, lr=1e-3,
                         cache_dir=str(root / "cache"))
    run_classify(cfg, root / "run", progress=False)
    # expert-like scores: a monotone function of the phantom's lesion area (0 without a lesion)
    df = load_manifest(manifest)
    area = np.array([(read_image_u8(p) > 127).mean() if p else 0.0
                     for p in df["lesion_mask_path"].fillna("").astype(str)])
    df["severity_extent"] = np.round(8 * area / area.max(), 1)
    df["severity_opacity"] = np.round(6 * np.sqrt(area / area.max()), 1)
    df.loc[df.index[::7], "severity_opacity"] = np.nan  # not every row has both scores
    df["lung_mask_source"] = "phantom"
    scored = root / "scored.csv"
    save_manifest(df, scored)
    return {"root": root, "manifest": manifest, "external": external, "scored": scored,
            "ckpt": root / "run" / "best.ckpt"}


def _severity(run, manifest: Path, out: Path) -> dict:
    return run_severity(SeverityConfig(checkpoint=str(run["ckpt"]), manifest=str(manifest),
                                       out=str(out), bootstrap=100, folds=3)).summary


def test_severity_table_matches_its_rows_and_states_the_anchor(run) -> None:
    out = run["root"] / "sev"
    s = _severity(run, run["scored"], out)
    df = pd.read_csv(run["scored"])
    assert s["images"] == len(df) and s["scored"]["opacity"] == int(df["severity_opacity"].notna()
                                                                     .sum())
    assert s["lung_field"] == {"phantom": len(df)}
    assert {(r["method"], r["score"]) for r in s["table"]} == {
        (m, k) for m in ("gradcam_involved", "gradcam_involved_common", "p_covid", "ridge")
        for k in ("extent", "opacity")}
    assert s["anchor"]["extent"] == 0.80 and s["anchor"]["opacity"] == 0.78
    rows = pd.read_csv(out / "severity_rows.csv")
    table = pd.read_csv(out / "severity.csv")
    assert len(table) == 8 and (out / "severity.json").is_file()
    for r in s["table"]:
        col = "ridge_" + r["score"] if r["method"] == "ridge" else r["method"]
        both = rows[[col, f"severity_{r['score']}"]].dropna()
        assert r["n"] == len(both)
        if both.nunique().min() == 1:  # a constant column: undefined, said so
            assert r["pearson"] is None and r["spearman"] is None and r["gap_to_anchor"] is None
            continue
        assert r["pearson"] == pytest.approx(st.pearsonr(*both.to_numpy().T).statistic, abs=1e-5)
        assert r["spearman"] == pytest.approx(st.spearmanr(*both.to_numpy().T).statistic,
                                              abs=1e-5)
        assert r["pearson_ci_low"] <= r["pearson"] <= r["pearson_ci_high"]
        assert r["gap_to_anchor"] == pytest.approx(s["anchor"][r["score"]] - r["pearson"])
        assert (out / r["figure"]).stat().st_size > 1000
    assert rows["gradcam_involved"].between(0, 1).all()
    assert set(s["ridge"]) == {"extent", "opacity"} and s["ridge"]["extent"]["folds"] == 3


def test_scores_that_follow_the_model_correlate_perfectly(run, tmp_path) -> None:
    """Row alignment: scores written as a monotone function of the model's own P(COVID)."""
    first = pd.read_csv(run["root"] / "sev" / "severity_rows.csv") if (
        run["root"] / "sev" / "severity_rows.csv").is_file() else None
    if first is None:
        _severity(run, run["scored"], run["root"] / "sev")
        first = pd.read_csv(run["root"] / "sev" / "severity_rows.csv")
    df = load_manifest(run["scored"])
    p = dict(zip(first["image_path"], first["p_covid"], strict=True))
    df["severity_opacity"] = [6 * p[x] ** 2 for x in df["image_path"]]
    save_manifest(df, tmp_path / "m.csv")
    s = _severity(run, tmp_path / "m.csv", tmp_path / "out")
    row = next(r for r in s["table"] if (r["method"], r["score"]) == ("p_covid", "opacity"))
    assert row["spearman"] == pytest.approx(1.0) and row["spearman_ci_low"] == pytest.approx(1.0)
    assert row["pearson"] > 0.9


def test_severity_refuses_manifests_without_or_with_bad_scores(run, tmp_path) -> None:
    cfg = SeverityConfig(checkpoint=str(run["ckpt"]), manifest=str(run["manifest"]),
                         out=str(tmp_path / "o"))
    with pytest.raises(ManifestError, match="no severity_extent"):
        run_severity(cfg)
    df = load_manifest(run["scored"])
    df.loc[df.index[0], "severity_extent"] = 9.5  # out of range
    save_manifest(df, tmp_path / "bad.csv")
    with pytest.raises(ManifestError, match=r"severity_extent = 9.5 outside \[0, 8\]"):
        run_severity(SeverityConfig(checkpoint=str(run["ckpt"]), manifest=str(tmp_path / "bad.csv"),
                                    out=str(tmp_path / "o")))


def test_localize_scores_maps_beside_random_and_lung_prior_maps(run, tmp_path) -> None:
    out = tmp_path / "loc"
    s = run_localize(LocalizeConfig(checkpoint=str(run["ckpt"]), manifest=str(run["external"]),
                                    out=str(out), bootstrap=100)).summary
    ext = load_manifest(run["external"])
    covid = ext[ext["label"] == "covid"]
    assert s["images"] == len(covid) > 0 and "share no patient" in s["leakage_check"]
    rows = pd.read_csv(out / "localize_rows.csv")
    # the random-point baseline is the lesion's area share; the lung prior's hit rate is the
    # lesion's share of the lung field (phantom lesions lie inside the lungs)
    np.testing.assert_allclose(rows["pointing_random"], rows["lesion_area"], rtol=1e-5)
    np.testing.assert_allclose(rows["pointing_lung_prior"],
                               rows["lesion_area"] / rows["lung_area"], rtol=0.05)
    t = {r["score"]: r for r in s["table"]}
    assert set(t) == {"pointing", "lesion_energy", "lesion_iou"}
    for r in t.values():
        for col in ("map", "random", "lung_prior"):
            assert r[col]["ci_low"] <= r[col]["mean"] <= r[col]["ci_high"]
        assert r["map_minus_random"]["mean"] == pytest.approx(
            r["map"]["mean"] - r["random"]["mean"], abs=1e-5)
    assert t["pointing"]["random"]["mean"] == pytest.approx(rows["lesion_area"].mean(), rel=1e-4)
    assert pd.read_csv(out / "localize.csv").shape[0] == 3 and (out / "sheet.png").is_file()


def test_localize_refuses_images_the_classifier_trained_on(run, tmp_path) -> None:
    cfg = dict(checkpoint=str(run["ckpt"]), manifest=str(run["manifest"]), bootstrap=20)
    with pytest.raises(LeakageError, match="patient"):
        run_localize(LocalizeConfig(**cfg, out=str(tmp_path / "a")))
    s = run_localize(LocalizeConfig(**cfg, out=str(tmp_path / "b"), exclude_shared=True)).summary
    df = load_manifest(run["manifest"])
    held = df[(df["label"] == "covid") & (df["split"] == "test")]
    assert s["images"] == len(held) and s["excluded_shared"] > 0


def test_report_shows_both_sections(run, tmp_path) -> None:
    from cxr.pipelines.report.build import build_report

    folder = tmp_path / "runs"
    _severity(run, run["scored"], folder / "severity")
    run_localize(LocalizeConfig(checkpoint=str(run["ckpt"]), manifest=str(run["external"]),
                                out=str(folder / "localize"), bootstrap=20))
    html = build_report(folder, tmp_path / "r.html").read_text()
    assert "Severity: model vs expert scores" in html and "Cohen et al. 2020" in html
    assert "Localization against lesion masks" in html and "lung prior" in html
