"""`cxr gan train` / `gan synth` under SIGTERM, a full disk, a read-only folder,
hostile checkpoints and a second run into the same folder.

Every failure must be one ``cxr:`` line with a non-zero exit code and leave no
temporary file; rerunning after the cause is gone must give the same result as the
uninterrupted reference run (bit-identical weights, byte-identical images).
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from faultkit import (
    GAN_ARGS,
    cxr,
    error_lines,
    leftovers,
    same_weights,
    spawn,
    terminate,
    wait_for,
)

CKPT = Path("checkpoints") / "last.ckpt"


def _train_args(out: Path) -> tuple[object, ...]:
    return ("gan", "train", "--manifest", "manifest.csv", "--out", out, *GAN_ARGS,
            "--cache-dir", "cache")


def test_reference_run_leaves_only_its_checkpoint(gan_reference: Path) -> None:
    assert sorted(os.listdir(gan_reference / "checkpoints")) == ["last.ckpt"]
    assert leftovers(gan_reference) == []


def test_sigterm_mid_training_exits_143_and_resumes_exactly(
    workdir: Path, gan_reference: Path
) -> None:
    out = workdir / "gan-term"
    proc = spawn(*_train_args(out), cwd=workdir)
    wait_for(lambda: (out / CKPT).is_file(), proc)  # at least one epoch done, more to go
    rc, err = terminate(proc, signal.SIGTERM)
    assert rc == 143, err
    lines = error_lines(err)
    assert len(lines) == 1 and "interrupted by SIGTERM" in lines[0], err
    assert leftovers(out) == []

    r = cxr(*_train_args(out), "--resume", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "resumed from epoch" in r.stderr
    assert same_weights(out / CKPT, gan_reference / CKPT)
    assert (out / "losses.csv").read_text() == (gan_reference / "losses.csv").read_text()


@pytest.mark.slow
def test_truncated_checkpoint_is_set_aside_not_resumed(workdir: Path, gan_reference: Path) -> None:
    out = workdir / "gan-truncated"
    shutil.copytree(gan_reference, out)
    data = (out / CKPT).read_bytes()
    (out / CKPT).write_bytes(data[: len(data) // 2])
    r = cxr(*_train_args(out), "--resume", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "last.ckpt.corrupt" in r.stderr and "starting from epoch 0" in r.stderr
    assert (out / "checkpoints" / "last.ckpt.corrupt").read_bytes() == data[: len(data) // 2]
    assert same_weights(out / CKPT, gan_reference / CKPT)


class _Evil:
    """Pickles as a call to os.system: what a booby-trapped checkpoint contains."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def _booby_trap(path: Path, marker: Path) -> None:
    import torch

    torch.save({"epoch": 3, "state_dict": {}, "cxr_gan": _Evil(marker)}, path)


def test_malicious_checkpoint_is_refused_by_synth(workdir: Path, tmp_path: Path) -> None:
    evil, marker = tmp_path / "evil.ckpt", tmp_path / "PWNED"
    _booby_trap(evil, marker)
    r = cxr("gan", "synth", "--n", "2", "--checkpoint", evil, "--manifest", "manifest.csv",
            "--out", tmp_path / "syn", "--device", "cpu", cwd=workdir)
    assert r.returncode == 2
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and str(evil) in lines[0] and "not a readable" in lines[0]
    assert not marker.exists()


@pytest.mark.slow
def test_malicious_checkpoint_is_never_resumed(workdir: Path, gan_reference: Path) -> None:
    out, marker = workdir / "gan-evil", workdir / "PWNED"
    shutil.copytree(gan_reference, out)
    _booby_trap(out / CKPT, marker)
    r = cxr(*_train_args(out), "--resume", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "refused to load" in r.stderr and "last.ckpt.corrupt" in r.stderr
    assert not marker.exists()
    assert same_weights(out / CKPT, gan_reference / CKPT)


def test_full_disk_is_one_line_and_a_rerun_finishes(
    workdir: Path, gan_reference: Path, tmpfs: object
) -> None:
    mnt = tmpfs("300k")  # type: ignore[operator]
    out = mnt / "gan"
    r = cxr(*_train_args(out), cwd=workdir)
    assert r.returncode == 1, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "No space left on device" in lines[0], r.stderr
    assert str(out) in lines[0]
    assert leftovers(out) == []
    assert not (out / CKPT).exists()

    tmpfs.remount(mnt, "size=16m")  # type: ignore[attr-defined]
    r = cxr(*_train_args(out), cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert same_weights(out / CKPT, gan_reference / CKPT)
    assert leftovers(out) == []


def _synth_args(gan: Path, out: Path, seed: int = 0) -> tuple[object, ...]:
    return ("gan", "synth", "--n", "30", "--checkpoint", gan / CKPT, "--manifest",
            "manifest.csv", "--out", out, "--seed", seed, "--batch-size", "4", "--device", "cpu")


def _images(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "images").glob("*.png"))}


def test_second_run_into_a_busy_folder_is_refused(workdir: Path, gan_reference: Path) -> None:
    out = workdir / "syn-busy"
    first = spawn(*_synth_args(gan_reference, out, seed=0), cwd=workdir)
    wait_for(lambda: (out / ".cxr.lock").is_file(), first)
    second = cxr(*_synth_args(gan_reference, out, seed=1), cwd=workdir)
    assert second.returncode == 2
    lines = error_lines(second.stderr)
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and "in use" in lines[0]
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert len(_images(out)) == 30 and not (out / ".cxr.lock").exists()
    # the finished folder belongs to seed 0: seed 1 is told to use another folder
    again = cxr(*_synth_args(gan_reference, out, seed=1), cwd=workdir)
    assert again.returncode == 2 and "seed" in error_lines(again.stderr)[0]


def test_read_only_folder_is_one_line_and_keeps_files(
    workdir: Path, gan_reference: Path, tmpfs: object
) -> None:
    mnt = tmpfs("4m")  # type: ignore[operator]
    out = mnt / "syn"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    tmpfs.remount(mnt, "ro")  # type: ignore[attr-defined]
    r = cxr(*_synth_args(gan_reference, out), cwd=workdir)
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "Read-only file system" in lines[0] and str(out) in lines[0]
    assert (out / "notes.txt").read_text() == "keep me"

    tmpfs.remount(mnt, "rw")  # type: ignore[attr-defined]
    ref = workdir / "syn-busy"
    if not (ref / "manifest.csv").is_file():  # run alone: make the uninterrupted reference
        assert cxr(*_synth_args(gan_reference, ref), cwd=workdir).returncode == 0
    r = cxr(*_synth_args(gan_reference, out), cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert _images(out) == _images(ref)


@pytest.mark.slow
def test_full_disk_during_synthesis_then_rerun_completes(
    workdir: Path, gan_reference: Path, tmpfs: object
) -> None:
    mnt = tmpfs("64k")  # type: ignore[operator]
    out = mnt / "syn"
    r = cxr(*_synth_args(gan_reference, out), cwd=workdir)
    assert r.returncode == 1
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and "No space left on device" in lines[0] and str(out) in lines[0]
    assert leftovers(out) == [] and not (out / "manifest.csv").exists()

    tmpfs.remount(mnt, "size=8m")  # type: ignore[attr-defined]
    ref = workdir / "syn-busy"
    if not (ref / "manifest.csv").is_file():
        assert cxr(*_synth_args(gan_reference, ref), cwd=workdir).returncode == 0
    r = cxr(*_synth_args(gan_reference, out), cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert _images(out) == _images(ref)
