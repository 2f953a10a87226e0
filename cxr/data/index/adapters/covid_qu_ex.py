"""COVID-QU-Ex segmentation layout (Tahir et al., "COVID-19 infection localization and
severity grading from chest X-ray images", Computers in Biology and Medicine 139, 2021;
Qatar University and University of Dhaka, published on Kaggle).

Published as ``Infection Segmentation Data/<Split>/<Class>/images/<name>.png`` (and
``Lung Segmentation Data/...`` alike), ``<Split>`` one of ``Train``, ``Val``, ``Test``
and ``<Class>`` one of ``COVID-19``, ``Non-COVID``, ``Normal``; beside ``images/`` sit
``lung masks/`` and (in the infection set) ``infection masks/``, same file names.
The root is the folder holding the split folders (``Infection Segmentation Data``); its
parent is found one level up by auto-detection.

* Labels: ``COVID-19`` -> covid, ``Normal`` -> normal, ``Non-COVID`` (other
  pneumonias and lung opacities, mixed) -> other, detail ``non-covid`` (as the
  folder-per-class adapter files it: the two- and three-class tasks leave it out).
* Masks: lung masks were drawn by the authors' annotators with a segmentation model
  in the loop and checked by people, infection masks mark the COVID-19 lesions (empty
  for the other classes): both ``manual``. The empty infection mask of a non-COVID
  image is kept: "no lesion" is a ground truth too.
* **No patient ids**: files are renumbered (``covid_1902.png``, ``Normal (1).png``),
  so each image is its own patient (its file stem), with a notice. Several images may
  show one patient; use the folder to evaluate (lung segmentation, localisation),
  not to train and test on as if the images were independent.
* The published split is kept only with ``keep_published_split``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cxr.data.index.adapters.folder_scan import scan_folder
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

SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
CLASSES = {
    "covid-19": ("covid", "covid-19"),
    "non-covid": ("other", "non-covid"),
    "normal": ("normal", ""),
}
IMAGES = "images"
LUNG_MASKS = "lung masks"
INFECTION_MASKS = "infection masks"


def _split_dirs(root: Path) -> list[tuple[Path, str]]:
    out = []
    for entry, problem in scan_folder(root):
        if not problem and entry.is_dir() and entry.name.lower() in SPLITS:
            out.append((entry, SPLITS[entry.name.lower()]))
    return out


def _class_dirs(split_dir: Path) -> list[tuple[Path, tuple[str, str]]]:
    out = []
    for entry, problem in scan_folder(split_dir):
        if not problem and entry.is_dir() and entry.name.lower() in CLASSES:
            out.append((entry, CLASSES[entry.name.lower()]))
    return out


@register_adapter("covid-qu-ex")
class CovidQuEx(Adapter):
    description = "COVID-QU-Ex: <Split>/{COVID-19,Non-COVID,Normal}/{images,lung masks,...}/"
    priority = 30  # before the generic folder-per-class layout, which would misread it

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        return any((cdir / IMAGES).is_dir()
                   for sdir, _ in _split_dirs(root) for cdir, _ in _class_dirs(sdir))

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        n = 0
        missing = {"lung": 0, "lesion": 0}
        for sdir, split in _split_dirs(root):
            for cdir, (label, detail) in _class_dirs(sdir):
                lung_dir, lesion_dir = cdir / LUNG_MASKS, cdir / INFECTION_MASKS
                for path, problem in scan_folder(cdir / IMAGES):
                    if problem:
                        yield LeftOut(str(path), problem)
                        continue
                    if not path.is_file():
                        yield LeftOut(str(path), "subfolder not part of the layout")
                        continue
                    lung, lesion = lung_dir / path.name, lesion_dir / path.name
                    missing["lung"] += not lung.is_file()
                    missing["lesion"] += lesion_dir.is_dir() and not lesion.is_file()
                    n += 1
                    yield Candidate(
                        image_path=path,
                        patient_id=path.stem,
                        label=label,
                        label_detail=detail,
                        split=split if keep_published_split else "",
                        lung_mask_path=lung if lung.is_file() else None,
                        lung_mask_source="manual" if lung.is_file() else "",
                        lesion_mask_path=lesion if lesion.is_file() else None,
                        lesion_mask_source="manual" if lesion.is_file() else "",
                    )
        if n:
            yield Notice(
                f"no patient ids in this layout: each of the {n} images is its own patient "
                "(several may show one patient: patient-level splits are impossible here; "
                "use it as an evaluation set)"
            )
        for kind, folder in (("lung", LUNG_MASKS), ("lesion", INFECTION_MASKS)):
            if missing[kind]:
                yield Notice(f"{missing[kind]} image(s) without a mask in '{folder}/'")
