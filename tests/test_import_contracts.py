"""The import contracts in pyproject.toml hold, and break on a deliberate violation.

Each violation is made in a copy of the package in a temporary folder (the
working tree is never touched) and checked with the `lint-imports` command that
`make test` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = {
    c["id"]: c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("lint-imports")
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([*cmd, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "cxr", root / "cxr",
                    ignore=shutil.ignore_patterns("__pycache__", "*.html", "*.css"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_contracts_are_declared() -> None:
    assert set(CONTRACTS) == {"layers", "stages", "runtime", "acyclic"}
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    # no contract is kept by whitelisting the imports that break it
    assert all(not c.get("ignore_imports") for c in contracts)


def test_project_keeps_its_contracts(tmp_path: Path) -> None:
    out = _lint(_copy(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # one stage importing another
        ("cxr/augment/mixing.py", "import cxr.classifier.losses", "stages"),
        # a lower layer importing a higher one, lazily (lazy imports count too)
        ("cxr/data/split.py", "def _f():\n    from cxr.pipelines import demo", "layers"),
        ("cxr/cyclegan/gan_losses.py", "import cxr.commands.gan", "layers"),
        # the config layer reaching up into the data layer
        ("cxr/config/classify.py", "import cxr.data.manifest", "layers"),
        # runtime plumbing: errors at the bottom of runtime
        ("cxr/runtime/errors.py", "import cxr.runtime.progress", "runtime"),
        # a cycle between two modules of one sub-package
        ("cxr/pipelines/ablate/grid.py", "import cxr.pipelines.ablate.run_ablate", "acyclic"),
    ],
)
def test_violation_breaks_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text() + "\n\n" + line + "\n")
    out = _lint(root)
    assert out.returncode != 0, out.stdout
    assert f"{CONTRACTS[contract]} BROKEN" in out.stdout, out.stdout
