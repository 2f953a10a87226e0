"""Folder-per-class layout, e.g. the COVID-19 Radiography Database.

Chowdhury et al., "Can AI help in screening viral and COVID-19 pneumonia?",
IEEE Access 8 (2020); Rahman et al., Comput. Biol. Med. 132 (2021). Published
as ``COVID/``, ``Normal/``, ``Viral Pneumonia/``, ``Lung_Opacity/``, each with
images directly inside or in an ``images/`` subfolder and lung masks (same
file names) in a ``masks/`` subfolder. Folder names are matched
case-insensitively through :data:`CLASS_ALIASES`.

The layout carries no patient identifiers, so every image is its own patient
(the file stem). Patient-level splitting is then impossible; the summary says
so, and only near-duplicate grouping (perceptual hash) guards against leakage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from cxr.data.adapters.registry import (
    Adapter,
    Candidate,
    LeftOut,
    Notice,
    Record,
    is_listable_file,
    register_adapter,
)

#: normalised folder name -> (label, label_detail)
CLASS_ALIASES: dict[str, tuple[str, str]] = {
    "covid": ("covid", "covid-19"),
    "covid 19": ("covid", "covid-19"),
    "covid19": ("covid", "covid-19"),
    "normal": ("normal", ""),
    "no finding": ("normal", ""),
    "no findings": ("normal", ""),
    "pneumonia": ("pneumonia", ""),
    "viral pneumonia": ("pneumonia", "viral"),
    "bacterial pneumonia": ("pneumonia", "bacterial"),
    "lung opacity": ("other", "lung opacity"),
}
IMAGE_SUBFOLDER = "images"
MASK_SUBFOLDER = "masks"


def class_of(folder_name: str) -> tuple[str, str] | None:
    """(label, label_detail) for a class folder name, or ``None`` if it is not one."""
    return CLASS_ALIASES.get(re.sub(r"[\s_\-]+", " ", folder_name.strip().lower()))


@register_adapter("folder-per-class")
class FolderPerClass(Adapter):
    description = "class folders (COVID/, Normal/, Viral Pneumonia/...), e.g. COVID-19 Radiography"
    priority = 90  # the most generic layout: tried last

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(d.is_dir() and class_of(d.name) for d in root.iterdir())

    @classmethod
    def records(cls, root: Path, *, keep_published_split: bool = False) -> Iterator[Record]:
        yield Notice(
            "no patient ids in a folder-per-class layout: one patient per image (file stem), "
            "so patient-level splitting is impossible for this collection"
        )
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            cls_ = class_of(folder.name)
            if cls_ is None:
                if not folder.name.startswith((".", "__")) and folder.name != MASK_SUBFOLDER:
                    yield LeftOut(str(folder), "folder is not a known class name")
                continue
            yield from _class_folder(folder, *cls_)


def _class_folder(folder: Path, label: str, detail: str) -> Iterator[Record]:
    masks = folder / MASK_SUBFOLDER
    sources = [folder]
    if (folder / IMAGE_SUBFOLDER).is_dir():
        sources.append(folder / IMAGE_SUBFOLDER)
    for src in sources:
        for path in sorted(src.iterdir()):
            if path.is_dir():
                if path.name not in (IMAGE_SUBFOLDER, MASK_SUBFOLDER) and src is folder:
                    yield LeftOut(str(path), "subfolder not part of the layout")
                continue
            if not is_listable_file(path):
                continue
            mask = masks / path.name
            yield Candidate(
                image_path=path,
                patient_id=path.stem,
                label=label,
                label_detail=detail,
                lung_mask_path=mask if mask.is_file() else None,
            )
