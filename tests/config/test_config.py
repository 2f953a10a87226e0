from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from cxr import config as cfgmod
from cxr.config import PhantomConfig, SplitConfig, build_config, load_saved_config, save_config
from cxr.runtime.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_then_yaml_then_overrides(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text("val: 0.2\nseed: 7\n")
    cfg = build_config(SplitConfig, y, seed=3, test=None)
    assert cfg.val == 0.2  # from YAML
    assert cfg.seed == 3  # CLI override wins
    assert cfg.test == SplitConfig().test  # None = not given -> default survives


def test_unknown_key_and_bad_type_name_the_key(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text("vall: 0.2\n")
    with pytest.raises(ConfigError, match="unknown key 'vall'"):
        build_config(SplitConfig, y)
    with pytest.raises(ConfigError, match="'seed'"):
        build_config(SplitConfig, seed="abc")
    with pytest.raises(ConfigError, match="not found"):
        build_config(SplitConfig, tmp_path / "missing.yaml")


def test_roundtrip_saved_in_run_dir(tmp_path: Path) -> None:
    cfg = build_config(PhantomConfig, patients=12, seed=5)
    path = save_config(cfg, tmp_path / "run")
    assert path.name == "config.yaml"
    assert load_saved_config(PhantomConfig, tmp_path / "run") == cfg


def test_configs_dir_mirrors_dataclass_defaults() -> None:
    """configs/<stage>.yaml must state exactly the built-in defaults."""
    pairs = {
        name[: -len("Config")].lower(): cls
        for name, cls in vars(cfgmod).items()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and name.endswith("Config")
    }
    checked = 0
    for stem, cls in pairs.items():
        path = REPO / "configs" / f"{stem}.yaml"
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text()) or {}
        assert build_config(cls, path) == cls(), f"{path} disagrees with {cls.__name__} defaults"
        assert set(data) == {f.name for f in dataclasses.fields(cls)}, f"{path} misses keys"
        checked += 1
    assert checked >= 1


def test_help_texts_that_name_backbones_list_the_registry() -> None:
    """A help text that lists backbones lists exactly the registered ones (the zoo owns them)."""
    import re

    from cxr.classifier import list_backbones

    registered = set(list_backbones())
    seen = 0
    for cls in (c for c in vars(cfgmod).values() if dataclasses.is_dataclass(c)):
        for f in dataclasses.fields(cls):
            text = f.metadata.get("help", "")
            names = set(re.findall(r"\b[a-z][a-z0-9_]*\d[a-z0-9_]*\b", text))
            if len(names & registered) >= 3:  # a list of backbones, not one named in passing
                seen += 1
                assert names == registered, (cls.__name__, f.name, sorted(names ^ registered))
    assert seen >= 1
