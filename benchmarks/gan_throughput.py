"""CycleGAN training throughput: the fast path vs plain fp32 / eager / batch 1.

Runs the real ``CycleGANModule`` training step (both generators, both
discriminators, pools) under Lightning on uint8 batches from an in-memory
array standing in for the cache, with the on-device conversion/augmentation
of the real pipeline. Each configuration runs in its own process so peak
memory is its own: CUDA ``max_memory_allocated`` on a GPU, peak RSS on CPU.

    python benchmarks/gan_throughput.py --size 64 --ngf 16 --steps 12
    python benchmarks/gan_throughput.py --size 256 --ngf 64 --steps 50   # GPU

Prints a table and, with ``--json PATH``, writes the results.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

CONFIGS = [
    {"name": "baseline fp32, eager, batch 1", "precision": "32-true", "batch": 1, "compile": False},
    {"name": "fp32, eager, batch 8", "precision": "32-true", "batch": 8, "compile": False},
    {"name": "bf16-mixed, eager, batch 8", "precision": "bf16-mixed", "batch": 8, "compile": False},
    {
        "name": "bf16-mixed, compile, batch 8",
        "precision": "bf16-mixed",
        "batch": 8,
        "compile": True,
    },
]


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    import lightning as L
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from cxr.config import GanConfig
    from cxr.cyclegan.domains import Domains, UnpairedBatches, UnpairedSampler
    from cxr.pipelines.gan.train_gan import build_module, build_networks

    size, bs = spec["size"], spec["batch"]
    cfg = GanConfig(
        image_size=size,
        ngf=spec["ngf"],
        ndf=spec["ngf"],
        batch_size=bs,
        precision=spec["precision"],
    )
    nets = build_networks(cfg)
    if spec["compile"]:
        for n in nets.values():
            n.compile()
    module = build_module(nets, cfg)
    n_img = 64
    images = np.random.default_rng(0).integers(0, 256, (n_img, size, size), dtype=np.uint8)
    dom = Domains(a=np.arange(32), b=np.arange(32, 64), source=("normal",), target="covid")
    warm, steps = spec["warmup"], spec["steps"]
    sampler = UnpairedSampler(32, 32, bs, warm + steps, seed=0)
    loader = DataLoader(UnpairedBatches(images, dom), sampler=sampler, batch_size=None)
    times: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_start(self, *a: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    trainer = L.Trainer(
        max_steps=2 * (warm + steps),
        max_epochs=1,
        precision=spec["precision"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Clock()],
        accelerator="auto",
        devices=1,
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(module, train_dataloaders=loader)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    end = time.perf_counter()
    timed = end - times[warm]
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
        device = torch.cuda.get_device_name()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        device = f"CPU ({torch.get_num_threads()} threads)"
    return {**spec, "images_per_s": steps * bs / timed, "peak_mib": peak, "device": device}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default="")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    from rich.console import Console
    from rich.table import Table

    results = []
    for c in CONFIGS:
        spec = {**c, "size": args.size, "ngf": args.ngf, "steps": args.steps, "warmup": args.warmup}
        proc = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            results.append({**spec, "error": tail})
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base = next((r for r in results if "images_per_s" in r), None)
    t = Table(title=f"CycleGAN training throughput, {args.size}px, ngf=ndf={args.ngf}")
    for col in ("configuration", "images/s", "speed-up", "peak MiB"):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    for r in results:
        if "error" in r:
            t.add_row(r["name"], "failed", "", r["error"][:40])
            continue
        t.add_row(
            r["name"],
            f"{r['images_per_s']:.2f}",
            f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base else "",
            f"{r['peak_mib']:.0f}",
        )
    Console().print(t)
    if base:
        print(f"device: {base['device']}")
    if args.json:
        from cxr.runtime.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
