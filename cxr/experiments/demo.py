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

from cxr.config import DemoConfig, SweepConfig, config_to_dict
from cxr.fmt import fmt_duration, fmt_num
from cxr.fsutil import atomic_write_text
from cxr.progress import is_live
from cxr.threads import current_choice


def effective(cfg: DemoConfig) -> DemoConfig:
    """``fast`` shrinks the demo to a smoke test (72 s on 2 idle AVX2 cores)."""
    if not cfg.fast:
        return cfg
    return dataclasses.replace(
        cfg,
        patients=min(cfg.patients, 90),
        gan_epochs=1,
        classify_epochs=2,
        classify_by_backbone={b: {k: v for k, v in o.items() if k != "epochs"}
                              for b, o in cfg.classify_by_backbone.items()},
        seeds=1,
        # the cheapest mission network (about 5 s an epoch at 64 px on 2 cores)
        backbones=("efficientnet_b0",),
        explain_images=4,
    )


def sweep_config(cfg: DemoConfig, manifest: str | Path, out: str | Path) -> SweepConfig:
    """The demo's ablation (mirrored by configs/sweeps/demo.yaml)."""
    return SweepConfig(
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
            "accelerator": "cpu",
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
            "accelerator": "cpu",
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
    from cxr.data.manifest import load_manifest, save_manifest

    df = load_manifest(split_manifest, check_files=False)
    test = df[df["split"] == "test"]
    covid = test[test["label"] == "covid"].head((n + 1) // 2)
    rest = test[test["label"] != "covid"].head(n - len(covid))
    return save_manifest(test.loc[list(covid.index) + list(rest.index)], out)


def _best_cell(sweep_dir: Path) -> dict[str, Any]:
    """The cell whose weights the sweep kept: best *validation* AUROC (never chosen on test)."""
    from cxr.experiments.sweep.weights import best_cell

    best = best_cell(sweep_dir)
    if best is None:
        from cxr.errors import CxrError

        raise CxrError(f"{sweep_dir}: no finished cell with weights to explain (see results.csv)")
    return best


def run_demo(cfg: DemoConfig, *, console: Console | None = None) -> Path:
    """Run (or resume) the demo in ``cfg.out``; return the report path."""
    from cxr.config import ExplainConfig, PhantomConfig, SplitConfig
    from cxr.data.index import ProbeLimits, build_index
    from cxr.data.phantom import generate_phantoms
    from cxr.data.split import split_file
    from cxr.experiments.explain.run import run_explain
    from cxr.experiments.report.build import build_report
    from cxr.experiments.sweep.run import run_sweep

    console = console or Console()
    cfg = effective(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stages = _Stages(out, console, total=5 + len(cfg.explain_methods))
    choice = current_choice()
    if choice is not None:
        console.print(f"[dim]CPU: {choice.describe()}[/dim]", highlight=False)
    phantom_cfg = PhantomConfig(patients=cfg.patients, seed=cfg.seed, image_size=cfg.image_size)
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
    split_cfg = SplitConfig(seed=cfg.seed)
    split = data / "split.csv"

    def do_split() -> str:
        dest, report = split_file(manifest, split_cfg, split)
        console.print(report.table())  # what `cxr data split` shows
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        console.print(f"[green]{report.leakage.summary()}[/]")
        return str(dest)

    stages.run("split", [config_to_dict(phantom_cfg), config_to_dict(split_cfg)], do_split)
    sweep = sweep_config(cfg, split, out / "sweep")
    # the sweep resumes by itself (finished GAN, synthesis and cells are kept)
    stages.run(
        "GAN + synth + ablation",
        None,
        lambda: run_sweep(sweep, console=console).counts,
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
            checkpoint=str(Path(best["run_dir"]) / "best.ckpt"),
            manifest=str(subset),
            split="test",
            method=method,
            out=str(out / "explain" / method),
            device="cpu",
            seed=cfg.seed,
        )

        def explain(ex_cfg: ExplainConfig = ex_cfg) -> Any:
            return run_explain(ex_cfg, console=console).summary.get("images")

        stages.run(f"explain ({method})", [config_to_dict(ex_cfg), best], explain)
    report = stages.run(
        "report", None, lambda: str(build_report(out, console=console)), always=True
    )
    table = Table(title=f"cxr demo ({'fast' if cfg.fast else 'default'}) in {out}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("time", justify="right")
    for name, status, seconds in stages.rows:
        table.add_row(name, status, fmt_duration(seconds))
    table.add_row("total", "", fmt_duration(time.perf_counter() - t0))
    console.print(table)
    console.print(
        f"explained cell: {best['key']} (chosen by validation AUROC "
        f"{fmt_num(best['val_auroc'])}; test AUROC {fmt_num(best['auroc'])})"
    )
    console.print(f"[bold green]report:[/] {Path(report).resolve()}")
    return Path(report)
