"""The checks behind "a damaged checkpoint is never resumed", and named disk errors (in-process)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from cxr.runtime.files import atomic_torch_save, atomic_write_bytes, checkpoint_problem, set_aside


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_problem_tells_good_from_truncated_corrupt_and_unsafe(tmp_path: Path) -> None:
    good = tmp_path / "good.ckpt"
    atomic_torch_save({"epoch": 2, "state_dict": {"w": torch.arange(300.0)}}, good)
    assert checkpoint_problem(good) is None
    data = good.read_bytes()

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) - 200])
    assert "truncated" in (checkpoint_problem(truncated) or "")

    flipped = bytearray(data)
    at = data.index(torch.arange(300.0).numpy().tobytes()[8:16])  # inside the tensor payload
    flipped[at] ^= 0xFF
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(bytes(flipped))
    assert "corrupt archive member" in (checkpoint_problem(corrupt) or "")

    evil, marker = tmp_path / "evil.ckpt", tmp_path / "PWNED"
    torch.save({"epoch": 1, "x": _Evil(marker)}, evil)
    assert "refused to load" in (checkpoint_problem(evil) or "")
    assert not marker.exists()
    assert checkpoint_problem(tmp_path / "absent.ckpt") == "missing"


def test_set_aside_never_overwrites(tmp_path: Path) -> None:
    for k in range(3):
        (tmp_path / "last.ckpt").write_text(str(k))
        set_aside(tmp_path / "last.ckpt")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["last.ckpt.corrupt", "last.ckpt.corrupt.1", "last.ckpt.corrupt.2"]


def test_disk_errors_name_the_destination_and_leave_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "ckpt" / "last.ckpt"
    with pytest.raises(OSError) as info:
        atomic_write_bytes(target, b"x" * 10)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(target.parent.iterdir()) == []
