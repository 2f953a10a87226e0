"""Which classify settings let the mission backbones learn on demo phantoms, at what CPU cost.

Builds the demo's data (phantoms -> index -> split, as ``cxr demo`` does) once
under ``--work``, then trains one ``cxr classify`` cell per setting given on the
command line and prints, per cell, the test AUROC with its bootstrap CI and the
process CPU time (user + sys; stable on a loaded machine, unlike wall time).
Idle wall time on 2 cores is roughly CPU time / 2 (PyTorch uses both cores).

    PYTHONPATH=. .venv/bin/python benchmarks/demo_backbones.py --work /tmp/demobench \
        resnet50:lr=0.001,epochs=4 efficientnet_b0:lr=0.001,epochs=10 \
        vgg16:lr=0.0001,epochs=3

A setting is ``backbone:key=value,...`` with ClassifyConfig fields (unset: 64 px, 4 epochs,
lr 3e-4, fp32), or the older ``backbone:image_size:epochs:lr``.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time
from pathlib import Path


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def demo_data(work: Path, patients: int, size: int) -> Path:
    from cxr.config import PhantomConfig, SplitConfig
    from cxr.data.index.indexer import build_index
    from cxr.data.split import split_file
    from cxr.phantom import generate_phantoms

    split = work / "data" / f"split-{patients}-{size}.csv"
    if split.is_file():
        return split
    cfg = PhantomConfig(patients=patients, seed=0, image_size=size)
    root = generate_phantoms(work / "data" / f"phantom-{patients}-{size}", cfg, workers=2)
    manifest = work / "data" / f"manifest-{patients}-{size}.csv"
    build_index([root], manifest, workers=2)
    split_file(manifest, SplitConfig(seed=0), split)
    return split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="+", help="backbone:image_size:epochs:lr")
    ap.add_argument("--work", default="/tmp/demobench")
    ap.add_argument("--patients", type=int, default=400)
    ap.add_argument("--phantom-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()

    import torch

    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import run_classify

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    split = demo_data(work, args.patients, args.phantom_size)
    print("| backbone | settings | val AUROC | test AUROC [95% CI] | CPU s | wall s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in args.settings:
        name, _, rest = s.partition(":")
        over: dict[str, object] = {}
        if "=" in rest:  # backbone:key=value,key=value
            for kv in rest.split(","):
                k, v = kv.split("=", 1)
                over[k] = type(getattr(ClassifyConfig(), k))(v)
        elif rest:  # backbone:image_size:epochs:lr (the first form)
            size, epochs, lr = rest.split(":")
            over = {"image_size": int(size), "epochs": int(epochs), "lr": float(lr)}
        base = dict(image_size=64, epochs=4, lr=3e-4, batch_size=args.batch_size, seed=args.seed)
        base.update(over)
        cfg = ClassifyConfig(
            manifest=str(split), backbone=name, pretrained="none", task="binary",
            workers=0, bootstrap=200, accelerator="cpu", devices="1",
            cache_dir=str(work / "cache"), **base,  # type: ignore[arg-type]
        )
        cfg = dataclasses.replace(cfg, patience=max(cfg.patience, cfg.epochs))
        tag = "-".join(f"{k}{v}" for k, v in sorted(base.items()))
        out = work / "runs" / f"{name}-{tag}"
        c0, w0 = cpu_seconds(), time.perf_counter()
        res = run_classify(cfg, out, progress=False)
        cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
        m = res.metrics
        auc = m["headline"]["auroc"]
        val = res.run.get("best_val_auroc")
        txt = f"{auc['value']:.3f} [{auc['ci_low']:.3f}, {auc['ci_high']:.3f}]"
        shown = ", ".join(f"{k}={v}" for k, v in base.items())
        shown_val = val if val is None else round(val, 3)
        print(f"| {name} | {shown} | {shown_val} | {txt} | {cpu:.0f} | {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
