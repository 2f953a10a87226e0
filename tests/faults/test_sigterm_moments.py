"""SIGTERM at any moment of `cxr gan train`, `cxr classify` and `cxr ablate` (issue 25).

A scheduler may send SIGTERM at any moment, from interpreter start-up to the last epoch's
summary. For each command an uninterrupted reference run is timed; SIGTERM is then sent to
fresh runs at seeded-uniform moments over that length. Every run must either finish
(exit 0 with complete output, equal to the reference) or exit 143 with exactly one
``cxr: interrupted by SIGTERM`` line and no temporary file; never exit 0 with unfinished
output. After each 143 the same command is run again (a requeued job passes the same
arguments: `gan train` always has ``--resume``, also when nothing was saved yet) and must
finish with the reference's final weights (gan train, classify) or results (ablate).

The one exception allowed: a signal so early that the interpreter had not yet reached
cxr's handler (the first few milliseconds) ends the process by the default action
(returncode -15, the shell's 143) before anything was written; the test checks that no
output folder exists then.

The default run tries 3 moments per command; ``-m slow`` runs the 10-moment sweep.
"""

from __future__ import annotations

import csv
import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from faultkit import GAN_ARGS, cxr, error_lines, leftovers, same_weights, spawn

GAN_FAST = [*GAN_ARGS[:2], "--epochs", "3", *GAN_ARGS[4:]]  # 32 px, 3 epochs x 3 steps
CLASSIFY = {"backbone": "resnet18", "image_size": 32, "epochs": 3, "batch_size": 8,
            "workers": 0, "bootstrap": 20, "patience": 10, "accelerator": "cpu",
            "augment": "none", "pretrained": "none", "cache_dir": "cache"}
ABLATE = {"backbones": ["resnet18"], "synthetic": [0.0], "seeds": 2, "losses": ["ce"],
          "baselines": [], "bootstrap": 20, "logger": "csv",
          "classify": {k: v for k, v in CLASSIFY.items() if k != "backbone"} | {"epochs": 2}}


def _config(workdir: Path, name: str, body: dict[str, object]) -> Path:
    path = workdir / name
    if not path.is_file():
        path.write_text(yaml.safe_dump(body))
    return path


def _args(command: str, workdir: Path, out: Path) -> tuple[object, ...]:
    if command == "gan":
        return ("gan", "train", "--manifest", "manifest.csv", "--out", out, *GAN_FAST,
                "--cache-dir", "cache", "--logger", "csv", "--resume")
    if command == "classify":
        cfg = _config(workdir, "sigterm-classify.yaml", CLASSIFY)
        return ("classify", "--manifest", "manifest.csv", "--config", cfg, "--out", out,
                "--logger", "csv")
    cfg = _config(workdir, "sigterm-ablate.yaml", ABLATE)
    return ("ablate", "--manifest", "manifest.csv", "--sweep", cfg, "--out", out)


def _state(path: Path) -> dict[str, object]:
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt.get("state_dict", ckpt)


def _same_state(a: Path, b: Path) -> bool:
    import torch

    sa, sb = _state(a), _state(b)
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k], sb[k]) if isinstance(sa[k], torch.Tensor) else sa[k] == sb[k]
        for k in sa
    )


def _metric_rows(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    drop = {"seconds", "run_dir", "error"}
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def check_complete(command: str, out: Path, ref: Path) -> None:
    """The output of a finished run: all of it, equal to the uninterrupted reference."""
    assert leftovers(out) == [], leftovers(out)
    if command == "gan":
        summary = json.loads((out / "summary.json").read_text())
        assert summary["epochs_done"] >= 1
        assert (out / "losses.csv").read_text() == (ref / "losses.csv").read_text()
        assert same_weights(out / "checkpoints" / "last.ckpt", ref / "checkpoints" / "last.ckpt")
    elif command == "classify":
        for name in ("metrics.json", "run.json", "predictions.csv", "best.ckpt"):
            assert (out / name).is_file(), name
        assert json.loads((out / "metrics.json").read_text()) == json.loads(
            (ref / "metrics.json").read_text())
        assert _same_state(out / "best.ckpt", ref / "best.ckpt")
    else:
        rows = _metric_rows(out)
        assert rows and all(r["status"] == "done" for r in rows), rows
        assert rows == _metric_rows(ref)
        assert (out / "summary.md").is_file() or (out / "summary.json").is_file()


def moments(length: float, n: int, seed: int) -> list[float]:
    """``n`` seeded-uniform moments over ``(0, length)``, one per equal slice (stratified)."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(0.0, length, n + 1)
    return [float(rng.uniform(lo, hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _kill_at(command: str, workdir: Path, out: Path, at: float) -> tuple[int, str, bool]:
    proc = spawn(*_args(command, workdir, out), cwd=workdir)
    start = time.monotonic()
    finished_first = False
    while time.monotonic() - start < at:
        if proc.poll() is not None:
            finished_first = True
            break
        time.sleep(0.01)
    if not finished_first:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=900)
    return proc.returncode, err, finished_first


def sweep(command: str, workdir: Path, n: int, seed: int) -> list[tuple[float, str]]:
    ref = workdir / f"sig-{command}-ref"
    if not ref.exists():
        t0 = time.monotonic()
        r = cxr(*_args(command, workdir, ref), cwd=workdir)
        assert r.returncode == 0, r.stderr
        (workdir / f"sig-{command}-ref.seconds").write_text(f"{time.monotonic() - t0}\n")
    length = float((workdir / f"sig-{command}-ref.seconds").read_text())
    outcomes = []
    for k, at in enumerate(moments(length, n, seed)):
        out = workdir / f"sig-{command}-{seed}-{k}"
        rc, err, finished_first = _kill_at(command, workdir, out, at)
        where = f"{command} SIGTERM at {at:.2f}s of {length:.2f}s: rc {rc}\n{err[-3000:]}"
        if rc == -signal.SIGTERM:  # before cxr's handler existed: nothing may have started
            assert not out.exists(), where
            outcomes.append((at, "killed before start-up"))
            continue
        if rc == 0:
            check_complete(command, out, ref)
            outcomes.append((at, "finished first" if finished_first else "finished"))
            continue
        assert rc == 143, where
        lines = error_lines(err)
        assert len(lines) == 1 and lines[0].startswith("cxr: interrupted by SIGTERM: "), where
        assert "rerun the same command" in lines[0], where
        if out.exists():
            assert leftovers(out) == [], (where, leftovers(out))
            assert not (out / ".cxr.lock").exists(), where
        again = cxr(*_args(command, workdir, out), cwd=workdir)
        assert again.returncode == 0, f"{where}\nrerun:\n{again.stderr[-3000:]}"
        check_complete(command, out, ref)
        outcomes.append((at, "143, resumed"))
    return outcomes


COMMANDS = ["gan", "classify", "ablate"]


@pytest.mark.parametrize("command", COMMANDS)
def test_sigterm_at_three_moments(command: str, workdir: Path) -> None:
    outcomes = sweep(command, workdir, n=3, seed=25)
    assert any(what == "143, resumed" for _, what in outcomes), outcomes


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_sigterm_at_ten_moments(command: str, workdir: Path) -> None:
    outcomes = sweep(command, workdir, n=10, seed=2025)
    print(command, outcomes)
    assert sum(what == "143, resumed" for _, what in outcomes) >= 5, outcomes
