"""CoronaHack chest X-ray layout (Kaggle, praveengovi/coronahack-chest-xraydataset).

A re-packaging of the Kermany pediatric set (Cell 2018) plus COVID-19 / SARS /
ARDS images from the covid-chestxray-dataset (Cohen et al. 2020).
``Chest_xray_Corona_Metadata.csv`` has ``X_ray_image_name``, ``Label``
(``Normal`` / ``Pnemonia`` -- sic), ``Dataset_type`` (TRAIN / TEST),
``Label_1_Virus_category`` (bacteria / Virus / Stress-Smoking) and
``Label_2_Virus_category`` (COVID-19, SARS, Streptococcus, ARDS, ...).
Images live in ``Coronahack-Chest-XRay-Dataset/Coronahack-Chest-XRay-Dataset/{train,test}/``
(one or both ``Coronahack-Chest-XRay-Dataset`` levels may be missing).

Mapping: ``COVID-19`` in Label_2 -> covid; otherwise Label_1 ``bacteria`` ->
pneumonia/bacterial, ``Virus`` -> pneumonia/viral, ``Stress-Smoking`` ->
other (detail ARDS / stress-smoking). Patient ids come from Kermany file names
(``personN_...``, ``IM-XXXX-...``) when they parse, else one per image. The
published TRAIN/TEST split is dropped unless ``keep_published_split``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cxr.data.index.adapters.kaggle_pneumonia import parse_kermany_name
from cxr.data.index.adapters.layout_registry import (
    DEFAULT_OPTIONS,
    Adapter,
    Candidate,
    LayoutOptions,
    LeftOut,
    Notice,
    Record,
    csv_columns,
    read_table,
    register_adapter,
    require_columns,
)

METADATA = "Chest_xray_Corona_Metadata.csv"
PACKAGE_DIR = "Coronahack-Chest-XRay-Dataset"
_SPLITS = {"train": "train", "test": "test"}


def find_image_root(root: Path) -> Path | None:
    """The folder holding ``train/`` and/or ``test/``."""
    for cand in (root / PACKAGE_DIR / PACKAGE_DIR, root / PACKAGE_DIR, root):
        if any((cand / s).is_dir() for s in _SPLITS):
            return cand
    return None


def map_row(label: str, kind: str, organism: str) -> tuple[str, str] | None:
    """(label, label_detail) from Label, Label_1 and Label_2, ``None`` if unknown."""
    label, kind, organism = (s.strip().lower() for s in (label, kind, organism))
    if organism.replace(" ", "") in ("covid-19", "covid19"):
        return "covid", "covid-19"
    if label == "normal":
        return "normal", ""
    if label not in ("pnemonia", "pneumonia"):
        return None
    if kind == "bacteria":
        return "pneumonia", "bacterial"
    if kind == "virus":
        return "pneumonia", "viral"
    if kind == "stress-smoking":
        return "other", organism or "stress-smoking"
    return "pneumonia", ""


@register_adapter("coronahack")
class CoronaHack(Adapter):
    description = "CoronaHack: Chest_xray_Corona_Metadata.csv + {train,test}/ image folders"
    priority = 20

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        return "x_ray_image_name" in csv_columns(root / METADATA)

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        meta = root / METADATA
        df = read_table(meta)
        require_columns(df, meta, "x_ray_image_name", "label", "dataset_type")
        images = find_image_root(root)
        if images is None:
            yield LeftOut(str(root / PACKAGE_DIR), "image folder with train/ and test/ not found")
            return
        one_per_image = 0
        for i, row in enumerate(df.to_dict("records")):
            where = f"{meta.name}:row {i + 2}"
            name = row["x_ray_image_name"].strip()
            split = _SPLITS.get(row["dataset_type"].strip().lower())
            mapped = map_row(
                row["label"],
                row.get("label_1_virus_category") or "",
                row.get("label_2_virus_category") or "",
            )
            if not name or split is None:
                yield LeftOut(f"{where} ({name})", "no image name or unknown Dataset_type")
                continue
            if mapped is None:
                yield LeftOut(f"{where} ({name})", f"unknown label {row['label']!r}")
                continue
            path = images / split / name
            if not path.is_file():
                yield LeftOut(str(path), f"listed but not found ({meta.name} row {i + 2})")
                continue
            parsed = parse_kermany_name(Path(name).stem)
            if parsed is None:
                one_per_image += 1
            patient = parsed[0] if parsed else f"file:{Path(name).stem}"
            yield Candidate(
                path, patient, mapped[0], mapped[1], split=split if keep_published_split else ""
            )
        if one_per_image:
            yield Notice(
                f"{one_per_image} image(s) without a Kermany patient number: one patient each "
                "(patient-level splitting is impossible for them)"
            )
        yield Notice(
            "published TRAIN/TEST split kept: it leaks patients (Kermany person numbers recur)"
            if keep_published_split
            else "published split dropped (it leaks patients); re-split with `cxr data split`"
        )
