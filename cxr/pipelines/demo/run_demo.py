"""`cxr demo`: the whole pipeline on built-in phantom radiographs, ending in the HTML report.

Stages (each skipped when its recorded inputs are unchanged, so a rerun
resumes): phantoms -> index -> patient-level split -> (inside the sweep)
CycleGAN on the train split + synthesis -> a small ablation (ratio 0 vs GAN vs
oversampling, paired seeds) -> Grad-CAM on test images of the best cell ->
report. Sizes (64 px, ~200 patients, small nets, few epochs) are chosen to
finish within 15 minutes on 2 CPU cores; ``--fast`` is a smoke test. The
numbers it produces show the machinery, not clinical performance: phantoms are
not patients.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cxr.config import (
    AblateConfig,
    DemoConfig,
    ExplainConfig,
    PhantomConfig,
    SplitConfig,
    config_to_dict,
)
from cxr.data.index.indexer import ProbeLimits, build_index
from cxr.data.manifest import load_manifest, save_manifest
from cxr.phantom import generate_phantoms
from cxr.pipelines.ablate.kept_weights import best_cell
from cxr.pipelines.ablate.learning import DID_NOT_LEARN
from cxr.pipelines.ablate.results import read_table
from cxr.pipelines.ablate.run_ablate import run_ablate
from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.pipelines.data.data_steps import split_and_report
from cxr.pipelines.explain.run_explain import run_explain
from cxr.pipelines.report.build import build_report
from cxr.runtime.errors import ConfigError, CxrError
from cxr.runtime.files import atomic_write_text
from cxr.runtime.fmt import fmt_duration, fmt_num
from cxr.runtime.progress import is_live
from cxr.runtime.runguard import safe_point
from cxr.runtime.threads import current_choice

PROFILES = ("auto", "cpu", "gpu")

#: what every demo says first, on the console and on the report's first screen
WHAT_IT_SHOWS = (
    "This demo runs the whole machinery (phantoms -> patient-level split -> CycleGAN -> "
    "synthesis -> ablation with CIs -> Grad-CAM -> report) on built-in phantom radiographs: "
    "synthetic images with exact ground truth, made on this machine. It shows what each stage "
    "does and what its outputs look like. It is not a result on real data: phantoms are not "
    "patients, and no number here says whether GAN augmentation helps on real radiographs "
    "(for that, run the study on real collections: docs/study.md)."
)


def demo_profile(cfg: DemoConfig) -> str:
    """``fast``, ``cpu`` or ``gpu``: the profile that ``cfg`` runs (auto: gpu with CUDA)."""
    if cfg.profile not in PROFILES:
        raise ConfigError(f"--profile must be one of {', '.join(PROFILES)}, got {cfg.profile!r}")
    if cfg.fast:
        return "fast"
    if cfg.profile != "auto":
        return cfg.profile
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"


def effective(cfg: DemoConfig) -> DemoConfig:
    """The settings of :func:`demo_profile`'s profile (the defaults are the cpu profile).

    fast: a smoke test that still learns (ResNet18, the network that learns fastest from
    scratch on the phantoms, real-only vs the GAN arm); gpu: 128 px, more patients, longer
    GAN and classifier training, on the GPU.
    """
    profile = demo_profile(cfg)
    if profile == "cpu":
        return dataclasses.replace(cfg, accelerator="cpu")
    if profile == "gpu":
        return dataclasses.replace(
            cfg,
            accelerator="gpu",
            patients=max(cfg.patients, 800),
            image_size=128,
            gan_epochs=max(cfg.gan_epochs, 30),
            gan_ngf=32,
            gan_ndf=32,
            gan_blocks=6,
            classify_epochs=max(cfg.classify_epochs, 10),
            classify_by_backbone={
                "vgg16": {"lr": 1e-4, "epochs": 10},
                "resnet50": {"lr": 1e-3, "epochs": 10},
                "efficientnet_b0": {"lr": 1e-3, "epochs": 20},
            },
        )
    return dataclasses.replace(
        cfg,
        accelerator="cpu",
        patients=min(cfg.patients, 160),
        gan_epochs=1,
        # ResNet18 learns from scratch in a few dozen steps on the phantoms at 64 px (test
        # AUROC 0.97 [0.90, 1.00] after 6 epochs, where ResNet50 was still at chance: measured
        # in docs/benchmarks.md "The demo in 15 minutes"); the full demo has the mission's three
        classify_epochs=6,
        classify_by_backbone={"resnet18": {"lr": 1e-3}},
        seeds=1,
        backbones=("resnet18",),
        baselines=(),
        explain_images=4,
    )


def sweep_config(cfg: DemoConfig, manifest: str | Path, out: str | Path) -> AblateConfig:
    """The demo's ablation (mirrored by configs/ablate/demo.yaml)."""
    return AblateConfig(
        manifest=str(manifest),
        out=str(out),
        backbones=cfg.backbones,
        synthetic=cfg.synthetic,
        seeds=cfg.seeds,
        losses=("ce",),
        baselines=cfg.baselines,
        classify_by_backbone={b: dict(o) for b, o in cfg.classify_by_backbone.items()
                              if b in cfg.backbones},
        classify={
            "image_size": cfg.image_size,
            "epochs": cfg.classify_epochs,
            "batch_size": 32,
            "pretrained": "none",
            "task": "binary",
            "workers": 0,
            "bootstrap": 200,
            "patience": cfg.classify_epochs,
            "accelerator": cfg.accelerator,
            "devices": "1",
        },
        gan={
            "image_size": cfg.image_size,
            "epochs": cfg.gan_epochs,
            "epochs_decay": 0,
            "ngf": cfg.gan_ngf,
            "ndf": cfg.gan_ndf,
            "n_blocks": cfg.gan_blocks,
            "batch_size": 4,
            "workers": 0,
            "cache_workers": 1,
            "accelerator": cfg.accelerator,
            "devices": "1",
            "seed": cfg.seed,
        },
        bootstrap=500,
    )


class _Stages:
    """Run stages whose recorded key changed; remember keys and times in stages.json."""

    def __init__(self, out: Path, console: Console, total: int) -> None:
        self.path = out / "stages.json"
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.console = console
        self.rows: list[tuple[str, str, float]] = []
        self.total = total
        self.t0 = time.perf_counter()

    def _line(self, name: str, what: str) -> None:
        """One plain line per stage (readable in a log): position, outcome, elapsed time."""
        elapsed = fmt_duration(time.perf_counter() - self.t0)
        self.console.print(f"demo stage {len(self.rows)}/{self.total} {name}: {what} "
                           f"· elapsed {elapsed}", highlight=False, soft_wrap=True)

    def run(self, name: str, key: Any, fn: Callable[[], Any], *, always: bool = False) -> Any:
        safe_point()  # SIGTERM/SIGINT between stages: finished stages are kept in stages.json
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        prev = self.done.get(name, {})
        if not always and prev.get("key") == digest:
            self.rows.append((name, "skipped (done)", 0.0))
            self._line(name, "skipped (done earlier)")
            return prev.get("result")
        head = f"demo stage {len(self.rows) + 1}/{self.total}: {name}"
        if is_live(self.console):
            self.console.rule(f"[bold]{head}")
        else:  # a log: a plain line, not a rule as wide as the log's console
            self.console.print(f"{head} ...", highlight=False)
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        self.done[name] = {"key": digest, "seconds": round(seconds, 1), "result": result}
        atomic_write_text(self.path, json.dumps(self.done, indent=2, default=str) + "\n")
        self.rows.append((name, "ran", seconds))
        self._line(name, f"done in {fmt_duration(seconds)}")
        return result


def _explain_subset(split_manifest: Path, out: Path, n: int) -> Path:
    """``n`` test images, half COVID-19 (they have lesion masks to score against)."""
    df = load_manifest(split_manifest, check_files=False)
    test = df[df["split"] == "test"]
    covid = test[test["label"] == "covid"].head((n + 1) // 2)
    rest = test[test["label"] != "covid"].head(n - len(covid))
    return save_manifest(test.loc[list(covid.index) + list(rest.index)], out)


def _best_cell(sweep_dir: Path) -> dict[str, Any]:
    """The cell whose weights the sweep kept: best *validation* AUROC (never chosen on test)."""
    best = best_cell(sweep_dir)
    if best is None:
        raise CxrError(f"{sweep_dir}: no finished cell with weights to explain (see results.csv)")
    return best


def _learning_lines(sweep_dir: Path) -> list[str]:
    """Which cells learned (test AUROC CI above 0.5) and which did not, and why."""
    results = sweep_dir / "results.csv"
    if not results.is_file():
        return []
    df = read_table(results)
    done = df[df["status"] == "done"]
    if "did_not_learn" not in done.columns:
        return []
    bad = done[done["did_not_learn"].fillna("").astype(str) != ""]
    lines = [f"cells that learned (test AUROC CI above 0.5): {len(done) - len(bad)} of {len(done)}"]
    lines += [f"  {DID_NOT_LEARN.upper()}: {r['key']} ({r['did_not_learn']}); its numbers are "
              "not a comparison" for _, r in bad.iterrows()]
    return lines


def run_demo(cfg: DemoConfig, *, console: Console | None = None) -> Path:
    """Run (or resume) the demo in ``cfg.out``; return the report path."""
    console = console or Console()
    cfg = effective(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stages = _Stages(out, console, total=5 + len(cfg.explain_methods))
    choice = current_choice()
    if choice is not None:
        console.print(f"[dim]CPU: {choice.describe()}[/dim]", highlight=False)
    profile = demo_profile(cfg)
    console.print(WHAT_IT_SHOWS, highlight=False, soft_wrap=True)
    console.print(f"profile: {profile} ({cfg.patients} patients, {cfg.image_size} px, "
                  f"{', '.join(cfg.backbones)}; on {cfg.accelerator})", highlight=False)
    atomic_write_text(out / "demo.json", json.dumps({
        "profile": profile, "what_it_shows": WHAT_IT_SHOWS,
        "config": config_to_dict(cfg)}, indent=2, default=str) + "\n")
    rest = (1.0 - cfg.covid_share) / (1.0 - PhantomConfig.mix_covid)
    phantom_cfg = PhantomConfig(
        patients=cfg.patients, seed=cfg.seed, image_size=cfg.image_size,
        mix_normal=PhantomConfig.mix_normal * rest,
        mix_bacterial=PhantomConfig.mix_bacterial * rest,
        mix_viral=PhantomConfig.mix_viral * rest,
        mix_covid=cfg.covid_share,
    )
    data = out / "data"
    root = stages.run(
        "phantoms",
        config_to_dict(phantom_cfg),
        lambda: str(generate_phantoms(data / "phantom", phantom_cfg, workers=2)),
    )
    manifest = data / "manifest.csv"
    stages.run(
        "index",
        [root, config_to_dict(phantom_cfg)],
        lambda: str(build_index(
            [root], manifest, workers=2,
            limits=ProbeLimits(min_side=min(cfg.image_size, ProbeLimits().min_side)),
        ).manifest_df.shape[0]),
    )
    split_cfg = SplitConfig(seed=cfg.seed, test=cfg.test_fraction)
    split = data / "split.csv"

    def do_split() -> str:  # prints what `cxr data split` shows
        return str(split_and_report(manifest, split_cfg, split, console=console)[0])

    stages.run("split", [config_to_dict(phantom_cfg), config_to_dict(split_cfg)], do_split)
    sweep = sweep_config(cfg, split, out / "sweep")
    # the sweep resumes by itself (finished GAN, synthesis and cells are kept)
    stages.run(
        "GAN + synth + ablation",
        None,
        lambda: run_ablate(sweep, console=console).counts,
        always=True,
    )
    best = _best_cell(out / "sweep")
    subset = (
        _explain_subset(split, data / "explain-subset.csv", cfg.explain_images)
        if cfg.explain_images
        else split
    )
    for method in cfg.explain_methods:
        ex_cfg = ExplainConfig(
            checkpoint=str(ClassifyRunFolder(best["run_dir"]).weights),
            manifest=str(subset),
            split="test",
            method=method,
            out=str(out / "explain" / method),
            device="cuda" if cfg.accelerator == "gpu" else "cpu",
            seed=cfg.seed,
        )

        def explain(ex_cfg: ExplainConfig = ex_cfg) -> Any:
            return run_explain(ex_cfg, console=console).summary.get("images")

        stages.run(f"explain ({method})", [config_to_dict(ex_cfg), best], explain)
    report = stages.run(
        "report", None, lambda: str(build_report(out, console=console)), always=True
    )
    table = Table(title=f"cxr demo (profile {profile}) in {out}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("time", justify="right")
    for name, status, seconds in stages.rows:
        table.add_row(name, status, fmt_duration(seconds))
    table.add_row("total", "", fmt_duration(time.perf_counter() - t0))
    console.print(table)
    for line in _learning_lines(out / "sweep"):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(
        f"explained cell: {best['key']} (chosen by validation AUROC "
        f"{fmt_num(best['val_auroc'])}; test AUROC {fmt_num(best['auroc'])})"
    )
    console.print(f"[bold green]report:[/] {Path(report).resolve()}")
    return Path(report)
