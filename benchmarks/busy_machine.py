"""`cxr demo --fast` on an idle machine and beside competing CPU-bound processes, before/after.

"before": torch's old defaults, forced through the environment: as many intra-op threads as
cores and libgomp's default spin before sleeping (300,000 iterations; set explicitly because
cxr leaves a wait policy the user chose alone). "fixed": cxr's wait policy (a short spin then
passive waiting) with the thread count pinned to every core through OMP_NUM_THREADS, so
that cxr does not follow the load (what cxr did until 2026-12-02). "after": cxr's own
choice (the CPUs this process may use less those other processes keep busy, followed
between epochs, with a short trial of both counts under load; cxr/runtime/threads.py). Each
configuration runs the fast demo in a fresh folder (the image cache is shared and warmed
first, so only compute is timed); its log is kept there as demo.log.

Run on a machine nobody else is using (results go to stdout as a markdown table for
docs/benchmarks.md):

    python benchmarks/busy_machine.py                 # 2 competitors, 1 repeat
    python benchmarks/busy_machine.py --competitors 2 --repeats 2 --keep work/busy
    python benchmarks/busy_machine.py --modes fixed,after --repeats 3
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


def burn(stop: Any) -> None:
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
    n = str(os.cpu_count() or 1)
    if mode == "before":  # what torch did by itself: every core, libgomp's default spin
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OMP_WAIT_POLICY="ACTIVE",
                   GOMP_SPINCOUNT="300000")
    elif mode == "fixed":  # cxr's wait policy, every core whatever the load
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
    return env


LABELS = {
    "before": "torch default (all cores, 300k-spin wait)",
    "fixed": "all cores, 20k spin then sleep (cxr until 2026-12-02)",
    "after": "cxr (free CPUs, followed between epochs; 20k spin then sleep)",
}


def run_demo(mode: str, out: Path) -> float:
    """Wall time of one fast demo; run in ``out.parent`` so that the image cache
    (``.cxr-cache`` in the working folder) is shared by all runs."""
    cmd = [sys.executable, "-m", "cxr.cli", "demo", "--fast", "--out", str(out)]
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out / "demo.log", "w") as log:
        subprocess.run(cmd, env=_env(mode), check=True, stdout=log, stderr=subprocess.STDOUT,
                       cwd=out.parent)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--modes", default="before,after",
                    help="comma list of: " + ", ".join(LABELS))
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: temp)")
    args = ap.parse_args()

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(LABELS))
    if unknown:
        ap.error(f"unknown mode(s) {', '.join(unknown)} (valid: {', '.join(LABELS)})")
    load_note = "load average before the runs: " + " ".join(
        f"{v:.2f}" for v in os.getloadavg())
    work = args.keep or Path(tempfile.mkdtemp(prefix="cxr-busy-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"warming up (first demo fills the caches) in {work}", file=sys.stderr)
    run_demo("after", work / "warmup")

    rows = []
    for load in (0, args.competitors):
        for mode in modes:
            times = []
            for rep in range(args.repeats):
                stop = mp.Event()
                procs = [mp.Process(target=burn, args=(stop,), daemon=True) for _ in range(load)]
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
            rows.append((load, mode, min(times), sum(times) / len(times), times))

    print(f"\n`cxr demo --fast`, {platform.node()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}, {args.repeats} run(s) each; {load_note}\n")
    print("| competing CPU-bound processes | threads | wall time (s), each run | best | mean |")
    print("| --- | --- | --- | --- | --- |")
    for load, mode, best, mean, times in rows:
        each = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {load} | {LABELS[mode]} | {each} | {best:.1f} | {mean:.1f} |")
    idle = {m: (b, a) for load, m, b, a, _ in rows if load == 0}
    busy = {m: (b, a) for load, m, b, a, _ in rows if load == args.competitors}
    for m in modes:
        if m in idle and m in busy:
            print(f"\n{m}: busy/idle = {busy[m][0] / idle[m][0]:.2f}x (best), "
                  f"{busy[m][1] / idle[m][1]:.2f}x (mean)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
