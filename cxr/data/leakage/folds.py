"""Leave-one-dataset-out folds: train on some collections, test on one never seen.

Internal test splits share their source with training, so a model that
recognises hospitals scores well on them (DeGrave et al., Nat. Mach. Intell.
3, 2021; Zech et al., PLoS Med. 2018 showed the same for pneumonia across
hospitals). A fold holds one collection out entirely (``dataset`` column):

* **test**: every real image of the held-out collection. If it holds no image
  of another class than ``positive`` (e.g. a COVID-only collection), the test
  split's negatives of the *other* collections are added so an AUROC exists;
  those pairs compare sources, and the fold's notes say so.
* **train / val**: the other collections' rows keep their split of the given
  (patient-level) split manifest; their test rows are not used otherwise.
* rows of the other collections that are the same radiograph as a held-out
  image (same ``duplicate_group`` or ``content_hash``) or share its patient are
  dropped and counted: public collections copy each other.

One fold per collection that holds ``positive`` images; a fold whose remaining
collections have no ``positive`` image in train or val cannot train a
classifier and is reported as impossible instead of built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cxr.runtime.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Fold:
    name: str  # the held-out collection
    manifest: pd.DataFrame | None  # None: impossible (see ``reason``)
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    reason: str = ""


def fold_datasets(df: pd.DataFrame, positive: str = "covid") -> list[str]:
    """Collections holding real ``positive`` images, sorted: one fold each."""
    real = df[df["origin"].astype(str) == "real"]
    return sorted(set(real.loc[real["label"].astype(str) == positive, "dataset"].astype(str)))


def build_fold(df: pd.DataFrame, held_out: str, *, positive: str = "covid") -> Fold:
    """The fold manifest that holds ``held_out`` out (see the module docstring)."""
    df = df[df["origin"].astype(str) == "real"].reset_index(drop=True)
    split = df["split"].astype(str)
    ds = df["dataset"].astype(str)
    if held_out not in set(ds):
        raise ConfigError(f"no collection named {held_out!r} (have: {', '.join(sorted(set(ds)))})")
    out = ds == held_out
    is_pos = df["label"].astype(str) == positive
    link = df["patient_id"].astype(str).isin(set(df.loc[out, "patient_id"].astype(str)))
    for col in ("duplicate_group", "content_hash"):
        if col in df.columns:
            vals = df[col].fillna("").astype(str)
            held = set(vals[out]) - {""}
            link |= vals.isin(held)
    dropped = int((link & ~out & split.isin(["train", "val", "test"])).sum())
    keep = ~out & ~link
    notes = [f"test = every image of {held_out!r}; train/val = the other collections' "
             "train/val splits"]
    if dropped:
        notes.append(f"{dropped} image(s) of other collections share a patient or a duplicate "
                     f"image with {held_out!r} and were dropped")
    new_split = split.where(keep & split.isin(["train", "val"]), "")
    new_split = new_split.mask(out, "test")
    borrowed = 0
    if not (out & ~is_pos).any():
        extra = keep & (split == "test") & ~is_pos
        borrowed = int(extra.sum())
        new_split = new_split.mask(extra, "test")
        notes.append(
            f"{held_out!r} holds only {positive} images: {borrowed} negatives from the other "
            "collections' test splits were added, so this fold's AUROC compares sources "
            "(read its within-source figure where one exists)"
        )
    fold = df.assign(split=new_split.to_numpy())
    for s in ("train", "val"):
        if not ((fold["split"] == s) & is_pos).any():
            return Fold(held_out, None, reason=(
                f"without {held_out!r} no {positive} image is left in {s}; this fold cannot "
                "train or threshold a classifier"))
    test = fold["split"] == "test"
    if not (test & ~is_pos).any():
        return Fold(held_out, None, reason=f"no negative image to test {held_out!r} against")
    counts = {f"{s}_{k}": int(((fold["split"] == s) & (is_pos if k == positive else ~is_pos)).sum())
              for s in ("train", "val", "test") for k in (positive, "other")}
    counts |= {"dropped_linked": dropped, "borrowed_negatives": borrowed}
    return Fold(held_out, fold, counts, tuple(notes))


def build_folds(df: pd.DataFrame, *, positive: str = "covid") -> list[Fold]:
    """One fold per collection holding ``positive`` images (impossible ones keep a reason)."""
    used = set(df["split"].astype(str)) & {"train", "val", "test"}
    if used != {"train", "val", "test"}:
        raise ManifestError("leave-one-dataset-out needs a split manifest (train, val and test "
                            "rows); run `cxr data split` first")
    names = fold_datasets(df, positive)
    if len(set(df["dataset"].astype(str))) < 2:
        raise ConfigError("leave-one-dataset-out needs at least two collections "
                          f"(the manifest has only {names or ['none']})")
    folds = [build_fold(df, name, positive=positive) for name in names]
    if not any(f.manifest is not None for f in folds):
        reasons = "; ".join(f"{f.name}: {f.reason}" for f in folds)
        raise ConfigError(f"no leave-one-dataset-out fold can be trained ({reasons})")
    return folds
