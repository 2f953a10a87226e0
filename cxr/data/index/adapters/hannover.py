"""Hannover Medical School COVID-19 image repository (Winther et al., 2020;
github.com/ml-workgroup/covid-19-image-repository, CC BY 3.0).

``data.csv`` has one row per image: ``patient_id``, ``image_id`` (the file is
``png/<image_id>.png``), ``admission_offset`` (days relative to admission),
``projection`` (ap / pa, normalised to the manifest's ``pa`` / ``ap``) and lab
values. Every image is COVID-19 positive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cxr.data.index.adapters.layout_registry import (
    DEFAULT_OPTIONS,
    Adapter,
    Candidate,
    LayoutOptions,
    LeftOut,
    Record,
    csv_columns,
    parse_offset,
    read_table,
    register_adapter,
    require_columns,
    unlisted_files,
)
from cxr.data.views import normalise_view

DATA_CSV = "data.csv"
IMAGE_DIR = "png"


@register_adapter("hannover-covid")
class HannoverCovid(Adapter):
    description = "Hannover COVID-19 repository: data.csv (patient_id, image_id) + png/"
    priority = 20

    @classmethod
    def detect(cls, root: Path, options: LayoutOptions = DEFAULT_OPTIONS) -> bool:
        return (root / IMAGE_DIR).is_dir() and {"patient_id", "image_id"} <= csv_columns(
            root / DATA_CSV
        )

    @classmethod
    def records(
        cls, root: Path, *, keep_published_split: bool = False,
        options: LayoutOptions = DEFAULT_OPTIONS,
    ) -> Iterator[Record]:
        meta = root / DATA_CSV
        df = read_table(meta)
        require_columns(df, meta, "patient_id", "image_id")
        listed: set[Path] = set()
        for i, row in enumerate(df.to_dict("records")):
            image_id, patient = row["image_id"].strip(), row["patient_id"].strip()
            if not image_id or not patient:
                yield LeftOut(f"{meta.name}:row {i + 2}", "no image_id or patient_id")
                continue
            path = root / IMAGE_DIR / f"{image_id}.png"
            if not path.is_file():
                yield LeftOut(str(path), f"listed but not found ({meta.name} row {i + 2})")
                continue
            if path in listed:
                yield LeftOut(str(path), f"listed twice ({meta.name} row {i + 2})")
                continue
            listed.add(path)
            yield Candidate(
                image_path=path,
                patient_id=patient,
                label="covid",
                label_detail="covid-19",
                view=normalise_view(row.get("projection")),
                offset_days=parse_offset(row.get("admission_offset") or ""),
            )
        yield from unlisted_files({root / IMAGE_DIR}, listed, meta.name)
