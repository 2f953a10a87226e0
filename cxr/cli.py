"""The ``cxr`` command line: thin commands, one call each into cxr.experiments.

Importing this module must stay cheap (no torch, no pandas): ``cxr --help``
answers in well under a second. Each command group lives in
``cxr/commands/<group>.py`` and imports heavy modules inside its functions.
"""

from __future__ import annotations

import sys

import typer

from cxr.commands import ablate as ablate_commands
from cxr.commands import classify as classify_commands
from cxr.commands import data as data_commands
from cxr.commands import demo as demo_commands
from cxr.commands import explain as explain_commands
from cxr.commands import gan as gan_commands
from cxr.commands import report as report_commands

app = typer.Typer(
    name="cxr",
    help="GAN-augmented COVID-19 detection on chest X-rays, with leakage-safe evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_commands.app, name="data")
app.add_typer(explain_commands.app, name="explain")
app.add_typer(gan_commands.app, name="gan")
app.command("ablate")(ablate_commands.ablate)
app.command("report")(report_commands.report)
app.command("demo")(demo_commands.demo)
app.command("classify")(classify_commands.classify)
app.command("predict")(classify_commands.predict)
app.command("export")(classify_commands.export)


def main() -> None:
    """Console entry point: user-facing errors become one line on stderr, exit code 2."""
    from cxr.errors import CxrError

    try:
        app(standalone_mode=False)
    except CxrError as exc:
        typer.echo(f"cxr: error: {exc}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("cxr: aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
