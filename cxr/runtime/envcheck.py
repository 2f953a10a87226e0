"""Post-install sanity check: torch and torchvision must be a matched pair.

A torchvision wheel built against one torch build fails at import time against
another ("operator torchvision::nms does not exist"). Catch that right after
install with a message that says what to do, instead of deep inside training.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import torch
        import torchvision
        from torchvision.ops import nms

        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        nms(boxes, torch.tensor([1.0]), 0.5)
    except Exception as exc:  # noqa: BLE001 - any failure here means a broken install
        print(
            f"cxr: torch/torchvision install is broken ({type(exc).__name__}: {exc}). "
            "Install them as a matched pair from the same index, e.g. "
            "`pip install --force-reinstall torch torchvision`.",
            file=sys.stderr,
        )
        return 1
    print(f"cxr: torch {torch.__version__}, torchvision {torchvision.__version__}: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
