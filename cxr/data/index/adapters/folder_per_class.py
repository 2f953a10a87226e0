"""Folder-per-class layout, e.g. the COVID-19 Radiography Database.

Chowdhury et al., "Can AI help in screening viral and COVID-19 pneumonia?",
IEEE Access 8 (2020); Rahman et al., Comput. Biol. Med. 132 (2021). Published
as ``COVID/``, ``Normal/``, ``Viral Pneumonia/``, ``Lung_Opacity/``, each with
images directly inside or in an ``images/`` subfolder and lung masks (same
file names) in a ``masks/`` subfolder. Other collections spell the classes
differently (``Covid-19``, ``No_findings``, ``Pneumonia-Bacterial``, ...):
folder names are compared after :func:`normalise` (lower case, punctuation and
separators removed) against :data:`CLASS_ALIASES`, and ``--class-map
'FOLDER=label[:detail]'`` adds more. Folders that match nothing are listed by
name with their image counts (and every file in them goes to the skipped
report), so a user sees what to map.

Patient ids come from file names where a known scheme exists
(:func:`cxr.data.index.adapters.names.patient_from_name`: NIH ChestX-ray14
``<patient>_<study>.png``, Kermany ``personN_...`` / ``IM-XXXX-...``);
otherwise every image is its own patient (the file stem), patient-level
splitting is impossible for those images and the summary says how many.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from cxr.data.index.adapters.folder_scan import printable, scan_folder
from cxr.data.index.adapters.layout_registry import (
    DEFAULT_OPTIONS,
    Adapter,
    Candidate,
    LayoutOptions,
    LeftOut,
    Notice,
    Record,
    register_adapter,
)
from cxr.data.index.adapters.names import patient_from_name
from cxr.runtime.errors import ConfigError

#: normalised folder name (:func:`normalise`) -> (label, label_detail)
CLASS_ALIASES: dict[str, tuple[str, str]] = {
    "covid": ("covid", "covid-19"),
    "covid19": ("covid", "covid-19"),
    "covid19positive": ("covid", "covid-19"),
    "covidpositive": ("covid", "covid-19"),
    "sarscov2": ("covid", "covid-19"),
    "normal": ("normal", ""),
    "healthy": ("normal", ""),
    "nofinding": ("normal", ""),
    "nofindings": ("normal", ""),
    "pneumonia": ("pneumonia", ""),
    "viralpneumonia": ("pneumonia", "viral"),
    "pneumoniaviral": ("pneumonia", "viral"),
    "virus": ("pneumonia", "viral"),
    "bacterialpneumonia": ("pneumonia", "bacterial"),
    "pneumoniabacterial": ("pneumonia", "bacterial"),
    "bacteria": ("pneumonia", "bacterial"),
    "lungopacity": ("other", "lung opacity"),
    "noncovid": ("other", "non-covid"),
    "tuberculosis": ("other", "tuberculosis"),
}
IMAGE_SUBFOLDER = "images"
MASK_SUBFOLDER = "masks"


def normalise(folder_name: str) -> str:
    """Lower case without separators or punctuation: ``Covid-19`` -> ``covid19``."""
    return re.sub(r"[\W_]+", "", folder_name.strip().lower())


def class_of(
    folder_name: str, class_map: Mapping[str, tuple[str, str]] | None = None
) -> tuple[str, str] | None:
    """(label, label_detail) for a class folder name, or ``None`` if it is not one."""
    key = normalise(folder_name)
    if class_map and key in class_map:
        return class_map[key]
    return CLASS_ALIASES.get(key)


def parse_class_map(entries: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``['FOLDER=label[:detail]', ...]`` -> {normalised folder: (label, detail)}."""
    from cxr.data.manifest import LABELS

    out: dict[str, tuple[str, str]] = {}
    for entry in entries:
        folder, sep, target = entry.partition("=")
        label, _, detail = target.partition(":")
        label = label.strip().lower()
        if not sep or not folder.strip() or label not in LABELS:
            raise ConfigError(
                f"--class-map {entry!r}: expected FOLDER=label[:detail] with label one of "
                f"{', '.join(LABELS)}"
            )
        out[normalise(folder)] = (label, detail.strip())
    return out


@register_adapter("folder-per-class")
class FolderPerClass(Adapter):
    description = "class folders (COVID/, Normal/, Viral Pneumonia/...), e.g. COVID-19 Radiography"
    priority = 90  # the most generic layout: tried last

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        return any(
            not problem and d.is_dir() and class_of(d.name, options.class_map)
            for d, problem in scan_folder(root)
        )

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        unknown: list[str] = []
        no_id = 0
        for folder, problem in scan_folder(root):
            if problem:
                yield LeftOut(str(folder), problem)
                continue
            if not folder.is_dir():
                continue  # root-level files (licences, spreadsheets) are not images
            cls_ = class_of(folder.name, options.class_map)
            if cls_ is None:
                if folder.name.startswith("__") or folder.name == MASK_SUBFOLDER:
                    continue
                files = [r for r in _class_folder(folder, "", "") if isinstance(r, Candidate)]
                unknown.append(f"{printable(folder.name)!r} ({len(files)} images)")
                for f in files:
                    yield LeftOut(str(f.image_path),
                                  f"folder {printable(folder.name)!r} is not a known class name")
                continue
            for rec in _class_folder(folder, *cls_):
                no_id += isinstance(rec, Candidate) and rec.patient_id == rec.image_path.stem
                yield rec
        if unknown:
            yield Notice(
                f"folder(s) not a known class name, left out: {', '.join(unknown)}; map them "
                "with --class-map 'FOLDER=label[:detail]'"
            )
        if no_id:
            yield Notice(
                f"{no_id} image(s) without a patient id in the file name: one patient each "
                "(patient-level splitting is impossible for them; see --patient-regex)"
            )


def _class_folder(folder: Path, label: str, detail: str) -> Iterator[Record]:
    masks = folder / MASK_SUBFOLDER
    sources = [folder]
    if (folder / IMAGE_SUBFOLDER).is_dir():
        sources.append(folder / IMAGE_SUBFOLDER)
    for src in sources:
        for path, problem in scan_folder(src):
            if problem:
                yield LeftOut(str(path), problem)
                continue
            if path.is_dir():
                if path.name not in (IMAGE_SUBFOLDER, MASK_SUBFOLDER) and src is folder:
                    yield LeftOut(str(path), "subfolder not part of the layout")
                continue
            mask = masks / path.name
            yield Candidate(
                image_path=path,
                patient_id=patient_from_name(path.stem) or path.stem,
                label=label,
                label_detail=detail,
                lung_mask_path=mask if mask.is_file() else None,
            )
