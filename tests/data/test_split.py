"""Patient-level stratified split, duplicate grouping, GAN pinning, determinism, CLI."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cxr.cli import app
from cxr.config import SplitConfig
from cxr.data.duplicates.hashing import near_duplicate_pairs
from cxr.data.manifest import load_manifest, new_manifest, save_manifest
from cxr.data.split import split_manifest
from cxr.runtime.errors import ConfigError, LeakageError


def _hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _flip(h: str, bits: list[int]) -> str:
    v = int(h, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:016x}"


def make_rows(counts: dict[str, int], imgs: int = 2, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for label, n in counts.items():
        for p in range(n):
            for k in range(imgs):
                rows.append(
                    dict(
                        image_path=f"/x/{label}{p}_{k}.png", patient_id=f"ds:{label}{p}",
                        label=label, dataset="ds", origin="real", content_hash=_hash(rng) * 4,
                        phash=_hash(rng),
                    )
                )
    return rows


def patient_splits(df):
    return df.groupby("patient_id")["split"].nunique()


def test_patient_level_stratified_fractions() -> None:
    df = new_manifest(make_rows({"covid": 40, "pneumonia": 60, "normal": 100, "other": 20}))
    out, rep = split_manifest(df, SplitConfig(val=0.15, test=0.15, seed=0))
    assert list(out["image_path"]) == list(df["image_path"])  # row order kept
    assert (patient_splits(out) == 1).all()
    assert set(out["split"]) == {"train", "val", "test"}
    for label, n in {"covid": 40, "pneumonia": 60, "normal": 100, "other": 20}.items():
        pts = out[out["label"] == label].groupby("split")["patient_id"].nunique()
        for s in ("val", "test"):
            assert abs(pts[s] - 0.15 * n) <= 1, (label, s, pts.to_dict())
    c = rep.counts
    assert int(c["images"].sum()) == len(df)
    assert rep.duplicate_groups == 0 and rep.warnings == []
    assert "leakage check passed" in rep.leakage.summary()


def test_small_classes_get_val_and_test_or_warn() -> None:
    df = new_manifest(make_rows({"normal": 30, "covid": 3, "other": 2}))
    out, rep = split_manifest(df, SplitConfig())
    covid = out[out["label"] == "covid"].groupby("split")["patient_id"].nunique()
    assert covid.to_dict() == {"test": 1, "train": 1, "val": 1}
    assert any("'other' has only 2" in w for w in rep.warnings)


def test_most_severe_label_stratifies_patient() -> None:
    rows = make_rows({"normal": 20})
    rows[0]["label"] = "covid"  # patient normal0 has one covid image
    out, _ = split_manifest(new_manifest(rows), SplitConfig())
    assert out.loc[out["patient_id"] == "ds:normal0", "split"].nunique() == 1


def test_deterministic_and_seed_dependent(tmp_path) -> None:
    df = new_manifest(make_rows({"covid": 20, "normal": 40}))
    a, _ = split_manifest(df, SplitConfig(seed=3))
    b, _ = split_manifest(df, SplitConfig(seed=3))
    c, _ = split_manifest(df, SplitConfig(seed=4))
    save_manifest(a, tmp_path / "a.csv")
    save_manifest(b, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert list(a["split"]) != list(c["split"])


def _smooth_png(path, rng) -> None:
    base = (rng.random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(base).resize((64, 64), Image.BICUBIC).save(path)


def test_duplicates_tie_patients_together(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for p in range(30):
        _smooth_png(tmp_path / f"n{p}.png", rng)
        rows.append(dict(image_path=str(tmp_path / f"n{p}.png"), patient_id=f"a:{p}",
                         label="normal", dataset="a", origin="real"))
    (tmp_path / "copy.png").write_bytes((tmp_path / "n0.png").read_bytes())  # exact copy
    Image.open(tmp_path / "n1.png").resize((80, 80)).save(tmp_path / "near.jpg", quality=85)
    for name, pid in (("copy.png", "b:1"), ("near.jpg", "b:2")):
        rows.append(dict(image_path=str(tmp_path / name), patient_id=pid, label="normal",
                         dataset="b", origin="real"))
    df = new_manifest(rows)
    for seed in range(3):
        out, rep = split_manifest(df, SplitConfig(seed=seed, near_duplicate_bits=4))
        assert rep.duplicate_groups == 2 and rep.cross_dataset_groups == 2
        assert rep.merged_patient_groups == 2
        g = out.set_index("patient_id")
        assert g.at["a:0", "duplicate_group"] == g.at["b:1", "duplicate_group"] != ""
        assert g.at["a:0", "split"] == g.at["b:1", "split"]
        assert g.at["a:1", "split"] == g.at["b:2", "split"]
        assert (out["duplicate_group"] != "").sum() == 4


def test_phash_candidates_confirmed_on_fine_hash(tmp_path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for p in range(6):
        _smooth_png(tmp_path / f"n{p}.png", rng)
        rows.append(dict(image_path=str(tmp_path / f"n{p}.png"), patient_id=f"a:{p}",
                         label="normal", dataset="a", origin="real"))
    df = new_manifest(rows)
    # pretend two different radiographs collide on the coarse 64-bit hash
    df["phash"] = [_hash(random.Random(i)) for i in range(6)]
    df.loc[1, "phash"] = _flip(df.loc[0, "phash"], [3])
    out, rep = split_manifest(df, SplitConfig())
    assert rep.near_rejected == 1 and rep.duplicate_groups == 0
    assert (out["duplicate_group"] == "").all()


def test_gan_rows_stay_train_and_pin_source() -> None:
    rows = make_rows({"covid": 6, "normal": 10})
    gan = [
        dict(image_path=f"/g/{i}.png", patient_id=f"gan:covid{i}", label="covid", dataset="gan",
             origin="gan", source_patient=f"ds:covid{i}", content_hash=f"{i:064x}")
        for i in range(6)
    ]
    out, rep = split_manifest(new_manifest(rows + gan), SplitConfig(val=0.3, test=0.3))
    assert (out.loc[out["origin"] == "gan", "split"] == "train").all()
    covid_real = out[(out["origin"] == "real") & (out["label"] == "covid")]
    assert set(covid_real["split"]) == {"train"}  # every covid patient is a GAN source
    assert rep.pinned_patients == 6
    bad = dict(gan[0], image_path="/g/bad.png", source_patient="ds:nobody")
    with pytest.raises(LeakageError, match="ds:nobody"):
        split_manifest(new_manifest(rows + [bad]), SplitConfig())


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.5, 0.5), (0.7, 0.4)])
def test_bad_fractions(val: float, test: float) -> None:
    with pytest.raises(ConfigError, match="val"):
        split_manifest(new_manifest(make_rows({"normal": 5})), SplitConfig(val=val, test=test))


def test_multi_index_matches_pairwise() -> None:
    rng = random.Random(7)
    hashes = [_hash(rng) for _ in range(600)]
    for i in range(0, 600, 10):  # plant near duplicates 0..6 bits away
        hashes[i + 1] = _flip(hashes[i], rng.sample(range(64), i % 7))
    hashes[5] = ""
    for bits in (0, 2, 4):
        fast = near_duplicate_pairs(hashes, bits, method="multi_index")
        slow = near_duplicate_pairs(hashes, bits, method="pairwise")
        planted = sum(1 for i in range(0, 600, 10) if i % 7 <= bits)
        assert fast == slow and len(fast) == planted


def test_phash_computed_from_files(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for p in range(8):
        base = (rng.random((8, 8)) * 255).astype(np.uint8)
        img = Image.fromarray(base).resize((64, 64), Image.BICUBIC)
        img.save(tmp_path / f"p{p}.png")
        rows.append(dict(image_path=str(tmp_path / f"p{p}.png"), patient_id=f"a:{p}",
                         label="normal", dataset="a"))
    # the same radiograph re-encoded as JPEG in another collection
    Image.open(tmp_path / "p0.png").save(tmp_path / "copy.jpg", quality=90)
    rows.append(dict(image_path=str(tmp_path / "copy.jpg"), patient_id="b:1", label="normal",
                     dataset="b"))
    out, rep = split_manifest(new_manifest(rows), SplitConfig())
    assert rep.hashes_computed == 9
    assert (out["phash"].str.len() == 16).all() and (out["content_hash"].str.len() == 64).all()
    assert rep.duplicate_groups == 1 and rep.cross_dataset_groups == 1
    assert out["split"].iat[0] == out["split"].iat[8]


def test_cli_split_in_place_and_out(tmp_path) -> None:
    man = tmp_path / "m.csv"
    save_manifest(new_manifest(make_rows({"covid": 5, "normal": 10})), man)
    runner = CliRunner()
    res = runner.invoke(app, ["data", "split", str(man), "--val", "0.2", "--test", "0.2",
                              "--seed", "1", "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert "leakage check passed" in res.output
    assert set(load_manifest(tmp_path / "s.csv", check_files=False)["split"]) == {
        "train", "val", "test"}
    assert set(load_manifest(man, check_files=False)["split"]) == {""}
    res = runner.invoke(app, ["data", "split", str(man)])
    assert res.exit_code == 0, res.output
    assert set(load_manifest(man, check_files=False)["split"]) == {"train", "val", "test"}
    res = runner.invoke(app, ["data", "split", str(man), "--val", "0.6", "--test", "0.6"])
    assert res.exit_code != 0 and isinstance(res.exception, ConfigError)
