"""Throwaway manifests for the real-data check (the index helper's columns, written by hand)."""
import hashlib, re, sys
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from cxr.data.manifest import new_manifest, save_manifest

D = Path("/work/shared/data")
OUT = Path(sys.argv[1])
def sha(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()
def size(p):
    with Image.open(p) as im: return im.size
def split_of(pid, seed="s"):
    h = int(hashlib.sha256((seed + pid).encode()).hexdigest(), 16) % 100
    if seed == "k":
        return "train" if h < 65 else "val" if h < 80 else "test"
    return "train" if h < 75 else "val"

ie = D / "ieee8023-covid-chestxray"
meta = pd.read_csv(ie / "metadata.csv")
meta = meta[(meta["modality"] == "X-ray") & meta["view"].isin(["PA", "AP", "AP Supine"])
            & meta["finding"].astype(str).str.startswith("COVID-19")]
sev = pd.read_csv(ie / "annotations/covid-severity-scores.csv", comment="#")
sev = sev.set_index("filename")
scored_patients = set(meta[meta["filename"].isin(sev.index)]["patientid"].astype(str))
rows = []
for _, r in meta.iterrows():
    p = ie / str(r["folder"]) / str(r["filename"])
    if not p.is_file():
        continue
    stem = p.stem
    lung, src = "", ""
    for sub, s in (("v7-lung-masks", "manual"), ("lungVAE-masks", "dataset-model")):
        m = ie / "annotations" / sub / f"{stem}_mask.png"
        if m.is_file():
            lung, src = str(m), s
            break
    pid = str(r["patientid"])
    w, h = size(p)
    fn = str(r["filename"])
    rows.append({"image_path": str(p), "patient_id": f"ieee8023:{pid}", "label": "covid",
                 "label_detail": "covid-19", "view": str(r["view"]).upper(), "dataset": "ieee8023",
                 "origin": "real", "width": w, "height": h, "content_hash": sha(p),
                 # patients with expert scores are held out of training: severity is measured
                 # on images the classifier never saw
                 "split": "test" if pid in scored_patients else split_of(pid),
                 "lung_mask_path": lung, "lung_mask_source": src,
                 "severity_extent": sev.loc[fn, "geographic_mean"] if fn in sev.index else np.nan,
                 "severity_opacity": sev.loc[fn, "opacity_mean"] if fn in sev.index else np.nan})
ke = D / "kermany-chest-xray/chest_xray/train"
rng = np.random.default_rng(0)
for cls, label, n in (("NORMAL", "normal", 220), ("PNEUMONIA", "pneumonia", 220)):
    files = sorted((ke / cls).glob("*.jpeg"))
    for p in [files[i] for i in sorted(rng.choice(len(files), n, replace=False))]:
        m = re.match(r"(person\d+)", p.stem) or re.match(r"(IM-\d+)", p.stem)
        pid = m.group(1) if m else p.stem
        w, h = size(p)
        rows.append({"image_path": str(p), "patient_id": f"kermany:{pid}", "label": label,
                     "label_detail": "", "view": "", "dataset": "kermany", "origin": "real",
                     "width": w, "height": h, "content_hash": sha(p), "split": split_of(pid, "k"),
                     "lung_mask_path": "", "lung_mask_source": "",
                     "severity_extent": np.nan, "severity_opacity": np.nan})
df = new_manifest(rows)
save_manifest(df, OUT / "train_manifest.csv")
print(df.groupby(["dataset", "split", "label"]).size(), "scored:", df["severity_extent"].notna().sum())

qu = D / "covid-qu-ex-infection/Infection Segmentation Data/Val/COVID-19"
rows = []
for p in sorted((qu / "images").glob("*.png")):
    w, h = size(p)
    rows.append({"image_path": str(p), "patient_id": f"covid-qu-ex:{p.stem}", "label": "covid",
                 "label_detail": "covid-19", "view": "", "dataset": "covid-qu-ex", "origin": "real",
                 "width": w, "height": h, "content_hash": sha(p), "split": "",
                 "lung_mask_path": str(qu / "lung masks" / p.name), "lung_mask_source": "manual",
                 "lesion_mask_path": str(qu / "infection masks" / p.name),
                 "lesion_mask_source": "manual"})
save_manifest(new_manifest(rows), OUT / "qu_manifest.csv")
print("covid-qu-ex covid:", len(rows))
