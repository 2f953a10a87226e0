"""Training-step time at each intra-op thread count, idle and beside CPU-bound competitors.

Why cxr tries both counts under load instead of a fixed rule (cxr/runtime/threads.py,
``ThreadTuner``): whether one thread or all of them trains faster while other processes
keep the cores busy depends on the network. Each (network, threads) pair runs in its own
process: AdamW steps of a torchvision network (random init, 2 classes) on a random batch,
timed for ``--seconds`` after two warm-up steps, with cxr's OpenMP wait policy
(``OMP_WAIT_POLICY=PASSIVE``, ``GOMP_SPINCOUNT=20000``). Competitors are pure-Python loops,
one process each. Run on a machine nobody else is using; prints a markdown table:

    python benchmarks/threads_under_load.py
    python benchmarks/threads_under_load.py --networks vgg16 --image-size 128 --competitors 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time

from busy_machine import burn  # the same competitor (this folder is on sys.path)

NETWORKS = ("vgg16", "resnet50", "efficientnet_b0")


def _steps(network: str, threads: int, size: int, batch: int, seconds: float) -> None:
    """Child process: print seconds per training step and CPU/wall."""
    import torch
    import torchvision

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.get_model(network, weights=None, num_classes=2)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 2, (batch,))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):
        step()
    start, cpu0, n = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    wall = time.perf_counter() - start
    print(f"{wall / n:.4f} {(time.process_time() - cpu0) / wall:.2f}")


def measure(network: str, threads: int, args: argparse.Namespace) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(OMP_WAIT_POLICY="PASSIVE", KMP_BLOCKTIME="0", GOMP_SPINCOUNT="20000",
               OMP_NUM_THREADS=str(threads))
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import threads_under_load as t; "
            f"t._steps({network!r}, {threads}, {args.image_size}, {args.batch_size}, "
            f"{args.seconds})")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--threads", default=f"1,{os.cpu_count() or 1}")
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    counts = sorted({int(t) for t in args.threads.split(",")})
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = []
    for competitors in (0, args.competitors):
        stop = mp.Event()
        procs = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(competitors)]
        for p in procs:
            p.start()
        try:
            for network in networks:
                for n in counts:
                    step, cpu = measure(network, n, args)
                    rows.append((competitors, network, n, step, cpu))
                    print(f"competitors={competitors} {network} threads={n}: {step:.3f} s/step",
                          file=sys.stderr)
        finally:
            stop.set()
            for p in procs:
                p.join(timeout=10)
    print(f"\n{args.image_size} px, batch {args.batch_size}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, load average at start {load}\n")
    print("| competitors | network | threads | s/step | CPU/wall | x idle at max threads |")
    print("| --- | --- | --- | --- | --- | --- |")
    best_idle = {(net, n): s for c, net, n, s, _ in rows if c == 0}
    for c, net, n, step, cpu in rows:
        ref = best_idle.get((net, max(counts)))
        ratio = f"{step / ref:.2f}" if ref else ""
        print(f"| {c} | {net} | {n} | {step:.3f} | {cpu:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
