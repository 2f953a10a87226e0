"""Out-of-range options, a failed sweep cell, lost patient ids and a reused folder with
another config: one ``cxr: error:`` line each, through the real entry point ``cxr.cli.main``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cxr import cli


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: object) -> tuple[int, list[str]]:
    monkeypatch.setattr(sys, "argv", ["cxr", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return int(exit_info.value.code or 0), lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("classify", "--lr", "-1"), "--lr must be > 0, got -1.0"),
        (("classify", "--workers", "-1"), "--workers must be >= 0, got -1"),
        (("export", "--checkpoint", "x.ckpt", "--onnx", "x.onnx", "--opset", "3"),
         "--opset must be between 9 and 20, got 3"),
        (("gan", "train", "--manifest", "m.csv", "--steps-per-epoch", "-1"),
         "--steps-per-epoch must be >= 0, got -1"),
    ],
)
def test_out_of_range_option_is_one_line(
    args: tuple[str, ...], message: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    if args[0] in ("classify", "gan"):
        args = (*args, "--out", str(tmp_path / "run"))
    code, lines = run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("cxr: error: ") and message in lines[0]


def test_sweep_with_failed_cells_exits_1_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cxr.pipelines.ablate import run_ablate as ablate

    def fake_sweep(cfg: object) -> ablate.SweepResult:
        out = Path(cfg.out)  # type: ignore[attr-defined]
        return ablate.SweepResult(out, out / "results.csv", {"done": 3, "failed": 1},
                                  failed=["resnet18-r0.3-s1-abcd1234"])

    monkeypatch.setattr(ablate, "run_ablate", fake_sweep)
    code, lines = run_main(monkeypatch, capsys, "ablate", "--manifest", "m.csv",
                           "--out", tmp_path / "sweep")
    assert code == 1
    assert len(lines) == 1 and "1 sweep cell(s) failed (resnet18-r0.3-s1-abcd1234" in lines[0]
    assert "error.txt" in lines[0]


@pytest.mark.parametrize("bad_id", ["NaN", "", "phantoms:nan", "None"])
def test_lost_patient_id_is_rejected_naming_the_row(
    bad_id: str, workdir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import pandas as pd

    df = pd.read_csv(workdir / "manifest.csv", dtype=str, keep_default_na=False)
    df["image_path"] = [str(workdir / p) for p in df["image_path"]]
    df.loc[3, "patient_id"] = bad_id
    path = tmp_path / "manifest.csv"
    df.to_csv(path, index=False)
    code, lines = run_main(monkeypatch, capsys, "data", "split", path)
    assert code == 2
    assert len(lines) == 1 and "row 5 (" in lines[0] and "patient_id" in lines[0], lines


def test_folder_of_another_classify_config_is_not_reused(
    workdir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from cxr.config import ClassifyConfig, save_config

    out = tmp_path / "run"
    save_config(ClassifyConfig(manifest=str(workdir / "manifest.csv"), seed=0), out)
    code, lines = run_main(monkeypatch, capsys, "classify", "--manifest",
                           workdir / "manifest.csv", "--seed", "1", "--out", out)
    assert code == 2
    assert len(lines) == 1 and "different config (seed)" in lines[0] and "new --out" in lines[0]
