"""Expert COVID-19 severity scores of the covid-chestxray collection, joined by file name.

Cohen et al., "Predicting COVID-19 Pneumonia Severity on Chest X-Ray with Deep
Learning", Cureus 12(7), 2020 (arXiv:2005.11856): three raters scored 94 frontal
COVID-19 images; ``annotations/covid-severity-scores.csv`` holds their means, after
header lines that start with ``##``:

* ``geographic_extent_mean`` (published as ``geographic_mean`` in some releases): the
  extent of ground-glass opacity or consolidation, 0-4 per lung, 0-8 in total
  -> manifest column ``severity_extent``;
* ``opacity_mean``: the degree of opacity, 0-3 per lung, 0-6 in total
  -> ``severity_opacity``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from cxr.data.index.adapters.layout_registry import LayoutError

SEVERITY_FILE = Path("annotations") / "covid-severity-scores.csv"
EXTENT_COLUMNS = ("geographic_extent_mean", "geographic_mean")
OPACITY_COLUMN = "opacity_mean"
EXTENT_MAX, OPACITY_MAX = 8.0, 6.0


@dataclass(frozen=True)
class Severity:
    extent: float
    opacity: float


@dataclass
class SeverityTable:
    """Scores by file name (exact, then case-insensitive), and the rows refused."""

    path: Path
    scores: dict[str, Severity]
    refused: list[str]  # "row N (name): why"

    def find(self, name: str) -> Severity | None:
        hit = self.scores.get(name)
        if hit is None:
            hit = self._lower.get(name.lower())
        return hit

    def __post_init__(self) -> None:
        self._lower = {k.lower(): v for k, v in self.scores.items()}


def _number(text: str, top: float) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and 0.0 <= value <= top else None


def read_severity(path: Path) -> SeverityTable:
    """Parse the score file; a missing column is a one-line :class:`LayoutError`."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read ({exc.strerror or exc})") from None
    body = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")]
    if not body:
        raise LayoutError(f"{path}: no header row (only '##' comment lines)")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in body)))
    header = [h.strip().lower() for h in next(reader)]
    extent_col = next((c for c in EXTENT_COLUMNS if c in header), None)
    if "filename" not in header or extent_col is None or OPACITY_COLUMN not in header:
        raise LayoutError(
            f"{path}: expected columns filename, {' or '.join(EXTENT_COLUMNS)}, "
            f"{OPACITY_COLUMN} (found: {', '.join(header)})"
        )
    fi, ei, oi = header.index("filename"), header.index(extent_col), header.index(OPACITY_COLUMN)
    scores: dict[str, Severity] = {}
    refused: list[str] = []
    for (lineno, _), row in zip(body[1:], reader, strict=False):
        cells = row + [""] * (len(header) - len(row))
        name = cells[fi].strip()
        extent, opacity = _number(cells[ei], EXTENT_MAX), _number(cells[oi], OPACITY_MAX)
        if not name:
            refused.append(f"line {lineno}: no file name")
        elif extent is None or opacity is None:
            refused.append(f"line {lineno} ({name}): scores {cells[ei]!r}, {cells[oi]!r} are not "
                           f"numbers within 0-{EXTENT_MAX:g} and 0-{OPACITY_MAX:g}")
        elif name in scores:
            refused.append(f"line {lineno} ({name}): scored twice")
        else:
            scores[name] = Severity(extent, opacity)
    return SeverityTable(path, scores, refused)
