"""covid-chestxray-dataset layout (Cohen et al., "COVID-19 image data collection:
prospective predictions are the future", MELBA 2020; github.com/ieee8023/covid-chestxray-dataset).

``metadata.csv`` with columns ``patientid, offset, finding, view, modality``
and ``folder, filename`` (image at ``<root>/<folder>/<filename>``) or, in early
releases, ``imagename`` (image at ``<root>/images/<imagename>``). The Figure1
release (github.com/agchung/Figure1-COVID-chestxray-dataset) has no file-name
column: a row's image is ``images/<patientid>.<ext>``, and one patient's
several images are ``<patientid>a``, ``<patientid>b``, ... (any image
extension); the letter suffix never changes the patient. The built-in
phantom generator writes this layout too (plus ``masks/lung`` and
``masks/lesion``, picked up by :mod:`cxr.data.index.indexer`).

Findings, flat before mid-2020 (``COVID-19``, ``SARS``, ``COVID-19, ARDS``,
``Mycoplasma Bacterial Pneumonia``) and hierarchical after
(``Pneumonia/Viral/COVID-19``), map through one table,
:mod:`cxr.data.index.adapters.finding_vocabulary` (a value outside it is listed in a
notice). Only X-ray rows are kept (CT rows are left out and counted), and rows with
an empty or unknown finding (``todo``, ``Unknown``) are left out. Views are
normalised (:func:`cxr.data.views.normalise_view`: ``L`` -> ``lateral``,
``AP Supine`` -> ``ap-supine``); laterals stay in the manifest and the training
stages leave them out by default.

What the collection ships beside the images is attached to its rows:

* lung masks matched by stem (:mod:`.mask_folders`):
  ``annotations/v7-lung-masks/<stem>_mask.png`` (V7 Labs polygons drawn by people:
  ``manual``) before ``annotations/lungVAE-masks/<stem>_mask.png`` (lungVAE, Selvan
  et al. 2020: ``dataset-model``); the manual mask wins where both exist;
* the expert severity scores of ``annotations/covid-severity-scores.csv``
  (:mod:`.severity_scores`), joined by file name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxr.data.index.adapters.finding_vocabulary import known_finding, map_finding
from cxr.data.index.adapters.folder_scan import scan_folder
from cxr.data.index.adapters.layout_registry import (
    DEFAULT_OPTIONS,
    Adapter,
    Candidate,
    LayoutOptions,
    LeftOut,
    Notice,
    Record,
    csv_columns,
    parse_offset,
    read_table,
    register_adapter,
    require_columns,
    unlisted_files,
)
from cxr.data.index.adapters.mask_folders import (
    MaskFolder,
    ShippedMasks,
    describe_unused,
)
from cxr.data.index.adapters.names import strip_image_suffix
from cxr.data.index.adapters.severity_scores import SEVERITY_FILE, read_severity
from cxr.data.views import normalise_view

METADATA = "metadata.csv"
XRAY_MODALITIES = {"x-ray", "xray", "x ray", "cr", "dx"}
#: (folder under the root, kind, provenance), highest priority first
SHIPPED_MASKS: tuple[tuple[str, str, str], ...] = (
    ("annotations/v7-lung-masks", "lung", "manual"),
    ("annotations/lungVAE-masks", "lung", "dataset-model"),
)

__all__ = ["CovidChestXray", "map_finding"]


class _Extras:
    """Masks and severity scores of one root, and what the summary should say about them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.masks = ShippedMasks(
            [MaskFolder(root / folder, kind, source) for folder, kind, source in SHIPPED_MASKS]
        )
        sev = root / SEVERITY_FILE
        self.severity = read_severity(sev) if sev.is_file() else None
        self.scored: set[str] = set()
        self.by_source: Counter[str] = Counter()
        self.unknown_findings: Counter[str] = Counter()

    def candidate(self, **kw: Any) -> Candidate:
        path: Path = kw["image_path"]
        found = self.masks.find(path)
        lung = found.get("lung")
        if lung is not None:
            self.by_source[lung.source] += 1
        score = self.severity.find(path.name) if self.severity is not None else None
        if score is not None:
            self.scored.add(path.name.lower())
        return Candidate(
            **kw,
            lung_mask_path=lung.path if lung else None,
            lung_mask_source=lung.source if lung else "",
            severity_extent=score.extent if score else None,
            severity_opacity=score.opacity if score else None,
        )

    def notices(self) -> Iterator[Notice]:
        if self.unknown_findings:
            vals = ", ".join(f"{k!r} ({n})" for k, n in sorted(self.unknown_findings.items()))
            yield Notice(f"finding(s) outside the covid-chestxray vocabulary, indexed as other: "
                         f"{vals}")
        if self.by_source:
            parts = ", ".join(f"{n} {src}" for src, n in sorted(self.by_source.items()))
            both = self.masks.overlaps["lung"]
            extra = f"; {both} image(s) have both, the manual mask is used" if both else ""
            yield Notice(f"lung masks shipped with the collection attached: {parts}{extra}")
        unused = list(describe_unused(self.masks.unused(), self.root))
        if unused:
            yield Notice("; ".join(unused) + " (CT slices, dropped rows or other names)")
        if self.severity is not None:
            missing = sorted(n for n in self.severity.scores if n.lower() not in self.scored)
            msg = (f"expert severity scores joined to {len(self.scored)} image(s) "
                   f"({SEVERITY_FILE})")
            if missing:
                msg += (f"; {len(missing)} scored file(s) not among the indexed X-rays: "
                        f"{', '.join(missing[:3])}")
            if self.severity.refused:
                msg += f"; {len(self.severity.refused)} score row(s) refused: " + "; ".join(
                    self.severity.refused[:3])
            yield Notice(msg)


@register_adapter("covid-chestxray")
class CovidChestXray(Adapter):
    description = "covid-chestxray-dataset: metadata.csv (patientid, finding, ...) + images/"
    priority = 20

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        cols = csv_columns(root / METADATA)
        named = bool({"filename", "imagename"} & cols) or (root / "images").is_dir()
        return {"patientid", "finding"} <= cols and named

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        meta = root / METADATA
        df = read_table(meta)
        require_columns(df, meta, "patientid", "finding")
        has_folder = "filename" in df.columns
        if not has_folder and "imagename" not in df.columns:
            if not (root / "images").is_dir():
                require_columns(df, meta, "filename")
            yield from _figure1_records(root, df, meta)
            return
        listed: set[Path] = set()  # every file the metadata names, kept or not
        folders: set[Path] = set()
        seen: set[Path] = set()
        extras = _Extras(root)
        for i, row in enumerate(df.to_dict("records")):
            name = ((row.get("filename") if has_folder else row.get("imagename")) or "").strip()
            folder = ((row.get("folder") or "images") if has_folder else "images").strip()
            path = root / folder / name if name else None
            if path is not None:
                listed.add(path)
                folders.add(path.parent)
            row_ref = f"{meta.name} row {i + 2}"
            where = str(path) if path is not None else row_ref
            reason = _refusal(row, path, seen)
            if reason:
                yield LeftOut(where, f"{reason} ({row_ref})")
                continue
            assert path is not None
            seen.add(path)
            finding = row.get("finding") or ""
            label, detail = map_finding(finding) or ("", "")
            if not known_finding(finding):
                extras.unknown_findings[finding.strip()] += 1
            yield extras.candidate(
                image_path=path,
                patient_id=row["patientid"].strip(),
                label=label,
                label_detail=detail,
                view=normalise_view(row.get("view")),
                offset_days=parse_offset(row.get("offset") or ""),
            )
        yield from extras.notices()
        yield from unlisted_files(folders, listed, meta.name)


def _refusal(row: dict[str, str], path: Path | None, seen: set[Path]) -> str:
    """Why a metadata row is left out ("" if it is kept)."""
    modality = (row.get("modality") or "").strip()
    if modality and modality.lower() not in XRAY_MODALITIES:
        return f"modality {modality} (X-ray only)"
    if map_finding(row.get("finding") or "") is None:
        return "empty or unknown finding"
    if path is None:
        return "no image file name"
    if not (row.get("patientid") or "").strip():
        return "no patient id"
    if path in seen:
        return "listed twice"
    if not path.is_file():
        return "listed but not found"
    return ""


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp", ".gif"}


def _figure1_images(folder: Path) -> dict[str, list[Path]]:
    """Lower-case image stem -> files in ``folder`` (any image extension)."""
    out: dict[str, list[Path]] = {}
    for path, problem in scan_folder(folder):
        if not problem and path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES:
            out.setdefault(path.stem.lower(), []).append(path)
    return out


def _figure1_records(root: Path, df: Any, meta: Path) -> Iterator[Record]:
    """Rows without a file name: ``images/<patientid>[a-z].<ext>`` (Figure1 release)."""
    folder = root / "images"
    by_stem = _figure1_images(folder)
    listed: set[Path] = set()
    extras = _Extras(root)
    for i, row in enumerate(df.to_dict("records")):
        row_ref = f"{meta.name} row {i + 2}"
        pid = (row.get("patientid") or "").strip()
        stems = [pid.lower()] + [f"{pid.lower()}{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
        paths = sorted(p for st in stems for p in by_stem.get(st, []) if p not in listed)
        reason = _refusal(row, paths[0] if paths else folder / pid, set())
        if not pid:
            reason = "no patient id"
        elif not paths:
            reason = "no image images/<patientid>[a-z].<ext> found"
        if reason:
            yield LeftOut(f"{meta.name}:row {i + 2} ({pid})", f"{reason} ({row_ref})")
            listed.update(paths)
            continue
        finding = row.get("finding") or ""
        label, detail = map_finding(finding) or ("", "")
        if not known_finding(finding):
            extras.unknown_findings[finding.strip()] += 1
        for path in paths:
            listed.add(path)
            yield extras.candidate(
                image_path=path,
                patient_id=strip_image_suffix(pid),
                label=label,
                label_detail=detail,
                view=normalise_view(row.get("view")),
                offset_days=parse_offset(row.get("offset") or ""),
            )
    yield from extras.notices()
    yield Notice("no file-name column (Figure1 release): images matched as "
                 "images/<patientid>[a-z].<ext>")
    yield from unlisted_files({folder}, listed, meta.name)
