"""Tiny fake collections in each published layout (for test_adapters / test_index)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def tiny_image(path: Path, seed: int = 0, size: int = 64, fmt: str | None = None) -> Path:
    """A small distinct greyscale image (PNG or JPEG by suffix unless ``fmt``)."""
    rng = np.random.default_rng(seed)
    arr = (rng.random((size, size)) * 200 + 20).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, "L").save(path, format=fmt)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def make_radiography(root: Path) -> Path:
    """COVID-19 Radiography Database: class folders, images/ + masks/ subfolders."""
    for i, name in enumerate(["COVID-1.png", "COVID-2.png"]):
        tiny_image(root / "COVID" / "images" / name, seed=i)
        tiny_image(root / "COVID" / "masks" / name, seed=100 + i)
    tiny_image(root / "Normal" / "images" / "Normal-1.png", seed=3)
    tiny_image(root / "Viral Pneumonia" / "Viral Pneumonia-1.png", seed=4)  # directly inside
    tiny_image(root / "Lung_Opacity" / "images" / "Lung_Opacity-1.png", seed=5)
    tiny_image(root / "no_findings" / "x-1.png", seed=6)
    (root / "COVID" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "COVID.metadata.xlsx").write_bytes(b"PK\x03\x04")  # root-level file: ignored
    return root


def make_kaggle(root: Path, nested: bool = True) -> Path:
    """Kaggle chest-xray-pneumonia under ``root/chest_xray`` (or ``root`` itself)."""
    base = root / "chest_xray" if nested else root
    files = {
        "train/NORMAL": ["IM-0012-0001.jpeg", "IM-0115-0001.jpeg"],
        "train/PNEUMONIA": ["person7_bacteria_29.jpeg", "person12_virus_44.jpeg"],
        "test/NORMAL": ["NORMAL2-IM-0012-0001.jpeg", "IM-0011-0001-0001.jpeg"],
        "test/PNEUMONIA": ["person7_virus_30.jpeg"],
        "val/NORMAL": ["NORMAL2-IM-1427-0001.jpeg"],
    }
    for i, (folder, names) in enumerate(files.items()):
        for j, name in enumerate(names):
            tiny_image(base / folder / name, seed=10 * i + j, fmt="JPEG")
    return root


def make_covid_chestxray(root: Path, variant: str = "folder") -> Path:
    """covid-chestxray-dataset: metadata.csv + images/ (+ masks/ like the phantom writes)."""
    rows = [
        ["1", "0", "Pneumonia/Viral/COVID-19", "PA", "X-ray", "a.png"],
        ["1", "4", "Pneumonia/Viral/COVID-19", "AP Supine", "X-ray", "b.png"],
        ["2", "", "Pneumonia/Bacterial/Streptococcus", "PA", "X-ray", "c.png"],
        ["3", "2", "Pneumonia/Viral/SARS", "AP", "X-ray", "d.png"],
        ["4", "", "No Finding", "PA", "X-ray", "e.png"],
        ["5", "", "Tuberculosis", "PA", "X-ray", "f.png"],
        ["6", "", "COVID-19", "PA", "X-ray", "g.png"],  # old flat finding
        ["7", "", "Pneumonia/Viral/COVID-19", "Axial", "CT", "h.png"],
        ["8", "", "", "PA", "X-ray", "i.png"],
        ["9", "", "todo", "PA", "X-ray", "j.png"],
    ]
    for i, r in enumerate(rows):
        tiny_image(root / "images" / r[5], seed=40 + i)
    for name in ("a.png", "b.png"):
        tiny_image(root / "masks" / "lung" / name, seed=1)
        tiny_image(root / "masks" / "lesion" / name, seed=2)
    tiny_image(root / "images" / "stray.png", seed=99)  # not in metadata.csv
    if variant == "folder":
        header = ["patientid", "offset", "finding", "view", "modality", "folder", "filename"]
        body = [[*r[:5], "images", r[5]] for r in rows]
    else:  # early releases: imagename, no folder
        header = ["patientid", "offset", "finding", "view", "modality", "imagename"]
        body = [list(r) for r in rows]
    write_csv(root / "metadata.csv", header, body)
    return root


def make_hannover(root: Path) -> Path:
    """Hannover repository: data.csv + png/<image_id>.png."""
    rows = [
        ["p1", "0a1", "0", "CR", "pa"],
        ["p1", "0a2", "3", "CR", "ap"],
        ["p1", "0a3", "7", "DX", "ap"],
        ["p2", "0b1", "-2", "DX", "pa"],
        ["p3", "0c1", "", "CR", "ap"],
        ["p3", "missing", "1", "CR", "ap"],
    ]
    for i, r in enumerate(rows[:-1]):
        tiny_image(root / "png" / f"{r[1]}.png", seed=60 + i)
    write_csv(
        root / "data.csv",
        ["patient_id", "image_id", "sex", "admission_offset", "modality", "projection"],
        [[r[0], r[1], "f", r[2], r[3], r[4]] for r in rows],
    )
    return root


def make_coronahack(root: Path) -> Path:
    """CoronaHack: Chest_xray_Corona_Metadata.csv + nested {train,test}/."""
    img = root / "Coronahack-Chest-XRay-Dataset" / "Coronahack-Chest-XRay-Dataset"
    rows = [
        ["0", "IM-0128-0001.jpeg", "Normal", "TRAIN", "", ""],
        ["1", "person1_bacteria_1.jpeg", "Pnemonia", "TRAIN", "", "bacteria"],
        ["2", "person1_virus_6.jpeg", "Pnemonia", "TEST", "", "Virus"],
        ["3", "1-s2.0-S0929664620300449-gr2_lrg.jpg", "Pnemonia", "TRAIN", "COVID-19", "Virus"],
        ["4", "ards-sars.jpg", "Pnemonia", "TRAIN", "ARDS", "Stress-Smoking"],
        ["5", "sars-1.jpg", "Pnemonia", "TEST", "SARS", "Virus"],
    ]
    for i, r in enumerate(rows):
        tiny_image(img / r[3].lower() / r[1], seed=80 + i, fmt="JPEG")
    write_csv(
        root / "Chest_xray_Corona_Metadata.csv",
        ["", "X_ray_image_name", "Label", "Dataset_type", "Label_2_Virus_category",
         "Label_1_Virus_category"],
        rows,
    )
    return root


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    voi_lut: list[int] | None = None,
) -> Path:
    """A real single-frame DICOM file written with pydicom (Explicit VR Little Endian)."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientID = "P1"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if voi_lut is not None:
        item = Dataset()
        item.add_new(0x00283002, "US", [len(voi_lut), 0, 16])  # LUT Descriptor
        item.add_new(0x00283006, "US", voi_lut)  # LUT Data (ambiguous VR: US here)
        ds.VOILUTSequence = [item]
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_figure1(root: Path) -> Path:
    """Figure1 release of the covid-chestxray format: no file-name column.

    Images are ``images/<patientid>.<ext>``; one patient's several images carry
    ``a``/``b`` suffixes. Row 4 has no image; ``orphan.png`` is listed nowhere.
    """
    tiny_image(root / "images" / "COVID-00001.jpg", seed=300, fmt="JPEG")
    tiny_image(root / "images" / "COVID-00003a.jpg", seed=301, fmt="JPEG")
    tiny_image(root / "images" / "COVID-00003b.png", seed=302)
    tiny_image(root / "images" / "COVID-00010.png", seed=303)
    tiny_image(root / "images" / "orphan.png", seed=304)
    write_csv(
        root / "metadata.csv",
        ["patientid", "age", "sex", "finding", "view", "modality", "offset"],
        [["COVID-00001", "50", "M", "COVID-19", "PA", "X-ray", ""],
         ["COVID-00003", "60", "F", "COVID-19", "AP", "X-ray", "2"],
         ["COVID-00010", "40", "F", "No finding", "PA", "X-ray", ""],
         ["COVID-00012", "30", "M", "Pneumonia", "PA", "X-ray", ""]],
    )
    return root


def make_spelled_classes(root: Path) -> Path:
    """Class folders with the spellings public collections use, NIH file names included."""
    names = {
        "Covid-19": ["c1.png"],
        "COVID": ["c2.png"],
        "No_findings": ["00000013_000.png", "00000013_004.png"],
        "Pneumonia-Bacterial": ["00000042_001.png"],
        "Pneumonia-Viral": ["v1.png"],
        "Viral Pneumonia": ["v2.png"],
        "Lung_Opacity": ["o1.png"],
        "Edema": ["e1.png", "e2.png"],  # not a known class
    }
    for i, (folder, files) in enumerate(sorted(names.items())):
        for j, name in enumerate(files):
            tiny_image(root / folder / name, seed=400 + 10 * i + j)
    return root
