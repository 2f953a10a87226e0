"""Cross-collection copies: signatures, crop-hash candidates, crop-estimate confirmation,
label conflicts, and the split that keeps every copy in one split."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr.config import PhantomConfig, SplitConfig
from cxr.data.duplicates.conflicts import conflicts_report_path
from cxr.data.duplicates.cropfit import DEFAULT_MIN_CORR, crop_correlation
from cxr.data.duplicates.hashing import candidate_pairs
from cxr.data.duplicates.nearcopy import decode_thumb, signature
from cxr.data.images.imageio import decode_bytes
from cxr.data.images.intensity import float_to_uint8
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.data.split import split_file, split_manifest
from cxr.pipelines.data.data_tables import split_table
from cxr.runtime.errors import CxrError


@pytest.fixture(scope="module")
def radiographs() -> list[np.ndarray]:
    """Four phantom patients, 192 px (uint8)."""
    from cxr.phantom import plan_patient, render_study

    cfg = PhantomConfig(patients=4, seed=3, image_size=192, longitudinal_fraction=0.0)
    out = []
    for i in range(4):
        plan = plan_patient(cfg, i)
        out.append(np.asarray(render_study(plan, plan.studies[0], 192).image, np.uint8))
    return out


def _through(arr: np.ndarray, fmt: str, **kw: object) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return float_to_uint8(decode_bytes(buf.getvalue()))


COPIES = {
    "resized+jpeg": lambda u: _through(np.asarray(Image.fromarray(u).resize((120, 120))), "JPEG",
                                       quality=70),
    "trim 3%": lambda u: u[6:-6, 6:-6],
    "trim one side": lambda u: u[8:, :-8],
    "gamma": lambda u: (255 * (u / 255.0) ** 1.5).astype(np.uint8),
    "16 bit": lambda u: _through(u.astype(np.uint16) * 257, "PNG"),
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_copies_found_and_confirmed(radiographs: list[np.ndarray], name: str) -> None:
    sigs = [signature(u) for u in radiographs] + [signature(COPIES[name](radiographs[0]))]
    pairs = candidate_pairs([s["phash"] for s in sigs], [s["phash_crops"] for s in sigs], 8)
    assert (0, 4) in pairs
    thumbs = [decode_thumb(s["thumb"]) for s in sigs]
    scores = dict(zip(pairs, crop_correlation(pairs, thumbs), strict=True))
    assert scores[(0, 4)] >= DEFAULT_MIN_CORR
    every = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    all_scores = dict(zip(every, crop_correlation(every, thumbs), strict=True))
    for (i, j), sc in all_scores.items():  # different patients stay apart
        if 4 not in (i, j) or 0 not in (i, j):
            assert sc < DEFAULT_MIN_CORR or {i, j} == {0, 4}, (i, j, sc)


def test_signature_columns(radiographs: list[np.ndarray]) -> None:
    sig = signature(radiographs[0])
    assert len(sig["phash"]) == 16 and len(sig["phash_crops"].split()) == 2
    thumb = decode_thumb(sig["thumb"])
    assert thumb is not None and thumb.shape == (32, 32) and thumb.dtype == np.uint8
    assert decode_thumb("") is None and decode_thumb("not base64!") is None
    assert np.isnan(crop_correlation([(0, 1)], [thumb, None])[0])


def _manifest(tmp_path: Path, radiographs: list[np.ndarray], labels: tuple[str, str]) -> Path:
    """Four patients in collection a; b holds a trimmed, gamma-changed copy of a's first."""
    rows = []
    for i, u in enumerate(radiographs):
        Image.fromarray(u).save(tmp_path / f"a{i}.png")
        rows.append(dict(image_path=str(tmp_path / f"a{i}.png"), patient_id=f"a:{i}",
                         label=labels[0] if i == 0 else "normal", dataset="a"))
    copy = (255 * (radiographs[0][5:-5, 5:-5] / 255.0) ** 0.8).astype(np.uint8)
    Image.fromarray(copy).save(tmp_path / "b0.jpg", quality=85)
    rows.append(dict(image_path=str(tmp_path / "b0.jpg"), patient_id="b:x", label=labels[1],
                     dataset="b"))
    man = tmp_path / "m.csv"
    save_manifest(new_manifest(rows), man)
    return man


def test_copy_across_collections_kept_in_one_split(tmp_path: Path, radiographs) -> None:  # type: ignore[no-untyped-def]
    man = _manifest(tmp_path, radiographs, ("covid", "covid"))
    for seed in range(4):
        dest, rep = split_file(man, SplitConfig(seed=seed, val=0.25, test=0.25),
                               tmp_path / f"s{seed}.csv", progress=False)
        df = load_manifest(dest)
        g = df.set_index("patient_id")
        assert g.at["a:0", "duplicate_group"] == g.at["b:x", "duplicate_group"] != ""
        assert g.at["a:0", "split"] == g.at["b:x", "split"] != ""
        assert rep.duplicate_groups == 1 and rep.cross_dataset_groups == 1
        assert rep.conflict_groups == 0 and not conflicts_report_path(dest).exists()
    assert {"phash_crops", "thumb"} <= set(df.columns)  # filled in and kept


@pytest.mark.parametrize("policy", ["exclude", "keep-majority", "error"])
def test_conflicting_labels(tmp_path: Path, radiographs, policy: str) -> None:  # type: ignore[no-untyped-def]
    man = _manifest(tmp_path, radiographs, ("pneumonia", "normal"))
    cfg = SplitConfig(on_conflict=policy)
    if policy == "error":
        with pytest.raises(CxrError, match="1 duplicate group.*different labels"):
            split_file(man, cfg, tmp_path / "s.csv", progress=False)
        return
    dest, rep = split_file(man, cfg, tmp_path / "s.csv", progress=False)
    assert rep.conflict_groups == 1 and rep.on_conflict == policy
    assert any("carry different labels" in w for w in rep.warnings)
    assert f"on-conflict: {policy}" in str(split_table(rep).caption)
    report = pd.read_csv(conflicts_report_path(dest), dtype=str, keep_default_na=False)
    assert sorted(report["label"]) == ["normal", "pneumonia"]
    df = load_manifest(dest).set_index("patient_id")
    # a tie: keep-majority cannot choose either, so both policies leave the group out
    assert set(report["action"]) == {"excluded"}
    assert df.at["a:0", "split"] == df.at["b:x", "split"] == ""


def test_keep_majority_keeps_the_majority_label() -> None:
    from cxr.data.duplicates.conflicts import apply_policy

    df = pd.DataFrame({"label": ["covid", "covid", "normal"], "split": ["train"] * 3,
                       "duplicate_group": ["dup-1"] * 3, "image_path": list("abc"),
                       "dataset": list("xyz"), "patient_id": list("pqr")})
    rep = apply_policy(df, [[0, 1, 2]], "keep-majority")
    assert list(rep["action"]) == ["kept", "kept", "excluded"]
    assert list(df["split"]) == ["train", "train", ""]


def _rand_hash(i: int) -> str:
    return f"{random.Random(i).getrandbits(64):016x}"


def test_two_label_patient_reported() -> None:
    rows = [dict(image_path=f"/x/{i}.png", patient_id=f"ds:{i // 2}", dataset="ds",
                 label="normal", content_hash=f"{i:064x}", phash=_rand_hash(i))
            for i in range(20)]
    rows[1]["label"] = "pneumonia"
    _, rep = split_manifest(new_manifest(rows), SplitConfig())
    assert rep.two_label_patients == 1
    assert any("1 patient(s) carry two labels, e.g. ds:0" in w for w in rep.warnings)


def test_test_split_confounding_warned(tmp_path: Path) -> None:
    from cxr.data.leakage.confounding import source_confounding, test_confounding_warnings

    rows = [dict(image_path=f"/x/{i}.png", patient_id=f"{'h' if i < 20 else 'k'}:{i}",
                 dataset="hosp" if i < 20 else "kids", label="covid" if i < 20 else "normal",
                 content_hash=f"{i:064x}", phash=_rand_hash(i)) for i in range(40)]
    out, rep = split_manifest(new_manifest(rows), SplitConfig(val=0.2, test=0.3))
    assert rep.test_confounding is not None and rep.test_confounding.scope == "split test"
    assert rep.test_confounding.cramers_v == pytest.approx(1.0)
    assert any(w.startswith("split test: the label is predictable from the source collection")
               and "Cramér's V 1.00" in w for w in rep.warnings)
    external = source_confounding(out[out["split"] == "test"], scope="external set X")
    assert test_confounding_warnings(external)[0].startswith("external set X:")
    mixed = out.copy()
    mixed["dataset"] = ["hosp" if i % 2 else "kids" for i in range(len(mixed))]
    assert test_confounding_warnings(source_confounding(mixed, split="test")) == []
