"""The real / augmented / GAN mixing draw: exact proportions, balance, reproducibility."""

from __future__ import annotations

import itertools
import pickle
from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, Dataset

from cxr.augment.mixing import (
    EpochPlan,
    MixedDataset,
    MixingSampler,
    augmented_count,
    build_epoch_indices,
    class_weights,
    exact,
    gan_count,
    rnd,
)
from cxr.runtime.errors import ConfigError

COVID = 0


def _rows(real_per_class: dict[int, int], n_gan: int) -> tuple[np.ndarray, np.ndarray]:
    labels, origins = [], []
    for c, n in real_per_class.items():
        labels += [c] * n
        origins += ["real"] * n
    labels += [COVID] * n_gan
    origins += ["gan"] * n_gan
    # interleave so positions are not grouped by pool
    perm = np.random.default_rng(123).permutation(len(labels))
    return np.array(labels)[perm], np.array(origins)[perm]


def _plan(labels, origins, **kw) -> EpochPlan:
    args = {"minority": COVID, "with_synthetic": 0.0, "aug_share": 0.0, "balance": "none",
            "seed": 0, "epoch": 0}
    args.update(kw)
    return build_epoch_indices(labels, origins, **args)


def _half_up(x: Fraction | int) -> int:
    """Oracle: round half up in integer arithmetic, floor((2n + d) / 2d) for x = n/d."""
    q = Fraction(x)
    return (2 * q.numerator + q.denominator) // (2 * q.denominator)


def _q(r: float) -> Fraction:
    """The ratio as the decimal the user typed."""
    return Fraction(str(r))


def _realised(plan: EpochPlan, labels, origins) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    lab, org = labels[plan.indices], origins[plan.indices]
    for c in np.unique(labels):
        m = lab == c
        out[int(c)] = {
            "real": int((m & (org == "real") & ~plan.augment).sum()),
            "augmented": int((m & (org == "real") & plan.augment).sum()),
            "gan": int((m & (org == "gan")).sum()),
        }
    return out


def test_hand_computed_example() -> None:
    # R=10 real COVID, r=0.2 -> G = round(10*0.2/0.8 = 2.5) = 3 (half up); a=0.5
    labels, origins = _rows({COVID: 10, 1: 30, 2: 21}, n_gan=8)
    plan = _plan(labels, origins, with_synthetic=0.2, aug_share=0.5)
    assert plan.counts == {
        0: {"real": 5, "augmented": 5, "gan": 3},
        1: {"real": 15, "augmented": 15, "gan": 0},
        2: {"real": 10, "augmented": 11, "gan": 0},  # round(10.5) = 11 augmented
    }
    assert plan.counts == _realised(plan, labels, origins)
    assert len(plan) == 13 + 30 + 21
    # each real row exactly once, GAN rows distinct
    real_drawn = plan.indices[origins[plan.indices] == "real"]
    assert sorted(real_drawn) == sorted(np.flatnonzero(origins == "real"))
    gan_drawn = plan.indices[origins[plan.indices] == "gan"]
    assert len(set(gan_drawn.tolist())) == 3
    assert not plan.augment[origins[plan.indices] == "gan"].any()


@pytest.mark.parametrize(
    ("R", "r", "a", "balance", "scope"),
    list(itertools.product([1, 3, 7, 20], [0.0, 0.25, 0.35, 0.5, 0.6, 0.75], [0.0, 0.3, 0.7, 1.0],
                           ["none", "oversample", "class-weights"], ["all", "minority"])),
)
def test_counts_follow_documented_formulas(
    R: int, r: float, a: float, balance: str, scope: str
) -> None:
    n_major = {1: 45, 2: 12}
    labels, origins = _rows({COVID: R, **n_major}, n_gan=70)
    plan = _plan(labels, origins, with_synthetic=r, aug_share=a, balance=balance, seed=5,
                 aug_scope=scope)
    g = _half_up(R * _q(r) / (1 - _q(r)))
    base = {COVID: R + g, **n_major}
    if balance == "oversample":
        t = max(base.values())
        e_gan = _half_up(Fraction((t - base[COVID]) * g, base[COVID]))
        gan_draws = g + e_gan
        real_draws = {COVID: t - gan_draws, **{c: t for c in n_major}}
    else:
        gan_draws = g
        real_draws = {COVID: R, **n_major}
    # aug_scope "minority": A_min = rnd(a * D_min), A_c = 0 for every other class
    share = {c: a if scope == "all" or c == COVID else 0.0 for c in real_draws}
    expected = {c: {"real": d - _half_up(_q(share[c]) * d), "augmented": _half_up(_q(share[c]) * d),
                    "gan": gan_draws if c == COVID else 0} for c, d in real_draws.items()}
    assert plan.counts == expected
    assert _realised(plan, labels, origins) == expected
    assert len(plan) == plan.indices.size == plan.augment.size
    if balance != "oversample":
        # no resampling: no row drawn twice
        assert len(set(plan.indices.tolist())) == len(plan)


# a grid of ratios: every 0.05 step plus values whose binary doubles sit just below a half
RATIOS = tuple(Fraction(k, 20) for k in range(20)) + tuple(
    Fraction(s) for s in ("0.35", "0.6", "0.7", "0.15", "0.45", "0.55", "0.65", "0.85", "0.99",
                          "0.1", "0.3", "0.33", "0.375", "0.66", "0.9")
)


@pytest.mark.parametrize("r", sorted(set(RATIOS)), ids=str)
def test_gan_and_augmented_counts_equal_fraction_oracle(r: Fraction) -> None:
    ratio = float(r)  # what the CLI hands over
    assert str(ratio) == str(float(str(ratio)))
    for R in range(500):
        assert gan_count(R, ratio) == _half_up(R * r / (1 - r)), (R, ratio)
        assert augmented_count(R, ratio) == _half_up(r * R), (R, ratio)


def test_documented_half_cases_round_up_through_the_plan() -> None:
    # G = rnd(R * 0.6 / 0.4): R = 1 -> 1.5 -> 2, R = 3 -> 4.5 -> 5 (floats give 1 and 4)
    for R, g in ((1, 2), (3, 5), (5, 8)):
        labels, origins = _rows({COVID: R, 1: 40}, n_gan=20)
        assert _plan(labels, origins, with_synthetic=0.6).counts[COVID]["gan"] == g
    # aug_share 0.7 of 45 real draws = 31.5 -> 32; 0.35 of 90 = 31.5 -> 32 (floats give 31)
    labels, origins = _rows({COVID: 45, 1: 90}, n_gan=0)
    counts = _plan(labels, origins, aug_share=0.7).counts
    assert counts[COVID]["augmented"] == 32
    counts = _plan(labels, origins, aug_share=0.35).counts
    assert counts[1]["augmented"] == 32


def test_float_ratios_mean_the_decimal_written() -> None:
    assert exact(0.6) == Fraction(3, 5) and exact(np.float64(0.35)) == Fraction(7, 20)
    assert rnd(1.5) == 2 and rnd(Fraction(5, 2)) == 3 and rnd(Fraction(-1, 2)) == 0
    assert gan_count(1, Fraction(3, 5)) == 2


def test_minority_scope_augments_only_the_minority() -> None:
    # D_min = 21 real COVID draws, a = 0.5 -> rnd(10.5) = 11 augmented; none elsewhere
    labels, origins = _rows({COVID: 21, 1: 30, 2: 9}, n_gan=0)
    kw = {"aug_share": 0.5, "balance": "none", "seed": 2, "epoch": 3}
    mino = _plan(labels, origins, aug_scope="minority", **kw)
    assert mino.counts == {0: {"real": 10, "augmented": 11, "gan": 0},
                           1: {"real": 30, "augmented": 0, "gan": 0},
                           2: {"real": 9, "augmented": 0, "gan": 0}}
    assert mino.counts == _realised(mino, labels, origins)
    assert (labels[mino.indices[mino.augment]] == COVID).all()
    # the scope changes only the flags: same rows, same order, same minority flags
    every = _plan(labels, origins, aug_scope="all", **kw)
    np.testing.assert_array_equal(mino.indices, every.indices)
    is_min = labels[every.indices] == COVID
    np.testing.assert_array_equal(mino.augment[is_min], every.augment[is_min])
    assert every.augment[~is_min].any() and not mino.augment[~is_min].any()
    # the default is "all"
    default = _plan(labels, origins, **kw)
    np.testing.assert_array_equal(default.augment, every.augment)
    # through the sampler too
    sampler = MixingSampler.from_arrays(labels, origins, minority=COVID, with_synthetic=0.0,
                                        aug_share=0.5, balance="oversample", seed=2,
                                        aug_scope="minority")
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        plan = sampler.plan
        assert (labels[plan.indices[plan.augment]] == COVID).all()
        # oversampled to D_min = 30 draws (repeats included): rnd(0.5 * 30) = 15
        assert plan.counts[COVID]["augmented"] == 15 and plan.counts[1]["augmented"] == 0


def test_gan_share_matches_r_when_exact() -> None:
    labels, origins = _rows({COVID: 30, 1: 100}, n_gan=100)
    for r in (0.25, 0.5, 0.75):
        c = _plan(labels, origins, with_synthetic=r).counts[COVID]
        assert c["gan"] / (c["gan"] + c["real"]) == pytest.approx(r)


def test_r_zero_uses_no_gan_rows() -> None:
    labels, origins = _rows({COVID: 10, 1: 40}, n_gan=20)
    for balance in ("none", "oversample", "class-weights"):
        plan = _plan(labels, origins, balance=balance, aug_share=0.5)
        assert not (origins[plan.indices] == "gan").any()


def test_reproducible_by_seed_and_epoch_and_varies_across_epochs() -> None:
    labels, origins = _rows({COVID: 12, 1: 40, 2: 25}, n_gan=40)
    kw = {"with_synthetic": 0.5, "aug_share": 0.4, "balance": "oversample", "seed": 3}
    p1, p2 = _plan(labels, origins, epoch=4, **kw), _plan(labels, origins, epoch=4, **kw)
    np.testing.assert_array_equal(p1.indices, p2.indices)
    np.testing.assert_array_equal(p1.augment, p2.augment)
    p3 = _plan(labels, origins, epoch=5, **kw)
    assert p1.counts == p3.counts
    assert not np.array_equal(p1.indices, p3.indices)
    gan1 = set(p1.indices[origins[p1.indices] == "gan"].tolist())
    gan3 = set(p3.indices[origins[p3.indices] == "gan"].tolist())
    assert gan1 != gan3  # a fresh GAN subset each epoch
    p4 = _plan(labels, origins, epoch=4, **{**kw, "seed": 4})
    assert not np.array_equal(p1.indices, p4.indices)


def test_oversample_equalises_classes() -> None:
    labels, origins = _rows({COVID: 5, 1: 50, 2: 20}, n_gan=10)
    plan = _plan(labels, origins, balance="oversample", with_synthetic=0.5)
    per_class = np.bincount(labels[plan.indices])
    assert per_class.tolist() == [50, 50, 50]
    assert plan.counts[COVID] == {"real": 25, "augmented": 0, "gan": 25}


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"with_synthetic": 1.0}, r"with_synthetic must be in \[0, 1\), got 1.0"),
        ({"with_synthetic": -0.1}, "with_synthetic"),
        ({"aug_share": 1.5}, r"aug_share must be in \[0, 1\], got 1.5"),
        ({"balance": "smote"}, "unknown balance 'smote'.*oversample"),
        ({"aug_scope": "covid"}, r"unknown aug_scope 'covid' \(valid: all, minority\)"),
        ({"with_synthetic": 0.8}, "needs 40 GAN images for 10 real.*only 20 GAN rows"),
    ],
)
def test_bad_options(kw: dict, msg: str) -> None:
    labels, origins = _rows({COVID: 10, 1: 30}, n_gan=20)
    with pytest.raises(ConfigError, match=msg):
        _plan(labels, origins, **kw)


def test_gan_rows_of_other_labels_and_missing_minority_are_errors() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    origins = np.array(["real", "real", "real", "gan", "real"])
    with pytest.raises(ConfigError, match="minority label 0.*\\[1\\]"):
        _plan(labels, origins)
    with pytest.raises(ConfigError, match="no real training rows of the minority class 2"):
        _plan(np.array([0, 1]), np.array(["real", "real"]), minority=2)
    with pytest.raises(ConfigError, match="origin must be"):
        _plan(np.array([0, 1]), np.array(["real", "fake"]))


def test_class_weights_equal_sklearn_balanced() -> None:
    labels = np.array([0] * 5 + [1] * 30 + [3] * 12)
    w = class_weights(labels, num_classes=4)
    present = np.array([0, 1, 3])
    ref = compute_class_weight("balanced", classes=present, y=labels)
    np.testing.assert_allclose(w[present], ref)
    assert w[2] == 0.0
    with pytest.raises(ConfigError, match="labels must be in"):
        class_weights(labels, num_classes=2)


class _Rows(Dataset):
    def __init__(self, n: int, tag: str) -> None:
        self.n, self.tag = n, tag

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"index": i, "augmented": self.tag == "aug"}


def test_sampler_in_dataloader_routes_augment_flags() -> None:
    labels, origins = _rows({COVID: 6, 1: 20}, n_gan=10)
    sampler = MixingSampler.from_arrays(labels, origins, minority=COVID, with_synthetic=0.5,
                                        aug_share=0.5, balance="oversample", seed=1)
    ds = MixedDataset(_Rows(len(labels), "plain"), _Rows(len(labels), "aug"))
    loader = DataLoader(ds, batch_size=7, sampler=sampler)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        plan = sampler.plan
        got_idx, got_aug = [], []
        for batch in loader:
            got_idx += batch["index"].tolist()
            got_aug += batch["augmented"].tolist()
        assert len(loader.sampler) == len(plan) == len(got_idx) == 40
        np.testing.assert_array_equal(got_idx, plan.indices)
        np.testing.assert_array_equal(got_aug, plan.augment)
    assert isinstance(batch["index"], torch.Tensor)
    clone = pickle.loads(pickle.dumps(sampler))  # e.g. for spawn-started sweep workers
    np.testing.assert_array_equal(clone.plan.indices, sampler.plan.indices)
    with pytest.raises(ConfigError):
        MixingSampler.from_arrays(labels, origins, minority=COVID, with_synthetic=0.99,
                                  aug_share=0.0, balance="none", seed=0)
    with pytest.raises(ValueError, match="differ in length"):
        MixedDataset(_Rows(3, "plain"), _Rows(4, "aug"))
