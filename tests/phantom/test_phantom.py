"""Phantom generator: determinism, class mix, masks, lesion patterns, progression, layout, CLI."""

from __future__ import annotations

import csv
import dataclasses
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cxr.cli import app
from cxr.config import PhantomConfig, build_config
from cxr.phantom import (
    CLASSES,
    FINDINGS,
    METADATA_COLUMNS,
    generate_phantoms,
    plan_patient,
    render_study,
)
from cxr.phantom.measure import lesion_distribution
from cxr.phantom.sheet import contact_sheet
from cxr.runtime.errors import ConfigError
from cxr.runtime.files import sha256_file

REPO = Path(__file__).resolve().parents[2]
SMALL = PhantomConfig(patients=16, image_size=48, longitudinal_fraction=0.3, seed=3)


def _hashes(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): sha256_file(p) for p in files}


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "metadata.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _mask(root: Path, kind: str, name: str) -> np.ndarray:
    return np.asarray(Image.open(root / "masks" / kind / name))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_phantoms(tmp_path_factory.mktemp("ph") / "ds", SMALL, progress=False)


def _plans_of(kind: str, n: int, cfg: PhantomConfig = PhantomConfig(), *, studies: int = 1):
    out = []
    for i in range(2000):
        p = plan_patient(cfg, i)
        if p.kind == kind and len(p.studies) >= studies:
            out.append(p)
            if len(out) == n:
                return out
    raise AssertionError(f"not enough {kind} patients")


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_identical_bytes_and_other_seed_differs(dataset: Path, tmp_path: Path):
    again = generate_phantoms(tmp_path / "again", SMALL, progress=False)
    assert _hashes(again) == _hashes(dataset)
    other = generate_phantoms(tmp_path / "other", dataclasses.replace(SMALL, seed=4),
                              progress=False)
    a, b = _hashes(dataset), _hashes(other)
    shared = [k for k in a if k.startswith("images/") and k in b]
    assert shared and all(a[k] != b[k] for k in shared)


def test_adding_patients_keeps_earlier_ones_and_pool_matches_serial(dataset: Path, tmp_path: Path):
    more = generate_phantoms(tmp_path / "more", dataclasses.replace(SMALL, patients=18),
                             workers=2, progress=False)
    old, new = _hashes(dataset), _hashes(more)
    images = [k for k in old if k.startswith(("images/", "masks/"))]
    assert all(new[k] == old[k] for k in images)
    assert len([k for k in new if k.startswith("images/")]) > len(
        [k for k in old if k.startswith("images/")])


def test_rerun_is_untouched_and_resume_repairs(dataset: Path):
    before = {p: p.stat().st_mtime_ns for p in dataset.rglob("*") if p.is_file()}
    generate_phantoms(dataset, SMALL, progress=False)
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*") if p.is_file()} == before
    victim = next(iter(sorted((dataset / "images").glob("*.png"))))
    digest = sha256_file(victim)
    victim.unlink()
    generate_phantoms(dataset, SMALL, progress=False)
    assert sha256_file(victim) == digest
    with pytest.raises(ConfigError, match="image_size"):
        generate_phantoms(dataset, dataclasses.replace(SMALL, image_size=64), progress=False)


# ---------------------------------------------------------------- class mix
def test_class_mix_follows_config():
    cfg = PhantomConfig()
    counts = Counter(plan_patient(cfg, i).kind for i in range(400))
    for kind in CLASSES:
        assert abs(counts[kind] / 400 - getattr(cfg, f"mix_{kind}")) < 0.03, counts
    assert counts["covid"] == min(counts.values())  # the minority, as in real collections
    even = dataclasses.replace(cfg, mix_normal=0.5, mix_bacterial=0.0, mix_viral=0.0,
                               mix_covid=0.5)
    counts = Counter(plan_patient(even, i).kind for i in range(100))
    assert set(counts) == {"normal", "covid"} and abs(counts["covid"] - 50) <= 2
    longitudinal = sum(len(plan_patient(cfg, i).studies) > 1 for i in range(400))
    assert abs(longitudinal / 400 - cfg.longitudinal_fraction) < 0.03


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"patients": -1}, "patients"),
        ({"mix_normal": 0.6}, "sum to 1"),
        ({"mix_viral": -0.1, "mix_normal": 0.75}, "mix_viral"),
        ({"longitudinal_fraction": 1.5}, "longitudinal_fraction"),
        ({"image_size": 8}, "image_size"),
    ],
)
def test_bad_config_is_a_one_line_config_error(tmp_path: Path, override: dict, match: str):
    with pytest.raises(ConfigError, match=match) as info:
        generate_phantoms(tmp_path / "x", dataclasses.replace(SMALL, **override), progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x").exists()


def test_yaml_mirrors_the_dataclass_defaults():
    assert build_config(PhantomConfig, REPO / "configs" / "phantom.yaml") == PhantomConfig()


# ---------------------------------------------------------------- masks and layout
def test_metadata_columns_values_and_files(dataset: Path):
    rows = _rows(dataset)
    with open(dataset / "metadata.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == METADATA_COLUMNS
    assert len({r["patientid"] for r in rows}) == SMALL.patients
    for r in rows:
        assert r["finding"] in FINDINGS.values()
        assert r["view"] in ("PA", "AP") and r["sex"] in ("M", "F")
        assert r["modality"] == "X-ray" and r["folder"] == "images"
        assert 18 <= int(r["age"]) <= 90 and int(r["offset"]) >= 0
        for sub in ("images", "masks/lung", "masks/lesion"):
            with Image.open(dataset / sub / r["filename"]) as im:
                assert im.mode == "L" and im.size == (48, 48)
    by_patient: dict[str, list[int]] = {}
    for r in rows:
        by_patient.setdefault(r["patientid"], []).append(int(r["offset"]))
    assert all(o[0] == 0 and o == sorted(set(o)) for o in by_patient.values())
    assert any(len(o) > 1 for o in by_patient.values())
    readme = (dataset / "README.md").read_text()
    assert "not for clinical" in readme.lower() and "seed: 3" in readme


def test_lesion_masks_inside_lungs_empty_only_for_normal(dataset: Path):
    for r in _rows(dataset):
        lung = _mask(dataset, "lung", r["filename"])
        lesion = _mask(dataset, "lesion", r["filename"])
        assert set(np.unique(lung)) <= {0, 255} and set(np.unique(lesion)) <= {0, 255}
        assert 0.15 < (lung > 0).mean() < 0.6
        assert not ((lesion > 0) & (lung == 0)).any()
        assert (lesion > 0).any() == (r["finding"] != FINDINGS["normal"]), r


def test_anatomy_lungs_dark_heart_to_image_right():
    for p in _plans_of("normal", 4):
        out = render_study(p, p.studies[0], 96)
        img, lung = out.image.astype(float), out.lung_mask
        centre = np.zeros_like(lung)
        centre[30:70, 44:52] = True  # mediastinum / heart
        assert img[lung].mean() + 40 < img[centre].mean()
        # the heart shadow takes room from the patient's left lung (image right)
        assert lung[:, 48:].sum() < lung[:, :48].sum()


def test_lesion_patterns_by_class():
    def dist(kind: str):
        plans = _plans_of(kind, 5)
        return [lesion_distribution(o.lung_mask, o.lesion_mask)
                for o in (render_study(p, p.studies[0], 96) for p in plans)]

    covid, bacterial, viral = dist("covid"), dist("bacterial"), dist("viral")
    assert all(d.bilateral > 0.2 for d in covid)  # bilateral
    assert np.mean([d.peripheral for d in covid]) > 0.7  # peripheral
    assert np.mean([d.lower for d in covid]) > 0.65  # lower zone
    assert all(d.bilateral == 0 for d in bacterial)  # unilateral lobar
    assert np.mean([d.peripheral for d in covid]) > np.mean([d.peripheral for d in bacterial])
    assert all(d.bilateral > 0.2 for d in viral)  # bilateral perihilar
    assert np.mean([d.perihilar for d in viral]) > 0.5
    assert np.mean([d.perihilar for d in viral]) > 2 * np.mean([d.perihilar for d in covid])
    # consolidation is denser than ground glass: mean brightness rise inside the lesion
    def rise(kind: str) -> float:
        p = _plans_of(kind, 1)[0]
        normal = dataclasses.replace(p, lesions=dataclasses.replace(p.lesions, foci=()))
        sick, clean = render_study(p, p.studies[0], 96), render_study(normal, p.studies[0], 96)
        m = sick.lesion_mask
        return float(sick.image[m].astype(float).mean() - clean.image[m].astype(float).mean())

    assert rise("bacterial") > rise("covid") > 5


def test_longitudinal_lesions_grow_then_resolve():
    for kind in ("covid", "bacterial", "viral"):
        for p in _plans_of(kind, 2, studies=3):
            areas = [int(render_study(p, s, 64).lesion_mask.sum()) for s in p.studies]
            peak = int(np.argmax(areas))
            assert 0 < peak < len(areas) - 1, (kind, areas)
            diffs = np.diff(areas)
            assert (diffs[:peak] > 0).all() and (diffs[peak:] < 0).all(), (kind, areas)
    for p in _plans_of("normal", 2, studies=2):
        assert all(not render_study(p, s, 48).lesion_mask.any() for s in p.studies)


@pytest.mark.parametrize("size", [32, 64, 100, 160])
def test_any_image_size(size: int):
    p = _plans_of("covid", 1)[0]
    out = render_study(p, p.studies[0], size)
    assert out.image.shape == out.lung_mask.shape == out.lesion_mask.shape == (size, size)
    assert out.image.dtype == np.uint8 and out.image.std() > 20
    assert 0.15 < out.lung_mask.mean() < 0.6 and out.lesion_mask.any()


def test_contact_sheet(dataset: Path, tmp_path: Path):
    out = contact_sheet(dataset, tmp_path / "sheet.png", per_class=2)
    with Image.open(out) as im:
        assert im.size[0] > 300 and im.size[1] > 300


# ---------------------------------------------------------------- CLI
def test_cli_writes_the_layout(tmp_path: Path):
    result = CliRunner().invoke(app, ["data", "phantom", "--out", str(tmp_path / "d"),
                                      "--patients", "3", "--image-size", "40", "--workers", "1"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "d"
    names = [r["filename"] for r in _rows(root)]
    assert len(names) >= 3
    for sub in ("images", "masks/lung", "masks/lesion"):
        assert sorted(p.name for p in (root / sub).glob("*.png")) == sorted(names)


def test_cli_bad_options_give_one_line_errors(tmp_path: Path, monkeypatch, capsys):
    result = CliRunner().invoke(app, ["data", "phantom", "--out", str(tmp_path / "d"),
                                      "--patients", "-5"])
    assert isinstance(result.exception, ConfigError) and "patients" in str(result.exception)
    bad = tmp_path / "bad.yaml"
    bad.write_text("mix_normal: 0.9\n")
    result = CliRunner().invoke(app, ["data", "phantom", "--out", str(tmp_path / "d"),
                                      "--config", str(bad)])
    assert isinstance(result.exception, ConfigError) and "sum to 1" in str(result.exception)
    from cxr.cli import main

    monkeypatch.setattr(sys, "argv", ["cxr", "data", "phantom", "--out", str(tmp_path / "d"),
                                      "--config", str(bad)])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and err.startswith("cxr: error:") and "\n" not in err
