"""`run_synth`: provenance, train-only sources, seeded augmentation, kill-and-resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.gan_fixtures import make_tiny_manifest, tiny_cfg

import cxr.data.images.imageio as imageio
from cxr.cyclegan.translate import (
    apply_augmentation,
    aug_seed_for,
    load_generator,
    stratified_order,
)
from cxr.data.leakage.checks import check_leakage
from cxr.data.manifest import load_manifest, save_manifest
from cxr.pipelines.gan.run_synth import run_synth
from cxr.pipelines.gan.train_gan import train_gan
from cxr.runtime.errors import CheckpointError, ConfigError
from cxr.runtime.files import sha256_file


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("synth")
    manifest = make_tiny_manifest(tmp / "data")
    cfg = tiny_cfg(tmp, epochs=1, epochs_decay=0)
    res = train_gan(cfg, manifest=manifest, out_dir=tmp / "run", progress=False)
    return manifest, res.checkpoint


def test_augmentation_is_seeded_and_identity_first_pass() -> None:
    img = (np.arange(32 * 32) % 251).astype(np.uint8).reshape(32, 32)
    assert aug_seed_for(0, 3, 5) == -1 and aug_seed_for(0, 5, 5) >= 0
    assert np.array_equal(apply_augmentation(img, -1), img)
    a, b = apply_augmentation(img, 7), apply_augmentation(img, 7)
    assert np.array_equal(a, b) and not np.array_equal(a, apply_augmentation(img, 8))


def test_synth_provenance_and_resume(
    trained: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, ckpt = trained
    n = 12  # > 5 train-split normal sources: later rounds are augmented
    full = run_synth(
        checkpoint=ckpt,
        manifest=manifest,
        out_dir=tmp_path / "full",
        n=n,
        batch_size=4,
        progress=False,
    )
    out = load_manifest(full.manifest)
    real = load_manifest(manifest)
    assert len(out) == n and set(out["origin"]) == {"gan"} and set(out["label"]) == {"covid"}
    assert set(out["split"]) == {"train"} and set(out["label_detail"]) == {"cyclegan"}
    assert set(out["dataset"]) == {"tiny+cyclegan"}
    src_rows = real.set_index("image_path").loc[out["source_image"]]
    assert set(src_rows["split"]) == {"train"} and set(src_rows["label"]) == {"normal"}
    assert list(out["patient_id"]) == list(out["source_patient"]) == list(src_rows["patient_id"])
    assert set(out["checkpoint_hash"]) == {sha256_file(ckpt)}
    seeds = out["aug_seed"].astype(int).tolist()
    assert seeds[:5] == [-1] * 5 and all(s >= 0 for s in seeds[5:])
    hashes = out["content_hash"].tolist()
    assert hashes[0] != hashes[5]  # same source, augmented second pass -> different output
    check_leakage(__import__("pandas").concat([real, out], ignore_index=True))

    # kill after 5 outputs, then rerun: same files, none partial or duplicated
    calls = {"n": 0}
    real_write = imageio.write_png

    def dying_write(path: Any, img: Any) -> Any:
        if calls["n"] == 5:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real_write(path, img)

    monkeypatch.setattr(imageio, "write_png", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_synth(
            checkpoint=ckpt,
            manifest=manifest,
            out_dir=tmp_path / "cut",
            n=n,
            batch_size=4,
            progress=False,
        )
    monkeypatch.setattr(imageio, "write_png", real_write)
    assert len(list((tmp_path / "cut" / "images").iterdir())) == 5
    assert not (tmp_path / "cut" / "manifest.csv").exists()
    again = run_synth(
        checkpoint=ckpt,
        manifest=manifest,
        out_dir=tmp_path / "cut",
        n=n,
        batch_size=4,
        progress=False,
    )
    assert again.reused_existing == 5 and again.written == n - 5
    files = sorted(p.name for p in (tmp_path / "cut" / "images").iterdir())
    assert files == [f"gan_{i:06d}.png" for i in range(n)]
    assert load_manifest(again.manifest)["content_hash"].tolist() == hashes

    with pytest.raises(ConfigError, match="another synthesis job"):
        run_synth(
            checkpoint=ckpt,
            manifest=manifest,
            out_dir=tmp_path / "cut",
            n=n,
            seed=1,
            progress=False,
        )


def test_bad_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_generator(tmp_path / "none.ckpt")
    (tmp_path / "x.ckpt").write_text("junk")
    with pytest.raises(CheckpointError, match="not a readable GAN checkpoint"):
        load_generator(tmp_path / "x.ckpt")


def test_stratified_order_prefixes_follow_collection_shares() -> None:
    strata = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    order = stratified_order(strata, seed=3)
    assert sorted(order.tolist()) == list(range(100))
    assert np.array_equal(order, stratified_order(strata, seed=3))  # replayable
    assert not np.array_equal(order, stratified_order(strata, seed=4))
    labels = np.asarray(strata)
    for k in (5, 10, 37, 50):
        got = {s: int((labels[order[:k]] == s).sum()) for s in "abc"}
        for s, share in (("a", 0.6), ("b", 0.3), ("c", 0.1)):
            assert abs(got[s] - k * share) <= 1, (k, got)
    # not manifest order: the first ten are not rows 0..9
    assert sorted(order[:10].tolist()) != list(range(10))


def test_synth_draws_sources_at_random_stratified_by_collection(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    manifest, ckpt = trained
    df = load_manifest(manifest)
    src = np.flatnonzero(((df["split"] == "train") & (df["label"] == "normal")).to_numpy())
    assert src.size >= 4
    # the second half of the train normals (in manifest order) come from another collection
    ds = df["dataset"].to_numpy().copy()
    ds[src[src.size // 2 :]] = "other"
    two = tmp_path / "two.csv"
    save_manifest(df.assign(dataset=ds), two)
    picked = {}
    for seed in (0, 1):
        res = run_synth(checkpoint=ckpt, manifest=two, out_dir=tmp_path / f"s{seed}", n=2,
                        seed=seed, progress=False)
        out = load_manifest(res.manifest)
        assert sorted(out["dataset"]) == ["other+cyclegan", "tiny+cyclegan"]  # one of each
        picked[seed] = out["source_image"].tolist()
    first_rows = df["image_path"].iloc[src[:2]].tolist()
    assert picked[0] != first_rows or picked[1] != first_rows
