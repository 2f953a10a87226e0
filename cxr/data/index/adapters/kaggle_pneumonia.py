"""Kaggle "Chest X-Ray Images (Pneumonia)" layout (Kermany et al., Cell 172(5), 2018).

Published as ``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg``; the root
may be the folder holding ``chest_xray`` or ``chest_xray`` itself (the Kaggle
archive also carries a duplicate ``chest_xray/chest_xray`` and ``__MACOSX``,
which are ignored). Patient ids come from the file names:

* ``personN_bacteria_M`` / ``personN_virus_M`` -> patient ``personN``,
  pneumonia, detail bacterial / viral (M numbers the image).
* ``IM-XXXX-YYYY`` and ``NORMAL2-IM-XXXX-YYYY`` (sometimes with a further
  ``-YYYY``) -> patient ``IM-XXXX``, normal.

Decision: ``NORMAL2-IM-0012`` and ``IM-0012`` are treated as the **same**
patient. ``NORMAL2`` marks a second batch of the same series, and nothing
published says its numbers restart; if they do, merging only coarsens the
split by a few patients, whereas separating a real patient would leak it
across splits. Likewise ``personN_bacteria`` and ``personN_virus`` with the
same N are one patient.

The published split leaks patients (the same person numbers occur in train
and test), so it is dropped unless ``keep_published_split`` is set, which
warns with the number of patients found in more than one split.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
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

SPLIT_DIRS = {"train": "train", "val": "val", "test": "test"}
CLASS_DIRS = {"normal": ("normal", ""), "pneumonia": ("pneumonia", "")}
_PERSON = re.compile(r"^person(\d+)_(bacteria|virus)_\d+", re.IGNORECASE)
_IM = re.compile(r"^(?:NORMAL2-)?IM-(\d+)-\d+(?:-\d+)*$", re.IGNORECASE)
_DETAIL = {"bacteria": "bacterial", "virus": "viral"}


def parse_kermany_name(stem: str) -> tuple[str, str, str] | None:
    """(patient_id, label, label_detail) from a Kermany file stem, or ``None``."""
    m = _PERSON.match(stem)
    if m:
        return f"person{int(m.group(1))}", "pneumonia", _DETAIL[m.group(2).lower()]
    m = _IM.match(stem)
    if m:
        return f"IM-{int(m.group(1)):04d}", "normal", ""
    return None


def find_split_root(root: Path) -> Path | None:
    """The folder holding train/val/test with NORMAL/PNEUMONIA inside, if any."""
    for cand in (root, root / "chest_xray", root / "chest_xray" / "chest_xray"):
        if cand.is_dir() and any(
            (cand / s).is_dir() and _class_dirs(cand / s) for s in SPLIT_DIRS
        ):
            return cand
    return None


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(d for d in split_dir.iterdir() if d.is_dir() and d.name.lower() in CLASS_DIRS)


@register_adapter("kaggle-pneumonia")
class KagglePneumonia(Adapter):
    description = "Kaggle chest-xray-pneumonia: chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}"
    priority = 40

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        return find_split_root(root) is not None

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        base = find_split_root(root)
        if base is None:
            return
        found: list[Candidate] = []
        unparsed = 0
        for split in sorted(SPLIT_DIRS):
            if not (base / split).is_dir():
                continue
            for cdir in _class_dirs(base / split):
                label, _ = CLASS_DIRS[cdir.name.lower()]
                for path, problem in scan_folder(cdir):
                    if problem:
                        yield LeftOut(str(path), problem)
                        continue
                    if not path.is_file():
                        continue
                    parsed = parse_kermany_name(path.stem)
                    if parsed is None:
                        unparsed += 1
                        patient, detail = f"file:{path.stem}", ""
                    else:
                        patient, name_label, detail = parsed
                        if name_label != label:
                            yield LeftOut(str(path), f"file name says {name_label}, folder {label}")
                            continue
                    found.append(
                        Candidate(path, patient, label, detail, split=SPLIT_DIRS[split])
                    )
        if unparsed:
            yield Notice(f"{unparsed} file name(s) without a patient number: one patient each")
        yield from _split_policy(found, keep_published_split)


def _split_policy(found: list[Candidate], keep: bool) -> Iterator[Record]:
    splits_of: dict[str, set[str]] = defaultdict(set)
    for c in found:
        splits_of[c.patient_id].add(c.split)
    leaking = sum(1 for s in splits_of.values() if len(s) > 1)
    if keep:
        yield Notice(
            f"published train/val/test split kept: it leaks patients ({leaking} patient(s) in "
            "more than one split); metrics on it are optimistic"
        )
        yield from found
    else:
        yield Notice(
            "published split dropped (it leaks patients); re-split by patient with `cxr data split`"
        )
        for c in found:
            yield replace(c, split="")
