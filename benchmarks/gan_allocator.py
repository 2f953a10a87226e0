"""The allocator gap: cxr's CycleGAN step vs the reference step, with and without tune_malloc.

Each measurement is its own process (the allocator's state is per process), and the
four arms (cxr / reference x glibc defaults / ``cxr.runtime.allocator.tune_malloc``)
alternate, round after round, so that a changing machine load falls on all of them;
the table gives medians over rounds of seconds, user and system CPU seconds and minor
page faults per timed step.

    nice -n 10 python benchmarks/gan_allocator.py --size 128 --ngf 16 --batch 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = [("cxr", False), ("reference", False), ("cxr", True), ("reference", True)]


def child(spec: dict) -> dict:
    if spec["malloc"]:
        from cxr.runtime.allocator import tune_malloc

        assert tune_malloc() is not None
    import torch

    sys.path.insert(0, str(HERE))
    import gpu_suite as gs

    torch.set_num_threads(spec["threads"])
    sizes = gs.Sizes(gan_size=spec["size"], gan_ngf=spec["ngf"], gan_blocks=spec["blocks"],
                     gan_batch=spec["batch"], warmup=spec["warmup"], min_steps=spec["steps"],
                     max_steps=spec["steps"], window_s=0.0)
    fn = gs.gan_cxr if spec["impl"] == "cxr" else gs.gan_reference
    rate, extra = fn(sizes, torch.device("cpu"), "32-true", False, False)
    return {**spec, "s_per_step": 1 / rate, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="")
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(child(json.loads(args.one))))
        return
    rows = []
    for r in range(args.rounds):
        arms = ARMS if r % 2 == 0 else ARMS[::-1]
        for impl, malloc in arms:
            spec = {"impl": impl, "malloc": malloc, "round": r, **{
                k: getattr(args, k) for k in ("size", "ngf", "blocks", "batch", "steps",
                                              "warmup", "threads")}}
            load = Path("/proc/loadavg").read_text().split()[0]
            proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)],
                                  capture_output=True, text=True)
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{impl} malloc={malloc} failed")
            row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": float(load)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\n{args.size} px, batch {args.batch}, ngf {args.ngf}, {args.blocks} blocks, fp32, "
          f"{args.threads} threads; {args.rounds} rounds x {args.steps} timed steps; medians")
    print("| step | allocator | s/step | user s/step | sys s/step | minor faults/step | load |")
    print("|---|---|---|---|---|---|---|")
    for impl, malloc in ARMS:
        sel = [x for x in rows if x["impl"] == impl and x["malloc"] == malloc]

        def med(k: str, sel: list = sel) -> float:
            return statistics.median(x[k] for x in sel)

        print(f"| {impl} | {'tune_malloc' if malloc else 'glibc defaults'} | "
              f"{med('s_per_step'):.2f} | {med('user_s_per_step'):.2f} | "
              f"{med('sys_s_per_step'):.2f} | {med('minflt_per_step'):,.0f} | "
              f"{min(x['load'] for x in sel):.1f}-{max(x['load'] for x in sel):.1f} |")


if __name__ == "__main__":
    main()
