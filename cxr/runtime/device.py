"""The one device resolver: ``auto`` -> CUDA when available, else CPU; anything else checked.

Used by every command that runs a network outside a Lightning Trainer (synthesis,
prediction, evaluation, explanation). torch is imported on call, so this base module
stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(spec: str, option: str = "--device") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a usable ``torch.device``.

    An unknown name, or CUDA on a machine without it, is a :class:`ConfigError` naming
    ``option``.
    """
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"{option}: not a device: {spec!r} (use auto, cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option} {spec}: CUDA is not available on this machine")
    return dev


def native_cpu_bf16() -> bool:
    """Whether this CPU runs bf16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without the check
        return True  # unknown: no warning


def cpu_bf16_note(precision: str, accelerator: str) -> str | None:
    """A warning when bf16 would run on a CPU without native bf16 instructions.

    On such CPUs (no AVX512-BF16 / AMX, e.g. an AVX2-only machine) oneDNN emulates bf16 and
    autocast is many times slower than float32 (a VGG16 step at 64 px: minutes instead of
    seconds on 2 AVX2 cores), so ``32-true`` is the better choice there.
    """
    if not str(precision).startswith("bf16"):
        return None
    import torch

    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if not on_cpu:
        return None
    if native_cpu_bf16():
        return None
    cap = torch.backends.cpu.get_cpu_capability()
    return (f"--precision {precision} on a CPU without native bf16 ({cap}): emulated, many "
            "times slower than --precision 32-true")
