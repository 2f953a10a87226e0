from __future__ import annotations

import subprocess
import sys


def test_cli_import_is_light() -> None:
    """`cxr --help` must not pay for torch or pandas."""
    code = (
        "import sys, cxr.cli; "
        "heavy = [m for m in ('torch', 'pandas', 'torchvision', 'lightning') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_data_group() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cxr.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "data" in out.stdout


def test_user_error_is_one_line(tmp_path) -> None:
    """A CxrError reaches the user as a single `cxr: error:` line, exit code 2."""
    code = (
        "import sys; sys.argv=['cxr']; from cxr import cli\n"
        "from cxr.runtime.errors import ConfigError\n"
        "def boom(): raise ConfigError('bad option --x: must be >= 0')\n"
        "cli.app.command('boom')(boom)\n"
        "sys.argv=['cxr','boom']; cli.main()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == "cxr: error: bad option --x: must be >= 0"


def test_bad_option_value_is_a_usage_line_not_a_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cxr.cli", "data", "phantom", "--out", "x", "--patients", "many"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "--patients" in out.stderr or "integer" in out.stderr
