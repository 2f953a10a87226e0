"""The one device resolver: ``auto`` -> CUDA when available, else CPU; anything else checked.

Used by every command that runs a network outside a Lightning Trainer (synthesis,
prediction, evaluation, explanation). torch is imported on call, so this base module
stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cxr.errors import ConfigError

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
