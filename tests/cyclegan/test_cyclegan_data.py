"""Unpaired domains: train/real-only selection, seeded schedules, batch reading.

The tiny manifest comes from :mod:`support.gan_fixtures`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxr.cyclegan.domains import (
    UnpairedBatches,
    UnpairedSampler,
    assert_train_real,
    monitor_rows,
    select_domains,
    select_sources,
    steps_per_epoch,
)
from cxr.data.manifest import new_manifest
from cxr.runtime.errors import ConfigError, LeakageError


@pytest.fixture()
def df() -> pd.DataFrame:
    rows = []
    for label in ("normal", "pneumonia", "covid"):
        for split in ("train", "val", "test"):
            for i in range(3):
                rows.append(
                    {
                        "image_path": f"/x/{label}_{split}_{i}.png",
                        "patient_id": f"d:{label}{split}{i}",
                        "label": label,
                        "dataset": "d",
                        "split": split,
                        "origin": "real",
                    }
                )
    rows.append(
        {
            "image_path": "/x/gan.png",
            "patient_id": "d:normaltrain0",
            "label": "covid",
            "dataset": "d",
            "split": "train",
            "origin": "gan",
        }
    )
    return new_manifest(rows)


def test_domains_use_only_train_real_rows(df: pd.DataFrame) -> None:
    dom = select_domains(df, ("normal", "pneumonia"), "covid")
    a, b = df.iloc[dom.a], df.iloc[dom.b]
    assert set(a["label"]) == {"normal", "pneumonia"} and len(a) == 6
    assert set(b["label"]) == {"covid"} and len(b) == 3  # the gan covid row is excluded
    for rows in (a, b):
        assert set(rows["split"]) == {"train"} and set(rows["origin"]) == {"real"}


def test_lateral_views_stay_out_of_the_domains_and_synthesis(df: pd.DataFrame) -> None:
    df = df.copy()
    lat = df.index[(df["split"] == "train") & (df["label"].isin(["normal", "covid"]))][[0, -2]]
    df.loc[lat, "view"] = "lateral"
    dom = select_domains(df, ("normal",), "covid")
    assert len(dom.a) == 2 and len(dom.b) == 2
    assert "lateral" not in set(df.iloc[np.concatenate([dom.a, dom.b])]["view"])
    every = select_domains(df, ("normal",), "covid", views="all")
    assert len(every.a) == 3 and len(every.b) == 3
    assert len(select_sources(df, ("normal",))) == 2
    assert len(select_sources(df, ("normal",), "all")) == 3


def test_domain_errors_name_the_problem(df: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown label"):
        select_domains(df, ("healthy",), "covid")
    with pytest.raises(ConfigError, match="also a --source"):
        select_domains(df, ("covid",), "covid")
    with pytest.raises(ConfigError, match="no train-split real images with target label other"):
        select_domains(df, ("normal",), "other")
    with pytest.raises(LeakageError, match="val"):
        assert_train_real(df[df["split"] == "val"], "synthesis sources")


def test_monitor_rows_prefer_validation(df: pd.DataFrame) -> None:
    rows = df.iloc[monitor_rows(df, ["normal"], 2)]
    assert list(rows["split"]) == ["val", "val"]


def test_steps_per_epoch() -> None:
    assert steps_per_epoch(10, 3, 4) == 3
    assert steps_per_epoch(10, 3, 4, configured=7) == 7


def test_sampler_is_seeded_by_seed_and_epoch_and_covers_a() -> None:
    s = UnpairedSampler(7, 3, batch_size=2, steps=4, seed=1)
    s.set_epoch(0)
    e0 = [(a.copy(), b.copy()) for a, b in s]
    s.set_epoch(1)
    e1 = list(s)
    s.set_epoch(0)
    again = list(s)
    assert len(e0) == 4
    assert all(
        np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])
        for x, y in zip(e0, again, strict=True)
    )
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(e0, e1, strict=True))
    a_all = np.concatenate([a for a, _ in e0])
    assert set(a_all[:7]) == set(range(7))  # one full pass of A before repeats


def test_sampler_shards_steps_across_ranks() -> None:
    full = UnpairedSampler(5, 5, batch_size=1, steps=6, seed=0)
    ranks = [
        UnpairedSampler(5, 5, batch_size=1, steps=6, seed=0, rank=r, world_size=2) for r in (0, 1)
    ]
    got = sorted(int(a[0]) * 10 + int(b[0]) for r in ranks for a, b in r)
    assert sorted(int(a[0]) * 10 + int(b[0]) for a, b in full) == got
    assert len(ranks[0]) == 3


def test_batches_read_the_right_rows(df: pd.DataFrame) -> None:
    images = np.arange(len(df), dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)
    dom = select_domains(df, ("normal",), "covid")
    item = UnpairedBatches(images, dom)[(np.array([0, 2]), np.array([1]))]
    assert item["A"].shape == (2, 4, 4) and item["A"].dtype.is_floating_point is False
    assert item["A"][:, 0, 0].tolist() == dom.a[[0, 2]].tolist()
    assert item["B_row"].tolist() == [dom.b[1]]
