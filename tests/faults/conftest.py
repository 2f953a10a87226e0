"""Fixtures of the fault tests (see faultkit.py for why they are shaped this way)."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import GAN_ARGS, _mounted, cxr


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny split phantom dataset (24 patients, 32 px) and a warm image cache."""
    from support.classify_fixtures import make_split_manifest

    root = tmp_path_factory.mktemp("faults")
    make_split_manifest(root, patients=24, size=32)
    return root


@pytest.fixture(scope="session")
def gan_reference(workdir: Path) -> Path:
    """An uninterrupted `cxr gan train` run: what every interrupted run must reproduce."""
    out = workdir / "gan-ref"
    r = cxr("gan", "train", "--manifest", "manifest.csv", "--out", out, *GAN_ARGS,
            "--cache-dir", "cache", cwd=workdir)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[object]:
    """``tmpfs(size, read_only=False)`` -> a freshly mounted folder; ``.remount(opts)``."""
    stack = contextlib.ExitStack()

    class Mounts:
        def __call__(self, size: str, *, read_only: bool = False) -> Path:
            path = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
            return stack.enter_context(_mounted(path, size, read_only=read_only))

        @staticmethod
        def remount(path: Path, opts: str) -> None:
            subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)

    with stack:
        yield Mounts()


