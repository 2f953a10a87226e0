"""Every CLI option is declared once (config field metadata) and its --help reads right."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer
from support.cli_audit import audit, help_problems, walk
from typer.testing import CliRunner

from cxr.cli import app
from cxr.commands.options import CxrTyper, command_option, option, overrides
from cxr.config import ClassifyConfig, build_config, setting

COMMANDS = [path for path, _ in walk(app)]


def test_every_option_maps_to_a_field_or_is_declared_command_only() -> None:
    assert len(COMMANDS) >= 18  # the walk reaches nested groups (data, gan, explain)
    assert audit(app) == []


@dataclasses.dataclass(frozen=True)
class _Toy:
    size: int = setting(8, "Side in pixels.")
    name: str = setting("x", "A name.")
    undocumented: int = 3


def _broken_app() -> typer.Typer:
    toy = CxrTyper()

    @toy.command("bad")
    def bad(
        *,
        size: Annotated[int | None, option(_Toy, "size")] = 5,  # shadows YAML values
        name: Annotated[int | None, option(_Toy, "name")] = None,  # wrong type
        raw: Annotated[int, typer.Option(help="Threads (default 2).")] = 2,  # raw, hand default
        undocumented: Annotated[int, command_option(help="Duplicates a field.")] = 3,
    ) -> None:
        """A command with one of each mistake."""

    @toy.command("ok")
    def ok(*, size: Annotated[int | None, option(_Toy, "size")] = None) -> None:
        """A correct command."""

    return toy


def test_the_checker_reports_each_kind_of_mistake() -> None:
    problems = audit(_broken_app())
    text = "\n".join(problems)
    assert "'size': a field option must default to None" in text
    assert "'name': annotated <class 'int'> but _Toy.name is <class 'str'>" in text
    assert "'raw' uses typer.Option directly" in text
    assert "'raw': help writes a default by hand" in text
    assert "'undocumented' is command-only but _Toy has a field 'undocumented'" in text
    assert not any("cxr ok" in p for p in problems)


_DRIFTED = option(_Toy, "size")
_DRIFTED.help = _DRIFTED.help.replace("8", "16")  # as if copied by hand and then drifted


def test_the_checker_reports_a_default_that_differs_from_the_dataclass() -> None:
    toy = CxrTyper()

    @toy.command("drift")
    def drift(*, size: Annotated[int | None, _DRIFTED] = None) -> None:
        """Drifted."""

    assert any("shows default '16', _Toy.size is '8'" in p for p in audit(toy))


def test_a_field_without_help_cannot_become_an_option() -> None:
    with pytest.raises(TypeError, match="undocumented has no help"):
        option(_Toy, "undocumented")
    with pytest.raises(TypeError, match="no field 'nope'"):
        option(_Toy, "nope")


def test_overrides_pick_only_given_field_options() -> None:
    def cmd(
        *,
        epochs: Annotated[int | None, option(ClassifyConfig, "epochs")] = None,
        manifest: Annotated[Path | None, option(ClassifyConfig, "manifest")] = None,
        synthetic_ratio: Annotated[float | None, option(ClassifyConfig, "synthetic_ratio")] = None,
        out: Annotated[Path | None, command_option(help="Somewhere.")] = None,
    ) -> None: ...

    got = overrides(cmd, {"epochs": 3, "manifest": Path("m.csv"), "synthetic_ratio": None,
                          "out": Path("o")}, ClassifyConfig)
    assert got == {"epochs": 3, "manifest": "m.csv"}
    assert build_config(ClassifyConfig, None, **got).epochs == 3


def test_documented_spellings_and_aliases() -> None:
    seen = {}
    runner = CliRunner()
    from unittest import mock

    with mock.patch("cxr.pipelines.classify.run_classify.run_classify",
                    lambda cfg, out, **kw: seen.update(cfg=cfg)):
        res = runner.invoke(app, ["classify", "--out", "o", "--with-synthetic", "0.3"])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].synthetic_ratio == 0.3


def _render(path: list[str], columns: str | None) -> str:
    res = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": columns})
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("columns", ["200", None], ids=["wide", "default-width"])
def test_every_help_page_keeps_defaults_and_has_no_type_labels_or_markup(columns) -> None:
    problems = []
    for path, cmd in walk(app):
        text = _render(path, columns)
        problems += help_problems(cmd, "cxr " + " ".join(path), text)
    assert problems == []


def test_help_checker_catches_eaten_brackets_and_python_labels() -> None:
    toy = typer.Typer()  # a plain typer app: what the CLI looked like before

    @toy.command()
    def old(
        roots: Annotated[list[Path], typer.Argument(help="Roots.")],
        backbones: Annotated[str | None, typer.Option(help="Comma list [vgg16,resnet50].")] = None,
    ) -> None:
        """Old style."""

    from typer.main import get_command

    res = CliRunner().invoke(toy, ["--help"], env={"COLUMNS": "200"})
    problems = "\n".join(help_problems(get_command(toy), "old", res.output))
    assert "Python type label '<list[Path]>'" in problems
    assert "braced usage name '{roots}'" in problems
    assert "--backbones should read 'Comma list [vgg16,resnet50].'" in problems


def test_help_does_not_import_torch_or_pandas() -> None:
    code = (
        "import sys; sys.argv = ['cxr', 'ablate', '--help']\n"
        "from cxr import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'pandas', 'yaml') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout or out.stdout.rstrip().endswith("HEAVY=")


def test_ablate_takes_classify_options_over_the_sweep_yaml(tmp_path) -> None:
    from unittest import mock

    sweep = tmp_path / "s.yaml"
    sweep.write_text("classify:\n  epochs: 9\n  batch_size: 8\n")
    with mock.patch("cxr.pipelines.ablate.run_ablate.run_ablate") as run:
        res = CliRunner().invoke(app, ["ablate", "--sweep", str(sweep), "--image-size", "64",
                                       "--epochs", "2", "--devices", "1"])
    assert res.exit_code == 0, res.output
    (cfg,), _ = run.call_args
    assert cfg.classify == {"epochs": 2, "batch_size": 8, "image_size": 64}
    assert cfg.devices == "1"  # the sweep's own --devices, not ClassifyConfig's


def test_a_renamed_field_keeps_its_old_name_in_yaml_and_on_the_command_line(tmp_path) -> None:
    from unittest import mock

    from cxr.config import GanConfig

    old = tmp_path / "gan.yaml"
    old.write_text("num_workers: 3\n")  # a run folder's config.yaml from before the rename
    assert build_config(GanConfig, old).workers == 3
    seen = []
    with mock.patch("cxr.pipelines.gan.train_gan.train_gan", side_effect=lambda cfg, **kw:
                    seen.append(cfg) or (_ for _ in ()).throw(SystemExit(0))):
        for spelling in ("--workers", "--num-workers"):
            CliRunner().invoke(app, ["gan", "train", "--manifest", "m.csv", "--out",
                                     str(tmp_path / "g"), spelling, "2"])
    assert [cfg.workers for cfg in seen] == [2, 2]
