"""CPU precision by evidence: the demo's CycleGAN in fp32 and bf16 at equal epochs, several seeds.

Builds phantom data once (``cxr data phantom`` -> ``index`` -> ``split``), trains one
real-image classifier (``cxr classify``: labels for label preservation and the x-ray
feature space of FID/KID), then for every seed trains the demo's CycleGAN
(``configs/ablate/demo.yaml``: 64 px, ngf = ndf = 16, 3 blocks, batch 4) once per
precision, alternating fp32 and bf16 so that the machine's load falls on both alike,
and runs ``cxr gan synth`` and ``cxr gan eval --features xray`` on each. Every stage
runs through the CLI, as a user would.

    nice -n 10 python benchmarks/gan_precision.py --out /tmp/gan-precision \
        --patients 200 --epochs 10 --seeds 0,1

Writes ``results.json`` and prints a markdown table: wall time of ``gan train``,
label preservation with its Wilson 95 % interval, the lesion-zone change
(inside - outside the expected COVID-19 zone) with a bootstrap 95 % interval over
images, FID and KID (mean +- std over subsets) in the classifier's feature space.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PRECISIONS = ("32-true", "bf16-mixed")


def cxr(*args: str, log: Path) -> float:
    """Run ``cxr ARGS`` (this checkout), append its output to ``log``; seconds it took."""
    cmd = [sys.executable, "-m", "cxr.cli", *args]
    start = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"$ cxr {' '.join(args)}\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=os.environ.copy())
    if proc.returncode:
        raise SystemExit(f"cxr {' '.join(args)} failed (rc {proc.returncode}); see {log}")
    return time.perf_counter() - start


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (c - h, c + h)


def region_per_image(syn_manifest: Path) -> list[float]:
    """Per-image inside - outside change of the unaugmented outputs (as cxr gan eval averages)."""
    from cxr.cyclegan.fid_kid import region_change
    from cxr.cyclegan.translate import apply_augmentation
    from cxr.data.images.preprocess import load_preprocessed
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.gan.difference_figures import unaugmented

    syn = load_manifest(syn_manifest, check_files=False)
    diffs = []
    for _, r in syn[unaugmented(syn)].iterrows():
        if not isinstance(r["lung_mask_path"], str) or not r["lung_mask_path"]:
            continue
        size = int(r["width"])
        src = apply_augmentation(load_preprocessed(r["source_image"], size, "pad"), -1)
        lung = load_preprocessed(r["lung_mask_path"], size, "pad") > 127
        out = region_change(src, load_preprocessed(r["image_path"], size, "pad"), lung)
        if out is not None:
            diffs.append(float(out[0] - out[1]))
    return diffs


def boot_ci(values: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return (math.nan, math.nan)
    idx = np.random.default_rng(seed).integers(0, len(v), (n_boot, len(v)))
    means = v[idx].mean(1)
    return (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))


def prepare(out: Path, patients: int, log: Path) -> tuple[Path, Path]:
    data = out / "data"
    split = data / "split.csv"
    if not split.is_file():
        cxr("data", "phantom", "--out", str(data / "phantom"), "--patients", str(patients),
            "--image-size", "64", "--workers", "1", log=log)
        cxr("data", "index", str(data / "phantom"), "--out", str(data / "manifest.csv"),
            "--workers", "1", "--min-side", "64", log=log)
        cxr("data", "split", str(data / "manifest.csv"), "--out", str(split), log=log)
    clf = out / "classifier"
    weights = clf / "best.ckpt"
    if not weights.is_file():
        cxr("classify", "--manifest", str(split), "--out", str(clf), "--backbone", "resnet18",
            "--image-size", "64", "--epochs", "6", "--lr", "1e-3", "--pretrained", "none",
            "--task", "binary", "--workers", "0", "--accelerator", "cpu", "--logger", "csv",
            log=log)
    return split, weights


def one_run(out: Path, split: Path, clf: Path, seed: int, precision: str, epochs: int,
            steps: int, n_synth: int, log: Path) -> dict[str, Any]:
    run = out / f"gan-{precision}-s{seed}"
    res_file = run / "result.json"
    if res_file.is_file():
        return dict(json.loads(res_file.read_text()))
    load_before = Path("/proc/loadavg").read_text().split()[0]
    cxr("gan", "train", "--manifest", str(split), "--out", str(run / "train"),
        "--source", "normal", "--target", "covid", "--image-size", "64",
        "--epochs", str(epochs), "--epochs-decay", "0", "--steps-per-epoch", str(steps),
        "--ngf", "16", "--ndf", "16",
        "--n-blocks", "3", "--batch-size", "4", "--workers", "0", "--accelerator", "cpu",
        "--devices", "1", "--seed", str(seed), "--precision", precision, "--logger", "csv",
        "--cache-dir", str(out / "cache"), log=log)
    train_s = json.loads((run / "train" / "summary.json").read_text())["seconds_this_session"]
    load_after = Path("/proc/loadavg").read_text().split()[0]
    cxr("gan", "synth", "--n", str(n_synth), "--checkpoint",
        str(run / "train" / "checkpoints" / "last.ckpt"), "--manifest", str(split),
        "--out", str(run / "synth"), "--device", "cpu", "--seed", str(seed), log=log)
    cxr("gan", "eval", "--synthetic", str(run / "synth"), "--manifest", str(split),
        "--features", "xray", "--classifier", str(clf), "--no-audit", "--out",
        str(run / "eval"), log=log)
    ev = json.loads((run / "eval" / "eval.json").read_text())
    m = ev
    n = int(m.get("n_synthetic", n_synth))
    lp = float(m["label_preservation"])
    region = region_per_image(run / "synth" / "manifest.csv")
    fk = m["synthetic_vs_real_target"]
    res = {
        "seed": seed,
        "precision": precision,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "train_seconds": train_s,
        "load_before": float(load_before),
        "load_after": float(load_after),
        "n_synthetic": n,
        "label_preservation": lp,
        "label_preservation_ci": wilson(round(lp * n), n),
        "lesion_zone": float(sum(region) / len(region)) if region else math.nan,
        "lesion_zone_ci": boot_ci(region, seed=seed),
        "n_lesion_images": len(region),
        "fid": fk.get("fid"),
        "kid_mean": fk.get("kid_mean"),
        "kid_std": fk.get("kid_std"),
        "baseline": m.get("real_source_vs_real_target"),
    }
    res_file.write_text(json.dumps(res, indent=2))
    return res


def table(rows: list[dict[str, Any]]) -> str:
    def f(x: float, d: int = 3) -> str:
        return f"{x:.{d}f}"

    head = ("| precision | seed | `gan train` s | load (before/after) "
            "| label preservation [95 % CI] | lesion zone in-out [95 % CI] "
            "| FID (x-ray) | KID (x-ray) |\n"
            "|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in sorted(rows, key=lambda r: (r["precision"], r["seed"])):
        lo, hi = r["label_preservation_ci"]
        zlo, zhi = r["lesion_zone_ci"]
        lines.append(
            f"| {r['precision']} | {r['seed']} | {r['train_seconds']:.0f} | "
            f"{r['load_before']:.1f}/{r['load_after']:.1f} | "
            f"{f(r['label_preservation'], 2)} [{f(lo, 2)}, {f(hi, 2)}] | "
            f"{f(r['lesion_zone'], 4)} [{f(zlo, 4)}, {f(zhi, 4)}] | "
            f"{f(r['fid'], 2)} | {f(r['kid_mean'], 4)} +- {f(r['kid_std'], 4)} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/gan-precision"))
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--steps-per-epoch", type=int, default=0, help="0: the data's own")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--synth", type=int, default=200, help="synthetic images per run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    split, clf = prepare(args.out, args.patients, log)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        # alternate the order per seed so that neither precision always runs first
        order = PRECISIONS if seed % 2 == 0 else PRECISIONS[::-1]
        for precision in order:
            rows.append(one_run(args.out, split, clf, seed, precision, args.epochs,
                               args.steps_per_epoch, args.synth, log))
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
