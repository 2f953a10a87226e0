"""Leave-one-dataset-out folds: held-out collection in test only, links dropped, reasons given."""

from __future__ import annotations

import pytest

from cxr.data.leakage.checks import check_leakage
from cxr.data.leakage.folds import build_fold, build_folds, fold_datasets
from cxr.data.manifest import new_manifest
from cxr.runtime.errors import ConfigError, ManifestError


def _rows(dataset: str, labels: dict[str, int], start: int = 0) -> list[dict]:
    """Two images per patient; patients cycle through train, train, val, test."""
    rows, p = [], start
    for label, n in labels.items():
        for _ in range(n):
            split = ("train", "train", "val", "test")[p % 4]
            for k in range(2):
                rows.append(dict(image_path=f"/{dataset}/p{p}_{k}.png",
                                 patient_id=f"{dataset}:p{p}", label=label, dataset=dataset,
                                 origin="real", split=split, content_hash=f"{dataset}{p}{k}"))
            p += 1
    return rows


def _manifest() -> list[dict]:
    # a: both classes; b: covid only; c: normal and pneumonia only
    return (_rows("a", {"covid": 8, "normal": 8}) + _rows("b", {"covid": 8})
            + _rows("c", {"normal": 8, "pneumonia": 4}))


def test_one_fold_per_covid_collection() -> None:
    df = new_manifest(_manifest())
    assert fold_datasets(df) == ["a", "b"]
    folds = build_folds(df)
    assert [f.name for f in folds] == ["a", "b"]
    for f in folds:
        assert f.manifest is not None
        check_leakage(f.manifest)
        test = f.manifest[f.manifest["split"] == "test"]
        train_val = f.manifest[f.manifest["split"].isin(["train", "val"])]
        assert f.name not in set(train_val["dataset"])  # never trained or validated on
        assert set(f.manifest.loc[f.manifest["dataset"] == f.name, "split"]) == {"test"}
        assert len(test[test["dataset"] == f.name]) == (f.manifest["dataset"] == f.name).sum()


def test_both_class_collection_is_tested_alone() -> None:
    fold = build_fold(new_manifest(_manifest()), "a")
    test = fold.manifest[fold.manifest["split"] == "test"]
    assert set(test["dataset"]) == {"a"} and len(test) == 32
    assert fold.counts["borrowed_negatives"] == 0 and fold.counts["test_covid"] == 16


def test_single_class_collection_borrows_unseen_negatives_and_says_so() -> None:
    df = new_manifest(_manifest())
    fold = build_fold(df, "b")
    m = fold.manifest
    test = m[m["split"] == "test"]
    borrowed = test[test["dataset"] != "b"]
    assert set(borrowed["label"]) <= {"normal", "pneumonia"} and len(borrowed)
    # only the other collections' own test rows are borrowed: never a train/val patient
    orig = df.set_index("image_path").loc[borrowed["image_path"], "split"]
    assert set(orig) == {"test"}
    assert fold.counts["borrowed_negatives"] == len(borrowed)
    assert any("compares sources" in n for n in fold.notes)


def test_duplicates_and_shared_patients_of_held_out_are_dropped() -> None:
    rows = _manifest()
    # an image of c re-published in a (same content hash), and a c patient also seen in a
    c_train = next(r for r in rows if r["dataset"] == "c" and r["split"] == "train")
    a_img = next(r for r in rows if r["dataset"] == "a")
    c_train["content_hash"] = a_img["content_hash"]
    c_val = next(r for r in rows if r["dataset"] == "c" and r["split"] == "val")
    c_val["patient_id"] = "a:p0"
    c_val["split"] = a_img["split"]
    fold = build_fold(new_manifest(rows), "a")
    m = fold.manifest
    used = m[m["split"] != ""]
    assert c_train["image_path"] not in set(used["image_path"])
    assert c_val["image_path"] not in set(used["image_path"])
    assert fold.counts["dropped_linked"] == 2
    check_leakage(m)


def test_impossible_fold_has_a_reason_and_all_impossible_is_an_error() -> None:
    rows = _rows("a", {"covid": 8}) + _rows("c", {"normal": 8})
    folds = None
    with pytest.raises(ConfigError, match="no leave-one-dataset-out fold can be trained.*a:"):
        folds = build_folds(new_manifest(rows))
    assert folds is None
    fold = build_fold(new_manifest(rows), "a")
    assert fold.manifest is None and "no covid image is left in train" in fold.reason


def test_needs_split_manifest_and_two_collections() -> None:
    rows = _rows("a", {"covid": 8, "normal": 8})
    with pytest.raises(ConfigError, match="at least two collections"):
        build_folds(new_manifest(rows))
    for r in rows:
        r["split"] = ""
    with pytest.raises(ManifestError, match="split manifest"):
        build_folds(new_manifest(rows))
