"""Configuration: one frozen dataclass per command, YAML mirrors in configs/, CLI overrides.

:mod:`cxr.config.schema` is the machinery (``setting``, ``build_config``, ``save_config``,
``load_saved_config``, ``config_to_dict``); :mod:`cxr.config.resources` declares the fields
every command shares (seed, workers, device, cache folder, bootstrap, logger) once; each
command's dataclass lives in the module named after the command. Everything is re-exported
here, so ``from cxr.config import ClassifyConfig`` works for all of them.
"""

from __future__ import annotations

from cxr.config.ablate import AblateConfig
from cxr.config.audit import AuditConfig
from cxr.config.classify import ClassifyConfig
from cxr.config.data import CacheConfig, PhantomConfig, SplitConfig
from cxr.config.demo import DemoConfig
from cxr.config.evaluate import EvaluateConfig
from cxr.config.explain import ExplainConfig, LocalizeConfig, SeverityConfig
from cxr.config.gan import GanAuditConfig, GanConfig
from cxr.config.lungs import LungsConfig
from cxr.config.schema import build_config, config_to_dict, load_saved_config, save_config, setting
from cxr.config.serve import ServeConfig
from cxr.config.study import StudyConfig

__all__ = [
    "AblateConfig",
    "AuditConfig",
    "CacheConfig",
    "ClassifyConfig",
    "DemoConfig",
    "EvaluateConfig",
    "ExplainConfig",
    "GanAuditConfig",
    "GanConfig",
    "LocalizeConfig",
    "LungsConfig",
    "PhantomConfig",
    "ServeConfig",
    "SeverityConfig",
    "SplitConfig",
    "StudyConfig",
    "build_config",
    "config_to_dict",
    "load_saved_config",
    "save_config",
    "setting",
]
