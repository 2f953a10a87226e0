"""Patient-level bootstrap CIs: vectorised resampling vs a torchmetrics call per resample.

Synthetic predictions (speed does not depend on their quality): N images from
N / images-per-patient patients, C classes. Times ``evaluate(n_boot=B)`` minus
``evaluate(n_boot=0)`` (the bootstrap alone), and a reference loop that calls
torchmetrics for every headline metric on each resample (timed on fewer
resamples and scaled to B). Prints a markdown table row for docs/benchmarks.md.

    .venv/bin/python benchmarks/bootstrap_speed.py --images 2000 --boot 1000
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch
import torchmetrics.functional.classification as tmf

from cxr.classifier.metrics import evaluate
from cxr.stats import bootstrap as bs


def _data(n: int, n_cls: int, per_patient: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_cls, n)
    logits = rng.normal(size=(n, n_cls))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits)
    return y, p / p.sum(1, keepdims=True), [f"pt{i // per_patient}" for i in range(n)]


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _loop_per_resample(y, p, pids, n_boot: int) -> None:
    """What a naive implementation does: materialise each resample, call torchmetrics."""
    codes, n_pat = bs.patient_codes(pids)
    members = [np.flatnonzero(codes == k) for k in range(n_pat)]
    rng = np.random.default_rng(0)
    n_cls = p.shape[1]
    for _ in range(n_boot):
        rows = np.concatenate([members[k] for k in rng.integers(0, n_pat, n_pat)])
        t_p, t_y = torch.as_tensor(p[rows]), torch.as_tensor(y[rows])
        pred = t_p.argmax(1)
        tmf.multiclass_accuracy(pred, t_y, num_classes=n_cls, average="micro")
        tmf.multiclass_recall(pred, t_y, num_classes=n_cls, average=None)
        tmf.multiclass_specificity(pred, t_y, num_classes=n_cls, average=None)
        tmf.multiclass_f1_score(pred, t_y, num_classes=n_cls, average=None)
        tmf.multiclass_auroc(t_p, t_y, num_classes=n_cls, average=None)
        tmf.multiclass_average_precision(t_p, t_y, num_classes=n_cls, average=None)
        tmf.multiclass_calibration_error(t_p, t_y, num_classes=n_cls, n_bins=15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--per-patient", type=int, default=2)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--loop-boot", type=int, default=50, help="resamples for the reference loop")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    y, p, pids = _data(args.images, args.classes, args.per_patient)
    classes = ["covid", "pneumonia", "normal", "other"][: args.classes]
    evaluate(y, p, pids, classes, n_boot=10)  # warm-up: imports, torchmetrics init
    base = _best(lambda: evaluate(y, p, pids, classes, n_boot=0), args.repeats)
    full = _best(lambda: evaluate(y, p, pids, classes, n_boot=args.boot), args.repeats)
    loop = _best(lambda: _loop_per_resample(y, p, pids, args.loop_boot), 1)
    loop_scaled = loop * args.boot / args.loop_boot
    boot = full - base
    print(f"# {datetime.date.today()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| images | patients | classes | resamples | evaluate total (s) | bootstrap (s) "
          "| torchmetrics loop, scaled (s) | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.images} | {len(set(pids))} | {args.classes} | {args.boot} | {full:.2f} "
          f"| {boot:.2f} | {loop_scaled:.1f} | {loop_scaled / boot:.0f}x |")


if __name__ == "__main__":
    main()
