"""Classifier training throughput: the cxr cached path vs a plain torchvision loop.

For each backbone, times ``--steps`` optimisation steps (after ``--warmup``) of

* **cxr**: ``XrayDataset`` over the memory-mapped uint8 cache
  (:mod:`cxr.data.images.cache`), one grey channel with the ImageNet normalisation
  folded into the first conv (:mod:`cxr.classifier.stem`), optional autocast
  (``--precision bf16``/``fp16``) and ``channels_last`` (``--channels-last``);
* **baseline**: a plain fp32 eager torchvision loop that decodes each PNG with
  PIL on every step, resizes it, repeats it to RGB and normalises it
  (``torchvision.transforms``), as a first script would.

Both use AdamW, cross-entropy, the same batch size and DataLoader workers.
Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/classifier_throughput.py --manifest M.csv \
        --backbones resnet18,efficientnet_b0 --image-size 64 --batch-size 32 --steps 10
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class DecodeEveryStep(Dataset):
    """PIL decode + resize + RGB + ImageNet normalisation on every access."""

    def __init__(self, paths: list[str], labels: list[int], size: int) -> None:
        from torchvision import transforms as T

        self.paths, self.labels = paths, labels
        self.tf = T.Compose([
            T.Resize((size, size)), T.Grayscale(num_output_channels=3), T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            return self.tf(im.convert("L")), self.labels[i]


def _cycle(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def _time(step: Callable[[Any], None], loader: DataLoader, warmup: int, steps: int,
          bs: int, device: torch.device) -> float:
    it = _cycle(loader)
    for _ in range(warmup):
        step(next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * bs / (time.perf_counter() - t)


def bench(name: str, args: argparse.Namespace, df: Any, cache: Any) -> tuple[float, float]:
    from torchvision import models as tvm

    from cxr.classifier import create_backbone
    from cxr.data.images.dataset import XrayDataset

    device = torch.device(args.device)
    targets = (df["label"] == "covid").astype(int).to_numpy()
    kw = {"batch_size": args.batch_size, "shuffle": True, "num_workers": args.workers,
          "drop_last": True, "persistent_workers": args.workers > 0}
    memfmt = torch.channels_last if args.channels_last else torch.contiguous_format
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)

    torch.manual_seed(0)
    model = create_backbone(name, 2).to(device).train().to(memory_format=memfmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def ours(batch: dict[str, Any]) -> None:
        x = batch["image"].to(device, non_blocking=True).to(memory_format=memfmt)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), batch["label"].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ds = XrayDataset(df, cache, targets=targets)
    r_ours = _time(ours, DataLoader(ds, **kw), args.warmup, args.steps, args.batch_size, device)

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "inception_v3" else {}
    ref = tvm.get_model(name, num_classes=2, **kwargs).to(device).train()
    ropt = torch.optim.AdamW(ref.parameters(), lr=1e-4)

    def baseline(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        out = ref(x.to(device))
        loss = torch.nn.functional.cross_entropy(out, y.to(device))
        ropt.zero_grad(set_to_none=True)
        loss.backward()
        ropt.step()

    plain = DecodeEveryStep(df["image_path"].tolist(), targets.tolist(), args.image_size)
    r_base = _time(baseline, DataLoader(plain, **kw), args.warmup, args.steps, args.batch_size,
                   device)
    return r_ours, r_base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--backbones", default="resnet18,efficientnet_b0,resnet50")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    p.add_argument("--cache-dir", default=".cxr-cache")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from cxr.data.images.cache import build_cache
    from cxr.data.manifest import load_manifest

    df = load_manifest(args.manifest)
    df = df[df["origin"] == "real"].reset_index(drop=True)
    cache = build_cache(df, image_size=args.image_size, cache_dir=args.cache_dir, progress=False)
    dev = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else (
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    print(f"device: {dev}; date: {datetime.date.today()}; {len(df)} images; "
          f"{args.image_size} px; batch {args.batch_size}; {args.steps} timed steps; "
          f"workers {args.workers}; cxr precision {args.precision}"
          f"{', channels_last' if args.channels_last else ''}")
    print("| backbone | cxr cached (img/s) | torchvision decode-every-step fp32 (img/s) | ratio |")
    print("|---|---|---|---|")
    for name in args.backbones.split(","):
        ours, base = bench(name.strip(), args, df, cache)
        print(f"| {name} | {ours:,.1f} | {base:,.1f} | {ours / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
