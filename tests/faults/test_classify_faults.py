"""`cxr classify` stopped by SIGTERM, resumed, and raced by a second run.

Slow (three classifier trainings in subprocesses); run with ``-m slow``.
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
import yaml
from faultkit import cxr, error_lines, leftovers, spawn, terminate, wait_for

pytestmark = pytest.mark.slow

SETTINGS = {"backbone": "resnet18", "image_size": 32, "epochs": 4, "batch_size": 8,
            "workers": 0, "bootstrap": 20, "patience": 10, "accelerator": "cpu",
            "augment": "none", "cache_dir": "cache"}


def _args(workdir: Path, out: Path, *extra: object) -> tuple[object, ...]:
    cfg = workdir / "classify-faults.yaml"
    if not cfg.is_file():
        cfg.write_text(yaml.safe_dump(SETTINGS))
    return ("classify", "--manifest", "manifest.csv", "--config", cfg, "--out", out, *extra)


def _val_epochs(out: Path) -> list[int]:
    with open(out / "logs" / "metrics.csv", newline="") as fh:
        return [int(r["epoch"]) for r in csv.DictReader(fh) if r.get("val_auroc")]


def test_sigterm_then_rerun_matches_an_uninterrupted_run(workdir: Path) -> None:
    ref = workdir / "cls-ref"
    r = cxr(*_args(workdir, ref), cwd=workdir)
    assert r.returncode == 0, r.stderr

    out = workdir / "cls-term"
    proc = spawn(*_args(workdir, out), cwd=workdir)
    wait_for(lambda: (out / "checkpoints" / "last.ckpt").is_file(), proc)
    rc, err = terminate(proc, signal.SIGTERM)
    assert rc == 143, err
    lines = error_lines(err)
    assert len(lines) == 1 and "interrupted by SIGTERM" in lines[0]
    assert leftovers(out) == [] and not (out / "metrics.json").exists()

    r = cxr(*_args(workdir, out), cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "resumed from epoch" in r.stderr
    # no epoch validated twice, none skipped, and the same test metrics as without the kill
    epochs = _val_epochs(out)
    assert epochs[-1] == 3 and len(epochs) == len(set(epochs))
    assert json.loads((out / "metrics.json").read_text()) == json.loads(
        (ref / "metrics.json").read_text()
    )
    # finished: the same command reuses it and says so; another seed is refused
    again = cxr(*_args(workdir, out), cwd=workdir)
    assert again.returncode == 0 and "reused" in again.stdout + again.stderr
    other = cxr(*_args(workdir, out, "--seed", "1"), cwd=workdir)
    assert other.returncode == 2 and "different config (seed)" in error_lines(other.stderr)[0]


def test_two_classify_runs_into_one_folder(workdir: Path) -> None:
    out = workdir / "cls-race"
    first = spawn(*_args(workdir, out, "--seed", "0"), cwd=workdir)
    wait_for(lambda: (out / ".cxr.lock").is_file(), first)
    second = cxr(*_args(workdir, out, "--seed", "1"), cwd=workdir)
    assert second.returncode == 2 and f"pid {first.pid}" in error_lines(second.stderr)[0]
    _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["seed"] == 0
