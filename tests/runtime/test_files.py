from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cxr.runtime.files import atomic_open, atomic_save, atomic_write_text


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp left behind


def test_atomic_outputs_get_normal_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_save(tmp_path / "b.bin", lambda p: Path(p).write_bytes(b"y"))
    finally:
        os.umask(mask)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_safe_torch_load_names_the_file_and_the_problem(tmp_path: Path) -> None:
    import torch

    from cxr.runtime.errors import CheckpointError
    from cxr.runtime.files import safe_torch_load

    good = tmp_path / "w.pt"
    torch.save({"a": torch.ones(2)}, good)
    assert torch.equal(safe_torch_load(good)["a"], torch.ones(2))
    with pytest.raises(CheckpointError, match=r"weights file not found: .*nope\.pt"):
        safe_torch_load(tmp_path / "nope.pt", what="weights file")
    text = tmp_path / "m.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(CheckpointError, match=r"m\.csv: not a readable checkpoint \(not a PyTorch"):
        safe_torch_load(text)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a readable checkpoint"):
        safe_torch_load(cut)
