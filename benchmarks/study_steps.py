"""Training-step times of the study's networks, for the profile estimates in docs/study.md.

Times ``--steps`` AdamW steps (after ``--warmup``) of each backbone on random one-channel
batches at the given size (speed does not depend on the pixels), plus one CycleGAN step
(the study's GAN settings), and prints one JSON line per network:
``{"network", "image_size", "batch", "threads", "s_per_step"}``. The load average is
printed with them: on a shared machine the numbers move with it.

    PYTHONPATH=. .venv/bin/python benchmarks/study_steps.py \
        --sizes vgg16=64,resnet50=64,efficientnet_b0=64,cyclegan=64
    PYTHONPATH=. .venv/bin/python benchmarks/study_steps.py --estimate \
        configs/study/seed-paper.yaml --profile cpu --index INDEX.csv \
        --step vgg16=2.5,resnet50=1.5,efficientnet_b0=0.7 --gan-step 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def classifier_step_time(name: str, size: int, batch: int, steps: int, warmup: int,
                         device: str = "cpu") -> float:
    from cxr.classifier.factory import create_backbone

    model = create_backbone(name, num_classes=3, pretrained="none").to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 3, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def cell_counts(cfg) -> dict[tuple[str, float], dict[str, int]]:
    """Classify cells the study trains, per (section, level) and backbone (reused not counted)."""
    counts: dict[tuple[str, float], dict[str, int]] = {}

    def add(section: str, backbones, n: int, level: float = 1.0) -> None:
        for b in backbones:
            counts.setdefault((section, level), {}).setdefault(b, 0)
            counts[(section, level)][b] += n

    n_arms = len(cfg.gan_arms)
    for _task in cfg.tasks:
        add("protocol", cfg.backbones,
            cfg.seeds * (1 + len(cfg.ratios) + len(cfg.baselines)
                         + (n_arms - 1) * len(cfg.ratios)))
    for level in cfg.scarcity_levels:
        reused = (level >= 1.0 and cfg.scarcity_task in cfg.tasks
                  and set(cfg.scarcity_backbones) <= set(cfg.backbones))
        if not reused:
            add("scarcity", cfg.scarcity_backbones,
                cfg.seeds * (2 + len(cfg.scarcity_baselines)), level)
    add("lodo", cfg.lodo_backbones, cfg.seeds * 2)
    add("within", cfg.within_source_backbones, cfg.seeds)
    return counts


def estimate(config: str, profile: str, index: str, data_root: str, step: dict[str, float],
             gan_step: float) -> dict:
    """Expected seconds of a profile from measured step times and its own split's sizes."""
    import math
    import tempfile
    from pathlib import Path

    from rich.console import Console

    from cxr.config import StudyConfig, build_config
    from cxr.data.manifest import load_manifest
    from cxr.pipelines.study import study_data as sd
    from cxr.pipelines.study.run_study import effective

    cfg = effective(build_config(StudyConfig, config, profile=profile, index=index,
                                 data_root=data_root))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sd.index_collections(cfg, d / "index.csv", Console(quiet=True))
        sd.select_rows(cfg, d / "index.csv", d / "selected.csv")
        sd.split_rows(cfg, d / "selected.csv", d / "split.csv", Console(quiet=True))
        df = load_manifest(d / "split.csv", check_files=False)
    part = df["split"].value_counts().to_dict()
    covid_train = int(((df["split"] == "train") & (df["label"] == "covid")).sum())
    within = df[(df["dataset"] == cfg.within_source_dataset)
                & df["label"].isin(["covid", "pneumonia"])]["split"].value_counts().to_dict()
    counts = cell_counts(cfg)
    batch = int(cfg.classify.get("batch_size", 32))
    total, rows = 0.0, []
    for (section, level), per in counts.items():
        sizes = dict(within) if section == "within" else dict(part)
        if section == "scarcity":
            sizes["train"] = part.get("train", 0) - round((1 - level) * covid_train)
        for backbone, n in per.items():
            over = cfg.classify_by_backbone.get(backbone) or {}
            epochs = int(over.get("epochs", cfg.classify.get("epochs", 20)))
            # training steps (GAN arms add up to r/(1-r) of the COVID images: +10 % on average)
            train = math.ceil(1.1 * sizes.get("train", 0) / batch) * epochs
            # validation every epoch + test once, forward only (about 1/3 of a step per batch)
            infer = (math.ceil(sizes.get("val", 0) / batch) * epochs
                     + math.ceil(sizes.get("test", 0) / batch)) / 3
            sec = n * ((train + infer) * step[backbone] + 15)  # + 15 s start-up per cell
            rows.append({"section": section, "level": level, "backbone": backbone, "cells": n,
                         "epochs": epochs, "seconds": round(sec)})
            total += sec
    g = cfg.gan
    gan_steps = (int(g.get("epochs", 0)) + int(g.get("epochs_decay", 0))) * int(
        g.get("steps_per_epoch", 0) or 100)
    n_gan = len(cfg.gan_arms) + (sum(1 for lv in cfg.scarcity_levels if lv < 1.0)
                                 if cfg.scarcity_retrain_gan else 0)
    gan_sec = n_gan * gan_steps * gan_step
    ref = math.ceil(part.get("train", 0) / batch) * int(cfg.classify.get("epochs", 20)) * step[
        cfg.reference_backbone]
    total += gan_sec + ref + 600  # + GAN evaluation, audit, report: about 10 minutes
    return {"profile": profile, "images": {k: int(v) for k, v in part.items()},
            "cells": rows, "gan_seconds": round(gan_sec), "reference_seconds": round(ref),
            "total_hours": round(total / 3600, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="vgg16=64,resnet50=64,efficientnet_b0=64")
    ap.add_argument("--estimate", default="", help="study YAML: estimate its --profile")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--index", default="")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--step", default="", help="known s/step per network: vgg16=2.5,...")
    ap.add_argument("--gan-step", type=float, default=0.0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (classifier step times)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    if args.estimate:
        step = {k: float(v) for k, v in (i.split("=") for i in args.step.split(","))}
        print(json.dumps(estimate(args.estimate, args.profile, args.index, args.data_root,
                                  step, args.gan_step), indent=1))
        return
    for item in args.sizes.split(","):
        name, size = item.split("=")
        if name == "cyclegan":  # the cpu profile's GAN: ngf/ndf 16, 3 blocks, batch 4
            s = gan_step_time(int(size), 16, 16, 3, 4, args.steps)
        else:
            s = classifier_step_time(name, int(size), args.batch, args.steps, args.warmup,
                                     args.device)
        print(json.dumps({"network": name, "image_size": int(size), "batch": args.batch,
                          "device": args.device,
                          "threads": torch.get_num_threads(), "s_per_step": round(s, 3),
                          "loadavg": os.getloadavg()[0]}), flush=True)



# ------------------------------------------------------------------ the profile estimate
def gan_step_time(size: int, ngf: int, ndf: int, blocks: int, batch: int, steps: int) -> float:
    """Seconds per CycleGAN training step (both generators and discriminators)."""
    from cxr.config import GanConfig
    from cxr.pipelines.gan.train_gan import build_networks

    nets = build_networks(GanConfig(image_size=size, ngf=ngf, ndf=ndf, n_blocks=blocks))
    params = [p for n in nets.values() for p in n.parameters()]
    opt = torch.optim.Adam(params, lr=2e-4)
    a, b = torch.randn(batch, 1, size, size), torch.randn(batch, 1, size, size)
    t0 = 0.0
    for i in range(steps + 1):
        if i == 1:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        fake_b, fake_a = nets["G_A"](a), nets["G_B"](b)
        loss = ((nets["G_B"](fake_b) - a).abs().mean() + (nets["G_A"](fake_a) - b).abs().mean()
                + nets["D_A"](fake_b).pow(2).mean() + nets["D_B"](fake_a).pow(2).mean())
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


if __name__ == "__main__":
    main()
