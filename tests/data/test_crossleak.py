"""check_disjoint: an external set sharing a patient or a (near-)duplicate image is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxr.data.leakage.crossleak import check_disjoint, duplicate_pairs
from cxr.data.manifest import new_manifest
from cxr.runtime.errors import LeakageError


def _image(path: Path, seed: int, size: int = 64) -> Path:
    """Smooth random texture (16 x 16 noise, bicubic): distinct perceptual hashes per seed."""
    rng = np.random.default_rng(seed)
    noise = Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8))
    noise.resize((size, size), Image.Resampling.BICUBIC).save(path)
    return path


def _rows(tmp: Path, prefix: str, seeds: list[int], dataset: str) -> list[dict]:
    return [dict(image_path=str(_image(tmp / f"{prefix}{s}.png", s)),
                 patient_id=f"{dataset}:p{s}", label="normal" if s % 2 else "covid",
                 dataset=dataset, origin="real", split="train") for s in seeds]


def test_disjoint_sets_pass(tmp_path: Path) -> None:
    dev = new_manifest(_rows(tmp_path, "a", [1, 2, 3, 4], "a"))
    ext = new_manifest(_rows(tmp_path, "b", [11, 12, 13], "b"))
    rep = check_disjoint(dev, ext, name="ext")
    assert (rep.dev_patients, rep.eval_patients, rep.eval_images) == (4, 3, 3)
    assert "share no patient" in rep.summary()


def test_shared_patient_is_named_with_count(tmp_path: Path) -> None:
    dev = new_manifest(_rows(tmp_path, "a", [1, 2, 3], "a"))
    ext_rows = _rows(tmp_path, "b", [11, 12, 13], "b")
    ext_rows[1]["patient_id"] = ext_rows[2]["patient_id"] = "a:p2"
    with pytest.raises(LeakageError, match=r"ext: 1 patient\(s\) of the training data.*'a:p2'"):
        check_disjoint(dev, new_manifest(ext_rows), name="ext")


def test_gan_source_patient_counts_as_training_patient(tmp_path: Path) -> None:
    rows = _rows(tmp_path, "a", [1, 2], "a")
    rows.append(dict(rows[0], image_path=str(_image(tmp_path / "g.png", 99)), origin="gan",
                     patient_id="a:p1", source_patient="b:p12"))
    ext = new_manifest(_rows(tmp_path, "b", [11, 12], "b"))
    with pytest.raises(LeakageError, match="'b:p12'"):
        check_disjoint(new_manifest(rows), ext, name="ext")


def test_resized_copy_under_another_patient_is_a_duplicate(tmp_path: Path) -> None:
    dev = new_manifest(_rows(tmp_path, "a", [1, 2, 3, 4], "a"))
    ext_rows = _rows(tmp_path, "b", [11, 12, 13], "b")
    # collection b re-published a's image 3, re-encoded at another size
    copy = tmp_path / "copy.jpg"
    Image.open(tmp_path / "a3.png").resize((80, 80)).save(copy, quality=90)
    ext_rows.append(dict(ext_rows[0], image_path=str(copy), patient_id="b:other"))
    ext = new_manifest(ext_rows)
    assert duplicate_pairs(dev, ext) == [(2, 3)]
    with pytest.raises(LeakageError, match=r"ext: 1 image\(s\) duplicate training images.*copy"):
        check_disjoint(dev, ext, name="ext")
