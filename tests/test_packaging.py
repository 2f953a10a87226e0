"""Packaging: no setuptools deprecation warnings; `make demo` installs no dev tools."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_license_is_an_spdx_string_without_warnings() -> None:
    pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old license table warns (SetuptoolsDeprecationWarning)
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.license_expression == "Apache-2.0"


def test_make_demo_installs_runtime_only_and_make_test_the_dev_extras() -> None:
    make = (ROOT / "Makefile").read_text()
    rules = dict(re.findall(r"^(\$\(\w+\)|\w+):[^\n]*\n((?:\t[^\n]*\n)*)", make, re.M))
    demo_deps = re.search(r"^demo: (.*)$", make, re.M).group(1).split()
    install = "\n".join(rules[d] for d in demo_deps if d in rules)
    assert "pip install -e ." in install and "[dev]" not in install
    test_deps = re.search(r"^test: (.*)$", make, re.M).group(1).split()
    assert any("[dev]" in rules.get(d, "") for d in test_deps)
