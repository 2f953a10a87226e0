"""Device helpers: warnings about precision choices that would be slow on this machine."""

from __future__ import annotations

import pytest


def test_bf16_on_a_cpu_without_native_bf16_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast is emulated (many times slower) on CPUs without AVX512-BF16/AMX."""
    import cxr.runtime.device as device

    monkeypatch.setattr(device, "native_cpu_bf16", lambda: False)
    note = device.cpu_bf16_note("bf16-mixed", "cpu")
    assert note is not None and "--precision bf16-mixed" in note and "32-true" in note
    assert device.cpu_bf16_note("32-true", "cpu") is None
    assert device.cpu_bf16_note("bf16-mixed", "gpu") is None
    monkeypatch.setattr(device, "native_cpu_bf16", lambda: True)
    assert device.cpu_bf16_note("bf16-mixed", "cpu") is None
    monkeypatch.undo()
    assert isinstance(device.native_cpu_bf16(), bool)  # the real check runs on this machine
