"""cxr.runtime.allocator: glibc's thresholds are set once, and the CLI sets them at start-up."""

from __future__ import annotations

import platform

import pytest

from cxr.runtime import allocator

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)


@glibc
def test_tune_malloc_sets_both_thresholds_once() -> None:
    first = allocator.tune_malloc()
    assert first == {"mmap_threshold": allocator.MMAP_THRESHOLD,
                     "trim_threshold": allocator.TRIM_THRESHOLD}
    assert allocator.tune_malloc() is first


def test_not_glibc_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert allocator.tune_malloc() is None


def test_the_cli_tunes_malloc_at_start_up() -> None:
    from typer.testing import CliRunner

    from cxr.cli import app

    allocator._done = None
    CliRunner().invoke(app, ["data", "split", "/nonexistent.csv", "--out", "/nonexistent/x"])
    expected = None if platform.libc_ver()[0] != "glibc" else allocator.MMAP_THRESHOLD
    got = allocator._done["mmap_threshold"] if allocator._done else None
    assert got == expected
