"""Maps per second: fast batched Grad-CAM vs pytorch-grad-cam, and input-gradient saliency.

Random weights and random images (speed does not depend on training), so it
runs anywhere. Prints a markdown table row per method for docs/benchmarks.md,
plus the max abs difference between the fast and the library Grad-CAM maps.

    .venv/bin/python benchmarks/explain_speed.py --backbone resnet18 --size 224 --images 64
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import numpy as np
import torch

from cxr.classifier import create_backbone
from cxr.explain import explain_batch


def _time(
    fn, images: torch.Tensor, target: torch.Tensor, batch: int, device: torch.device
) -> float:
    fn(images[:batch], target[:batch])  # warm-up (allocations, cuDNN autotune)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, len(images), batch):
        fn(images[s : s + batch], target[s : s + batch])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--methods", default="gradcam,gradcam++,saliency")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_backbone(args.backbone, 2, pretrained="none", in_chans=1).to(device).eval()
    images = (torch.rand(args.images, 1, args.size, args.size) * 2 - 1).to(device)
    target = torch.randint(0, 2, (args.images,), device=device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu"
    )
    print(
        f"# {datetime.date.today()} {args.backbone} {args.size}px batch {args.batch}, "
        f"{args.images} images, device {device} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print("| method | engine | maps/s |")
    print("|---|---|---|")
    for method in args.methods.split(","):
        engines = ("fast", "library") if method.startswith("gradcam") else ("fast",)
        for engine in engines:

            def fn(x: torch.Tensor, t: torch.Tensor, m: str = method, e: str = engine) -> object:
                return explain_batch(model, x, t, method=m, engine=e)

            rate = _time(fn, images, target, args.batch, device)
            shown = engine if method.startswith("gradcam") else "autograd"
            print(f"| {method} | {shown} | {rate:.1f} |")
    fast, _ = explain_batch(model, images[: args.batch], target[: args.batch], method="gradcam")
    ref, _ = explain_batch(
        model, images[: args.batch], target[: args.batch], method="gradcam", engine="library"
    )
    print(f"max |fast - library| Grad-CAM: {float(np.abs(fast - ref).max()):.2e}")


if __name__ == "__main__":
    main()
