"""Named albumentations pipelines: registry, YAML mirror, safety, determinism."""

from __future__ import annotations

import pickle
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
import yaml

from cxr.augment.transforms import (
    DEFAULT_PIPELINES,
    ArrayTransform,
    build_pipeline,
    pipeline_names,
    reseed,
)
from cxr.runtime.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
S = 48


def _image(seed: int = 0) -> np.ndarray:
    # a lateralised "chest": bright blob on the left half so flips are detectable
    rng = np.random.default_rng(seed)
    img = rng.integers(20, 60, (S, S), dtype=np.uint8)
    img[10:40, 4:20] = 220
    return img


def test_yaml_mirrors_builtin_defaults() -> None:
    loaded = yaml.safe_load((REPO / "configs" / "augment.yaml").read_text())
    assert loaded == DEFAULT_PIPELINES


@pytest.mark.parametrize("name", list(DEFAULT_PIPELINES))
def test_every_pipeline_keeps_uint8_shape(name: str) -> None:
    pipe = build_pipeline(name, S, seed=1)
    assert isinstance(pipe, A.Compose)
    t = ArrayTransform(pipe, S)
    for k in range(10):
        out = t(_image(k))
        assert out.dtype == np.uint8 and out.shape == (S, S)


def test_none_is_identity_and_others_change_images() -> None:
    img = _image()
    np.testing.assert_array_equal(build_pipeline("none", S)(image=img)["image"], img)
    pipe = build_pipeline("strong", S, seed=0)
    changed = sum(not np.array_equal(pipe(image=img)["image"], img) for _ in range(10))
    assert changed >= 8


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown augment pipeline 'heavy'.*light.*standard"):
        build_pipeline("heavy", S)


def test_bad_image_size() -> None:
    with pytest.raises(ConfigError, match="image_size"):
        build_pipeline("light", 0)


def test_no_flip_by_default_and_hflip_opt_in() -> None:
    for name in pipeline_names():
        kinds = {type(t).__name__ for t in build_pipeline(name, S).transforms}
        assert not kinds & {"HorizontalFlip", "VerticalFlip", "Transpose", "RandomRotate90"}
    flipped = build_pipeline("none", S, seed=0, hflip=True)
    assert [type(t).__name__ for t in flipped.transforms] == ["HorizontalFlip"]
    img = _image()
    outs = [flipped(image=img)["image"] for _ in range(20)]
    assert any(np.array_equal(o, img[:, ::-1]) for o in outs)


def test_default_pipelines_keep_heart_side() -> None:
    # the bright block stays on the left half under every default pipeline
    img = _image()
    for name in pipeline_names():
        pipe = build_pipeline(name, S, seed=3)
        for _ in range(10):
            out = pipe(image=img)["image"].astype(float)
            assert out[:, : S // 2].mean() > out[:, S // 2 :].mean()


def test_same_seed_same_draws_and_reseed_changes_them() -> None:
    img = _image()
    a = [build_pipeline("strong", S, seed=7)(image=img)["image"] for _ in range(1)]
    p1, p2 = build_pipeline("strong", S, seed=7), build_pipeline("strong", S, seed=7)
    s1 = [p1(image=img)["image"] for _ in range(5)]
    s2 = [p2(image=img)["image"] for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(s1, s2, strict=True))
    np.testing.assert_array_equal(a[0], s1[0])
    reseed(p2, 8)
    s3 = [p2(image=img)["image"] for _ in range(5)]
    assert not all(np.array_equal(x, y) for x, y in zip(s1, s3, strict=True))


def test_yaml_file_is_used_and_validated(tmp_path: Path) -> None:
    good = tmp_path / "aug.yaml"
    good.write_text("blurry:\n  - GaussianBlur: {sigma_limit: [2.0, 2.0], p: 1.0}\n")
    pipe = build_pipeline("blurry", 256, config_path=good)
    assert type(pipe.transforms[0]).__name__ == "GaussianBlur"
    # sigma is given at 256 px and scaled with the image size
    half = build_pipeline("blurry", 128, config_path=good).transforms[0]
    assert tuple(half.sigma_limit) == (1.0, 1.0)

    cases = {
        "vflip:\n  - VerticalFlip: {p: 0.5}\n": "not allowed",
        "x:\n  - NotATransform: {}\n": "not an albumentations transform",
        "x:\n  - Affine: {rotate: nonsense}\n": "bad parameters for Affine",
        "x:\n  - Affine\n": "must be",
    }
    for text, msg in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        name = next(iter(yaml.safe_load(text)))
        with pytest.raises(ConfigError, match=msg):
            build_pipeline(name, S, config_path=bad)
    with pytest.raises(ConfigError, match="not found"):
        build_pipeline("light", S, config_path=tmp_path / "missing.yaml")


def test_array_transform_checks_input_and_pickles() -> None:
    t = ArrayTransform(build_pipeline("light", S, seed=0), S)
    with pytest.raises(ValueError, match="uint8"):
        t(np.zeros((S, S), np.float32))
    with pytest.raises(ValueError, match=str(S)):
        t(np.zeros((S + 1, S), np.uint8))
    t2 = pickle.loads(pickle.dumps(t))
    assert t2(_image()).shape == (S, S)


def test_every_step_runs_at_small_size() -> None:
    # force p=1 on each built (size-scaled) step so every transform executes at 32 px
    img = _image()[:32, :32].copy()
    for name in pipeline_names():
        pipe = build_pipeline(name, 32, seed=0)
        for t in pipe.transforms:
            t.p = 1.0
        out = pipe(image=img)["image"]
        assert out.shape == (32, 32) and out.dtype == np.uint8, name
