"""The README's typical run, tiny, through the real CLI with sockets disabled.

gan train -> gan synth -> gan eval -> classify -> explain -> report: the report of the
classify run must show the GAN evaluation and the explanations (found through the paths
the stages recorded) and say which file each came from; a finished run keeps one
checkpoint; nothing tries the network (`--pretrained imagenet` and Inception FID fail at
once, naming the file to put where).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.classify_fixtures import make_split_manifest

ROOT = Path(__file__).resolve().parents[2]

# Runs CLI commands in one interpreter (one torch import) with every socket connection
# refused; each command's exit code and stderr are collected.
DRIVER = textwrap.dedent(
    """
    import json, socket, sys

    def _refuse(*_a, **_k):
        raise OSError("network disabled by the test")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.create_connection = _refuse

    import contextlib, io
    from cxr.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        sys.argv = ["cxr", *argv]
        err = io.StringIO()
        code = 0
        with contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        results.append({"argv": argv, "code": code, "stderr": err.getvalue()})
    print("RESULTS" + json.dumps(results))
    """
)


def run_cli(commands: list[list[str]], cwd: Path, env_extra: dict[str, str]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env_extra}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(commands)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=900,
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS")]
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(line[-1][len("RESULTS"):])


def test_readme_typical_run_report_gathers_gan_eval_and_explanations(tmp_path: Path) -> None:
    manifest = make_split_manifest(tmp_path / "work", patients=40, size=48)
    (tmp_path / "classify.yaml").write_text("bootstrap: 50\npatience: 2\n")
    run = "runs/resnet18-syn0.3"
    hub = tmp_path / "empty-hub"
    commands = [
        ["gan", "train", "--manifest", str(manifest), "--source", "normal", "--target", "covid",
         "--image-size", "48", "--epochs", "1", "--epochs-decay", "0", "--steps-per-epoch", "2",
         "--batch-size", "2", "--ngf", "4", "--ndf", "4", "--n-blocks", "1", "--out", "runs/gan"],
        ["gan", "synth", "--n", "6", "--checkpoint", "runs/gan/checkpoints/last.ckpt",
         "--manifest", str(manifest), "--out", "runs/synth"],
        # standard FID needs Inception weights that are not there: fails at once, no download
        ["gan", "eval", "--synthetic", "runs/synth", "--manifest", str(manifest),
         "--features", "inception", "--out", "runs/synth/eval"],
        ["classify", "--manifest", str(manifest), "--synthetic-manifest",
         "runs/synth/manifest.csv", "--backbone", "resnet18", "--task", "binary",
         "--with-synthetic", "0.3", "--epochs", "1", "--image-size", "48", "--batch-size", "8",
         "--workers", "0", "--config", str(tmp_path / "classify.yaml"), "--out", run],
        # ImageNet weights are looked up in the (empty) hub cache only
        ["classify", "--manifest", str(manifest), "--backbone", "resnet18", "--pretrained",
         "imagenet", "--epochs", "1", "--image-size", "48", "--out", "runs/imagenet"],
        ["gan", "eval", "--synthetic", "runs/synth", "--manifest", str(manifest),
         "--features", "xray", "--classifier", f"{run}/best.ckpt", "--out", "runs/synth/eval"],
        ["explain", "--checkpoint", f"{run}/best.ckpt", "--manifest", str(manifest),
         "--split", "test", "--method", "saliency", "--out", "runs/explain"],
        ["report", run],
        ["report", "runs"],
    ]
    results = run_cli(commands, tmp_path, {"TORCH_HOME": str(hub)})
    by_step = {" ".join(r["argv"][:2]) + f"#{i}": r for i, r in enumerate(results)}
    for i, r in enumerate(results):
        if i in (2, 4):
            continue
        assert r["code"] == 0, (r["argv"], r["stderr"][-2000:], by_step.keys())

    inception, imagenet = results[2], results[4]
    assert inception["code"] == 2 and "pt_inception" in inception["stderr"]
    assert imagenet["code"] == 2 and "never downloads" in imagenet["stderr"]
    assert str(hub) in imagenet["stderr"]
    assert "network disabled" not in inception["stderr"] + imagenet["stderr"]

    # disk: one checkpoint per finished run
    run_dir = tmp_path / run
    assert (run_dir / "best.ckpt").is_file() and not (run_dir / "checkpoints").exists()

    html = (run_dir / "report.html").read_text()
    assert 'id="gan-quality"' in html and 'id="gradcam"' in html and 'id="metrics"' in html
    assert "runs/synth/eval/eval.json" in html  # the section says where it came from
    assert "the synthetic manifest in" in html  # ... and how it was found
    assert "runs/explain" in html and "found beside the run" in html
    assert "decision rule" in html and "what it means" in html
    assert html.index('id="metrics"') < html.index('id="gan-quality"')

    folder = (tmp_path / "runs" / "report.html").read_text()
    assert 'id="metrics"' in folder and 'id="roc"' in folder and 'id="dataset"' in folder
    assert "1 datasets" not in html + folder and "-0.000" not in html + folder
