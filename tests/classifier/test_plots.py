"""Evaluation figures: files written atomically, valid PNGs, numbers consistent with metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxr.classifier.metrics import evaluate
from cxr.classifier.plots import reliability_table, save_all
from cxr.runtime.errors import ConfigError


def _preds(n: int, n_cls: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_cls, n)
    logits = rng.normal(size=(n, n_cls))
    logits[np.arange(n), y] += 1.0
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("classes", [["normal", "covid"], ["covid", "pneumonia", "normal"]])
def test_save_all_writes_pngs(tmp_path: Path, classes: list[str]) -> None:
    y, p = _preds(120, len(classes))
    out = save_all(y, p, classes, tmp_path / "plots", positive="covid", threshold=0.4)
    assert set(out) == {"roc", "pr", "confusion", "calibration"}
    for name, path in out.items():
        assert path == tmp_path / "plots" / f"{name}.png"
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 300
    # atomic writes leave no temporary siblings behind
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == sorted(
        f"{n}.png" for n in out)


def test_reliability_table_matches_metrics_ece() -> None:
    y, p = _preds(300, 3, seed=1)
    p = np.round(p, 2)  # values on bin edges (0.4 = 6/15) exercise the binning rule
    p[:, 2] = 1 - p[:, :2].sum(1)
    p = np.clip(p, 0, 1)
    p /= p.sum(1, keepdims=True)
    count, acc, conf, ece = reliability_table(y, p)
    res = evaluate(y, p, [str(i) for i in range(y.size)], ["covid", "pneumonia", "normal"],
                   n_boot=0)
    assert ece == pytest.approx(res["ece"], abs=1e-6)
    assert count.sum() == y.size and count.shape == (15,)
    assert ((acc >= 0) & (acc <= 1)).all()
    assert (conf[count > 0] >= 1 / 3 - 1e-9).all()  # top-label confidence of 3 classes


def test_class_absent_from_y_true_is_skipped_not_fatal(tmp_path: Path) -> None:
    y, p = _preds(60, 3, seed=2)
    y[y == 1] = 0  # no "pneumonia" in truth: its one-vs-rest curves are undefined
    out = save_all(y, p, ["covid", "pneumonia", "normal"], tmp_path)
    assert all(path.is_file() for path in out.values())


def test_bad_input(tmp_path: Path) -> None:
    y, p = _preds(20, 2)
    with pytest.raises(ConfigError, match="positive class 'covid' not in"):
        save_all(y, p, ["a", "b"], tmp_path)
    with pytest.raises(ConfigError, match="shape"):
        save_all(y, p, ["covid", "b", "c"], tmp_path)
    assert not any(tmp_path.iterdir())
