"""Masks a collection ships: matched to its images by file stem, with their provenance.

A mask file belongs to the image whose stem it carries: ``a.png``, ``a_mask.png``,
``a-mask.png`` and ``a_mask.png.png`` (a doubled extension seen in the lungVAE
release) all belong to ``a.jpg``; matching ignores case. Each mask records where it
came from (:data:`cxr.data.manifest.MASK_SOURCES`): ``manual`` (drawn or checked by
people), ``dataset-model`` (shipped by the collection, made by a model), ``predicted``
(cxr's own segmenter), ``phantom`` (the generator's exact masks), so that no metric
takes a model's mask for ground truth.

Two ways in:

* An adapter that knows its collection names its mask folders with their kind and
  source, in priority order (:class:`ShippedMasks`; covid-chestxray: the V7 manual
  masks before the lungVAE model masks, so manual wins where both exist).
* The general rule (:class:`MaskFinder`) for any layout: mask folders **beside the
  image folder** (``X/images/a.png`` -> ``X/lung masks/a.png``, ``X/masks/a.png``,
  ``X/infection masks/a.png``) and the phantom layout's ``ROOT/masks/{lung,lesion}``.
  Their provenance is unknown, so they count as ``dataset-model`` (never as ground
  truth by accident), except under a phantom root (``phantom.yaml``): ``phantom``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cxr.data.index.adapters.folder_scan import scan_folder

KINDS = ("lung", "lesion")
_IMAGE_EXT = re.compile(r"\.(png|jpe?g|tiff?|bmp|gif|dcm)$", re.IGNORECASE)
_MASK_TAG = re.compile(r"[_\- ]?mask$", re.IGNORECASE)
#: normalised folder names (lower case, letters only) beside ``images/``
LUNG_FOLDERS = frozenset({"lungmasks", "lungmask", "lungsegmentation", "masks", "mask"})
LESION_FOLDERS = frozenset({
    "infectionmasks", "infectionmask", "lesionmasks", "lesionmask", "infectionsegmentation",
})
PHANTOM_MARKER = "phantom.yaml"


def mask_key(name: str) -> str:
    """The image stem a mask file name carries (lower case): ``A_mask.png.png`` -> ``a``."""
    stem = name
    while _IMAGE_EXT.search(stem):
        stem = _IMAGE_EXT.sub("", stem)
    return _MASK_TAG.sub("", stem).lower()


def image_key(path: Path) -> str:
    return path.stem.lower()


def index_folder(folder: Path) -> dict[str, Path]:
    """{mask_key: mask file} of the image files in ``folder`` (first by name wins)."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for path, problem in scan_folder(folder):
        if problem or not path.is_file() or not _IMAGE_EXT.search(path.name):
            continue
        out.setdefault(mask_key(path.name), path)
    return out


@dataclass(frozen=True)
class MaskFolder:
    """A folder of masks of one kind (``lung`` / ``lesion``) and one provenance."""

    folder: Path
    kind: str
    source: str


@dataclass(frozen=True)
class FoundMask:
    path: Path
    source: str
    folder: Path


class ShippedMasks:
    """The mask folders an adapter names, each indexed once, earlier folders first."""

    def __init__(self, folders: Sequence[MaskFolder]) -> None:
        self.folders = [f for f in folders if f.folder.is_dir()]
        self._index = {f.folder: index_folder(f.folder) for f in self.folders}
        self.used: dict[Path, set[str]] = {f.folder: set() for f in self.folders}
        #: kind -> images with masks of that kind in more than one folder (the first is used)
        self.overlaps: dict[str, int] = dict.fromkeys(KINDS, 0)

    def find(self, image: Path) -> dict[str, FoundMask]:
        """{kind: the first folder's mask for ``image``}; records which masks were used."""
        out: dict[str, FoundMask] = {}
        key = image_key(image)
        for f in self.folders:
            hit = self._index[f.folder].get(key)
            if hit is None:
                continue
            self.used[f.folder].add(key)
            if f.kind in out:
                self.overlaps[f.kind] += out[f.kind].folder != f.folder
                continue
            out[f.kind] = FoundMask(hit, f.source, f.folder)
        return out

    def unused(self) -> dict[Path, int]:
        """{folder: mask files that matched no image}."""
        return {f: len(set(self._index[f]) - self.used[f]) for f in self._index}


class MaskFinder:
    """The general rule: mask folders beside an image's folder, and ``ROOT/masks/<kind>``.

    Folder listings are cached, so a collection's folders are read once per index run.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = "phantom" if (root / PHANTOM_MARKER).is_file() else "dataset-model"
        self._cache: dict[Path, dict[str, Path]] = {}
        self._beside: dict[Path, list[MaskFolder]] = {}

    def _listing(self, folder: Path) -> dict[str, Path]:
        if folder not in self._cache:
            self._cache[folder] = index_folder(folder)
        return self._cache[folder]

    def folders_for(self, image_folder: Path) -> list[MaskFolder]:
        if image_folder in self._beside:
            return self._beside[image_folder]
        found = [MaskFolder(self.root / "masks" / k, k, self.source) for k in KINDS]
        parent = image_folder.parent
        if image_folder != self.root and parent.is_dir():
            for entry, problem in scan_folder(parent):
                if problem or not entry.is_dir() or entry == image_folder:
                    continue
                name = re.sub(r"[^a-z]", "", entry.name.lower())
                if name in LESION_FOLDERS:
                    found.append(MaskFolder(entry, "lesion", self.source))
                elif name in LUNG_FOLDERS:
                    found.append(MaskFolder(entry, "lung", self.source))
        self._beside[image_folder] = [f for f in found if f.folder.is_dir()]
        return self._beside[image_folder]

    def find(self, image: Path) -> dict[str, FoundMask]:
        out: dict[str, FoundMask] = {}
        key = image_key(image)
        for f in self.folders_for(image.parent):
            hit = self._listing(f.folder).get(key)
            if hit is not None and hit != image:
                out.setdefault(f.kind, FoundMask(hit, f.source, f.folder))
        return out


def describe_unused(unused: dict[Path, int], root: Path) -> Iterable[str]:
    """One phrase per folder with masks that matched no indexed image."""
    for folder, n in unused.items():
        if n:
            yield f"{n} mask file(s) in {folder.relative_to(root)} match no listed image"
