"""`cxr demo --fast` on an idle machine and beside competing CPU-bound processes, before/after.

"before": torch's old defaults, forced through the environment: as many intra-op threads as
cores and libgomp's default spin before sleeping (300,000 iterations; set explicitly because
cxr leaves a wait policy the user chose alone). "after": cxr's own choice (threads from the
CPUs this process may use, a short spin then passive waiting). Each configuration runs the
fast demo in a fresh folder (the image cache is shared and warmed first, so only compute is timed).

Run on a machine nobody else is using (results go to stdout as a markdown table for
docs/benchmarks.md):

    python benchmarks/busy_machine.py                 # 2 competitors, 1 repeat
    python benchmarks/busy_machine.py --competitors 2 --repeats 2 --keep work/busy
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _burn(stop: Any) -> None:
    """A CPU-bound competitor: pure-Python arithmetic until told to stop."""
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x = (x * 31 + i) % 1_000_003


def _env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME",
                        "GOMP_SPINCOUNT", "CXR_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    if mode == "before":  # what torch did by itself: every core, libgomp's default spin
        n = str(os.cpu_count() or 1)
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OMP_WAIT_POLICY="ACTIVE",
                   GOMP_SPINCOUNT="300000")
    return env


def run_demo(mode: str, out: Path) -> float:
    """Wall time of one fast demo; run in ``out.parent`` so that the image cache
    (``.cxr-cache`` in the working folder) is shared by all runs."""
    cmd = [sys.executable, "-m", "cxr.cli", "demo", "--fast", "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, env=_env(mode), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=out.parent)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="cxr-busy-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"warming up (first demo fills the caches) in {work}", file=sys.stderr)
    run_demo("after", work / "warmup")

    rows = []
    for load in (0, args.competitors):
        for mode in ("before", "after"):
            times = []
            for rep in range(args.repeats):
                stop = mp.Event()
                procs = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(load)]
                for p in procs:
                    p.start()
                try:
                    out = work / f"{mode}-load{load}-r{rep}"
                    shutil.rmtree(out, ignore_errors=True)
                    times.append(run_demo(mode, out))
                finally:
                    stop.set()
                    for p in procs:
                        p.join(timeout=10)
                print(f"{mode:6s} competitors={load}: {times[-1]:.1f} s", file=sys.stderr)
            rows.append((load, mode, min(times), sum(times) / len(times)))

    print(f"\n`cxr demo --fast`, {platform.node()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}, best/mean of {args.repeats}\n")
    print("| competing CPU-bound processes | threads | wall time (s), best | mean |")
    print("| --- | --- | --- | --- |")
    for load, mode, best, mean in rows:
        label = ("torch default (all cores, 300k-spin wait)" if mode == "before"
                 else "cxr (available CPUs, 20k spin then sleep)")
        print(f"| {load} | {label} | {best:.1f} | {mean:.1f} |")
    idle = {m: b for load, m, b, _ in rows if load == 0}
    busy = {m: b for load, m, b, _ in rows if load == args.competitors}
    for m in ("before", "after"):
        if m in idle and m in busy:
            print(f"\n{m}: busy/idle = {busy[m] / idle[m]:.2f}x")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
