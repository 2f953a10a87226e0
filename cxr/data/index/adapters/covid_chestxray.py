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

Findings are hierarchical since mid-2020 (``Pneumonia/Viral/COVID-19``,
``Pneumonia/Bacterial/Streptococcus``, ``No Finding``, ``Tuberculosis``) and
flat before (``COVID-19``, ``SARS``, ``Streptococcus``, ``COVID-19, ARDS``);
:func:`map_finding` handles both. Only X-ray rows are kept (CT rows are left
out and counted), and rows with an empty or unknown finding are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from cxr.data.index.adapters.names import strip_image_suffix

METADATA = "metadata.csv"
XRAY_MODALITIES = {"x-ray", "xray", "x ray", "cr", "dx"}
_VIRAL = {"sars", "mers", "mers-cov", "influenza", "varicella", "herpes", "rsv", "h1n1"}
_BACTERIAL = {
    "streptococcus", "staphylococcus", "klebsiella", "legionella", "chlamydophila",
    "e.coli", "e. coli", "mycoplasma", "nocardia", "bacterial",
}
_FUNGAL = {"pneumocystis", "aspergillosis", "histoplasmosis", "candida", "fungal"}
_UNKNOWN = {"", "todo", "unknown", "n/a", "na", "nan", "none"}


def map_finding(finding: str) -> tuple[str, str] | None:
    """(label, label_detail) for a covid-chestxray finding, ``None`` if empty/unknown."""
    text = finding.strip().lower()
    if text in _UNKNOWN:
        return None
    if re.search(r"covid[\s\-_]?19|sars-cov-2", text):
        return "covid", "covid-19"
    if text in ("no finding", "normal"):
        return "normal", ""
    parts = [p.strip() for p in re.split(r"[/,]", text) if p.strip()]
    if parts[0] == "pneumonia":
        if len(parts) == 1:
            return "pneumonia", ""
        kind = parts[1]
        return "pneumonia", {"viral": "viral", "bacterial": "bacterial", "fungal": "fungal"}.get(
            kind, kind
        )
    if parts[0] in _VIRAL:
        return "pneumonia", "viral"
    if parts[0] in _BACTERIAL:
        return "pneumonia", "bacterial"
    if parts[0] in _FUNGAL:
        return "pneumonia", "fungal"
    return "other", text


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
            label, detail = map_finding(row.get("finding") or "") or ("", "")
            yield Candidate(
                image_path=path,
                patient_id=row["patientid"].strip(),
                label=label,
                label_detail=detail,
                view=(row.get("view") or "").strip(),
                offset_days=parse_offset(row.get("offset") or ""),
            )
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
        label, detail = map_finding(row.get("finding") or "") or ("", "")
        for path in paths:
            listed.add(path)
            yield Candidate(
                image_path=path,
                patient_id=strip_image_suffix(pid),
                label=label,
                label_detail=detail,
                view=(row.get("view") or "").strip(),
                offset_days=parse_offset(row.get("offset") or ""),
            )
    yield Notice("no file-name column (Figure1 release): images matched as "
                 "images/<patientid>[a-z].<ext>")
    yield from unlisted_files({folder}, listed, meta.name)
