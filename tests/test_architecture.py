"""The layout's own rules: unique module names, and docs/ARCHITECTURE.md's tree kept complete.

``python tests/test_architecture.py`` prints the tree block from the package (the first line
of each module's docstring), to paste into docs/ARCHITECTURE.md after adding or moving modules.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cxr"
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_two_modules_share_a_file_name() -> None:
    """A name in a traceback is a place: no second ``metrics.py`` (commands: named for theirs)."""
    names = Counter(
        p.name for p in modules() if p.name != "__init__.py" and p.parts[1] != "commands"
    )
    assert [n for n, k in names.items() if k > 1] == []


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse((ROOT / path).read_text())) or ""
    first = doc.strip().split("\n")[0].strip().rstrip(".")
    return first.replace("`", "")


def render_tree() -> str:
    """The tree block: folders, then their modules with the docstring's first line."""
    lines: list[str] = []
    seen: set[Path] = set()
    for path in modules():
        for depth, folder in enumerate(path.parents[::-1][1:], start=0):
            if folder not in seen:
                seen.add(folder)
                lines.append(f"{'  ' * depth}{folder.name}/")
        if path.name == "__init__.py":
            continue
        indent = "  " * (len(path.parts) - 1)
        lines.append(f"{indent}{path.name:<{max(1, 30 - len(indent))}} {_summary(path)}".rstrip())
    return "\n".join(lines)


def documented_tree() -> set[Path]:
    """Paths named by the tree block of docs/ARCHITECTURE.md (the block after '## The tree')."""
    text = DOC.read_text()
    block = text.split("## The tree", 1)[1].split("```", 2)[1]
    stack: list[str] = []
    paths: set[Path] = set()
    for line in block.splitlines():
        m = re.match(r"^( *)([\w.]+/?)", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        name = m.group(2)
        stack = stack[:depth]
        if name.endswith("/"):
            stack.append(name[:-1])
        elif name.endswith(".py"):
            paths.add(Path(*stack, name))
    return paths


def test_architecture_opens_with_the_rule() -> None:
    text = DOC.read_text()
    assert text.index("## The rule") < text.index("## The tree")


def test_architecture_tree_names_every_module() -> None:
    actual = {p for p in modules() if p.name != "__init__.py"}
    documented = documented_tree()
    assert sorted(actual - documented) == [], "missing from docs/ARCHITECTURE.md's tree"
    assert sorted(documented - actual) == [], "in docs/ARCHITECTURE.md's tree but not in cxr/"


if __name__ == "__main__":
    sys.stdout.write(render_tree() + "\n")
