"""check_leakage: each kind of leak is refused with a message naming patient/row."""

from __future__ import annotations

import pytest

from cxr.data.leakage.checks import check_leakage
from cxr.data.manifest import new_manifest
from cxr.runtime.errors import LeakageError


def clean_rows() -> list[dict]:
    rows = []
    for i, split in enumerate(["train", "train", "val", "test"]):
        for k in range(2):
            rows.append(
                dict(image_path=f"/x/p{i}_{k}.png", patient_id=f"ds:p{i}", label="normal",
                     dataset="ds", origin="real", split=split, content_hash=f"{i}{k}" * 32,
                     duplicate_group="", source_patient="")
            )
    rows.append(dict(image_path="/g/0.png", patient_id="gan:p0", label="covid", dataset="gan",
                     origin="gan", split="train", content_hash="ab" * 32, duplicate_group="",
                     source_patient="ds:p0"))
    return rows


def test_clean_manifest_passes() -> None:
    rows = clean_rows()
    rows[0]["duplicate_group"] = rows[1]["duplicate_group"] = "dup-00001"
    rows.append(dict(rows[0], image_path="/x/unsplit.png", split="", patient_id="ds:p2"))
    rep = check_leakage(new_manifest(rows))
    assert rep.patients == {"train": 3, "val": 1, "test": 1}
    assert rep.gan_rows == 1 and rep.duplicate_groups == 1 and rep.unsplit_rows == 1
    assert "leakage check passed" in rep.summary()


def test_patient_in_two_splits() -> None:
    rows = clean_rows()
    rows[3]["split"] = "test"  # second image of ds:p1 (line 5)
    with pytest.raises(LeakageError, match=r"patient 'ds:p1'.*row 5 \(/x/p1_1.png\)"):
        check_leakage(new_manifest(rows))


def test_gan_outside_train() -> None:
    rows = clean_rows()
    rows[-1]["split"] = "val"
    with pytest.raises(LeakageError, match=r"row 10 \(/g/0.png\): origin=gan is in split 'val'"):
        check_leakage(new_manifest(rows))


def test_gan_source_must_be_train_patient() -> None:
    rows = clean_rows()
    rows[-1]["source_patient"] = "ds:p3"  # a test patient
    with pytest.raises(LeakageError, match="derived from patient 'ds:p3'"):
        check_leakage(new_manifest(rows))
    rows[-1]["source_patient"] = ""
    with pytest.raises(LeakageError, match="<empty>"):
        check_leakage(new_manifest(rows))
    no_col = new_manifest(clean_rows()).drop(columns=["source_patient"])
    with pytest.raises(LeakageError, match="without a source_patient column"):
        check_leakage(no_col)


def test_duplicate_group_across_splits() -> None:
    rows = clean_rows()
    rows[0]["duplicate_group"] = rows[4]["duplicate_group"] = "dup-00007"
    with pytest.raises(LeakageError, match=r"dup-00007.*train, val.*/x/p2_0.png"):
        check_leakage(new_manifest(rows))


def test_identical_content_across_splits() -> None:
    rows = clean_rows()
    rows[6]["content_hash"] = rows[0]["content_hash"]
    with pytest.raises(LeakageError, match=r"identical image.*test, train.*/x/p3_0.png"):
        check_leakage(new_manifest(rows))
