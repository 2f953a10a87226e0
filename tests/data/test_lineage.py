"""GAN lineage: a GAN trained on patients now in validation/test (or an external set) is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support.gan_fixtures import make_tiny_manifest, tiny_cfg

from cxr.config import ClassifyConfig
from cxr.data.leakage.lineage import GanLineage, check_gan_lineage, record_lineage
from cxr.data.manifest import load_manifest, save_manifest
from cxr.pipelines.classify.loaders import prepare_data
from cxr.pipelines.gan.run_synth import run_synth
from cxr.pipelines.gan.train_gan import train_gan
from cxr.runtime.errors import LeakageError


def _frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["image_path", "patient_id", "content_hash",
                                       "duplicate_group"])


def test_pure_check_counts_patients_and_names_one() -> None:
    lin = GanLineage(patients=frozenset({"d:1", "d:2", "d:3"}), duplicate_groups=frozenset(),
                     images=frozenset({"h1"}))
    val = _frame([("/v/a.png", "d:2", "x", ""), ("/v/b.png", "d:9", "y", "")])
    test = _frame([("/t/c.png", "d:3", "z", "")])
    with pytest.raises(LeakageError, match=r"^2 patients in test / validation trained GAN X "
                                           r"\(e\.g\. 'd:2' in validation\)"):
        check_gan_lineage(lin, {"validation": val, "test": test}, gan="GAN X")
    ok = check_gan_lineage(lin, {"validation": val.iloc[1:], "test": test.iloc[:0]}, gan="GAN X")
    assert ok.verified and not ok.trusted and ok.n_patients == 3
    assert "verified" in ok.summary()


def test_pure_check_catches_duplicate_images_and_their_groups() -> None:
    trained = _frame([("/tr/a.png", "d:1", "h1", "dup-1"), ("/tr/b.png", "d:2", "h2", "")])
    manifest = pd.concat([trained, _frame([("/te/a2.png", "d:7", "h7", "dup-1")])],
                         ignore_index=True)
    lin = record_lineage(trained, manifest)
    assert lin.images == {"h1", "h2", "h7"} and lin.duplicate_groups == {"dup-1"}
    # another manifest: the same image under another patient id, and a near-duplicate of it
    ext = _frame([("/e/x.png", "e:1", "h1", "dup-00003"), ("/e/y.png", "e:2", "q", "dup-00003"),
                  ("/e/z.png", "e:3", "r", "")])
    with pytest.raises(LeakageError, match=r"^2 images in external .*x\.png"):
        check_gan_lineage(lin, {"external": ext}, gan="GAN X")
    assert check_gan_lineage(lin, {"external": ext.iloc[2:]}, gan="GAN X").verified


def test_missing_record_is_refused_unless_trusted() -> None:
    val = _frame([("/v/a.png", "d:2", "x", "")])
    with pytest.raises(LeakageError, match="no record .*--trust-gan-lineage"):
        check_gan_lineage(None, {"validation": val}, gan="GAN X")
    check = check_gan_lineage(None, {"validation": val}, gan="GAN X", trust=True)
    assert check.trusted and not check.verified and "NOT verified" in check.summary()
    assert check.to_dict()["trusted_without_record"] is True


@pytest.fixture(scope="module")
def resplit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Split (the tiny manifest's own split = "seed 0"), train the GAN, re-split with seed 1."""
    tmp = tmp_path_factory.mktemp("lineage")
    m0 = make_tiny_manifest(tmp / "data")
    res = train_gan(tiny_cfg(tmp, epochs=1, epochs_decay=0), manifest=m0, out_dir=tmp / "run",
                    progress=False)
    df0 = load_manifest(m0)
    # "split seed 1": the same patients, the same split sizes per label, another seeded draw
    df1 = df0.copy()
    rng = np.random.default_rng(1)
    for _, rows in df0.groupby("label"):
        df1.loc[rows.index, "split"] = rng.permutation(rows["split"].to_numpy())
    m1 = save_manifest(df1, tmp / "data" / "split1.csv")
    syn0 = run_synth(checkpoint=res.checkpoint, manifest=m0, out_dir=tmp / "synth0", n=6,
                     batch_size=6, progress=False)
    # an "older" checkpoint: the same weights without the lineage record
    ckpt = torch.load(res.checkpoint, map_location="cpu", weights_only=False)
    del ckpt["cxr_gan"]["meta"]["lineage"]
    old = tmp / "old.ckpt"
    torch.save(ckpt, old)
    return {"m0": m0, "m1": m1, "ckpt": res.checkpoint, "old": old, "syn0": syn0.manifest,
            "run": tmp / "run", "tmp": tmp}


def test_gan_train_records_its_training_patients(resplit: dict[str, Path]) -> None:
    rec = json.loads((resplit["run"] / "lineage.json").read_text())
    df0 = load_manifest(resplit["m0"])
    train = df0[(df0["split"] == "train")]
    assert set(rec["patients"]) == set(train["patient_id"])
    assert rec["n_patients"] == len(set(train["patient_id"]))
    assert set(rec["images"]) >= set(train["content_hash"])


def test_synth_on_the_current_split_passes_and_points_to_the_record(
    resplit: dict[str, Path],
) -> None:
    syn = load_manifest(resplit["syn0"])
    files = set(syn["gan_lineage"])
    assert len(files) == 1
    record = json.loads(Path(files.pop()).read_text())
    assert record["checkpoint_sha256"] == syn["checkpoint_hash"].iat[0]
    assert record["lineage"]["patients"] and record["check"]["verified"] is True


def test_resplit_scenario_is_refused_by_synth(resplit: dict[str, Path], tmp_path: Path) -> None:
    df1 = load_manifest(resplit["m1"])
    trained = set(json.loads((resplit["run"] / "lineage.json").read_text())["patients"])
    held_out = set(df1.loc[df1["split"].isin(["val", "test"]), "patient_id"])
    assert trained & held_out  # the re-split moved GAN training patients into val/test
    with pytest.raises(LeakageError, match=rf"^{len(trained & held_out)} patients in .* trained "
                                           r"GAN [0-9a-f]{12} \(e\.g\. 'tiny:"):
        run_synth(checkpoint=resplit["ckpt"], manifest=resplit["m1"], out_dir=tmp_path / "s",
                  n=2, progress=False)
    assert not (tmp_path / "s" / "images").exists()


def _classify_cfg(resplit: dict[str, Path], manifest: Path, synthetic: Path,
                  **kw: object) -> ClassifyConfig:
    return ClassifyConfig(manifest=str(manifest), synthetic_manifest=str(synthetic),
                          synthetic_ratio=0.5, image_size=32, workers=0,
                          cache_dir=str(resplit["tmp"] / "cache"), **kw)  # type: ignore[arg-type]


def test_resplit_scenario_is_refused_by_classify(resplit: dict[str, Path]) -> None:
    # keep only GAN rows whose *source* is a train patient of the new split, so the per-row
    # source_patient check passes and only the GAN's training set gives the leak away
    df1 = load_manifest(resplit["m1"])
    train1 = set(df1.loc[df1["split"] == "train", "patient_id"])
    syn = load_manifest(resplit["syn0"])
    syn = syn[syn["source_patient"].isin(train1)]
    assert len(syn)
    path = save_manifest(syn, resplit["syn0"].parent / "filtered.csv")
    with pytest.raises(LeakageError, match=r"patients in .* trained GAN [0-9a-f]{12}"):
        prepare_data(_classify_cfg(resplit, resplit["m1"], path), progress=False)


def test_gan_of_the_current_split_passes_classify(resplit: dict[str, Path]) -> None:
    data = prepare_data(_classify_cfg(resplit, resplit["m0"], resplit["syn0"]), progress=False)
    assert data.lineage is not None and data.lineage.verified
    assert data.lineage.checked == ("validation", "test")


def test_checkpoint_without_record_needs_trust_everywhere(
    resplit: dict[str, Path], tmp_path: Path,
) -> None:
    with pytest.raises(LeakageError, match="no record of the patients"):
        run_synth(checkpoint=resplit["old"], manifest=resplit["m0"], out_dir=tmp_path / "a",
                  n=2, progress=False)
    res = run_synth(checkpoint=resplit["old"], manifest=resplit["m0"], out_dir=tmp_path / "b",
                    n=6, progress=False, trust_gan_lineage=True)
    assert "NOT verified" in res.lineage
    with pytest.raises(LeakageError, match="--trust-gan-lineage"):
        prepare_data(_classify_cfg(resplit, resplit["m0"], res.manifest), progress=False)
    data = prepare_data(_classify_cfg(resplit, resplit["m0"], res.manifest,
                                      trust_gan_lineage=True), progress=False)
    assert data.lineage is not None and data.lineage.trusted


def test_report_leakage_section_states_the_lineage(resplit: dict[str, Path]) -> None:
    from cxr.pipelines.report.sections import _lineage_row

    ok = pd.concat([load_manifest(resplit["m0"]), load_manifest(resplit["syn0"])],
                   ignore_index=True)
    assert "passed" in _lineage_row(ok, "m0") and "GAN lineage verified" in _lineage_row(ok, "m0")
    bad = pd.concat([load_manifest(resplit["m1"]), load_manifest(resplit["syn0"])],
                    ignore_index=True)
    assert "FAILED" in _lineage_row(bad, "m1")
