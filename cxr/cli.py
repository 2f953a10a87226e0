"""The ``cxr`` command line: thin commands, one call each into cxr.pipelines.

Importing this module must stay cheap (no torch, no pandas): ``cxr --help``
answers in well under a second. Each command group lives in
``cxr/commands/<group>.py`` and imports heavy modules inside its functions.
"""

from __future__ import annotations

import sys
from typing import Annotated

# before anything slow: a SIGTERM during start-up is recorded, not fatal (cxr/runtime/runguard.py)
import cxr.runtime.runguard  # isort: skip

if __name__ == "__main__" or sys.argv[0].rsplit("/", 1)[-1] == "cxr":
    cxr.runtime.runguard.arm_for_process()

# then: importing it takes the first look at the machine's load, which the root callback
# compares with a second look once the rest of the CLI has loaded (cxr/runtime/cpuload.py)
import cxr.runtime.cpuload  # noqa: F401  # isort: skip
import typer

from cxr.commands import ablate as ablate_commands
from cxr.commands import audit as audit_commands
from cxr.commands import classify as classify_commands
from cxr.commands import data as data_commands
from cxr.commands import demo as demo_commands
from cxr.commands import evaluate as evaluate_commands
from cxr.commands import explain as explain_commands
from cxr.commands import gan as gan_commands
from cxr.commands import lungs as lungs_commands
from cxr.commands import report as report_commands
from cxr.commands import serve as serve_commands
from cxr.commands import study as study_commands
from cxr.commands.options import CxrTyper, command_option

app = CxrTyper(
    name="cxr",
    help="GAN-augmented COVID-19 detection on chest X-rays, with leakage-safe evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    threads: Annotated[
        int | None,
        command_option(
            "--threads",
            envvar="CXR_THREADS",
            min=1,
            help="CPU threads for torch, fixed for the run (OMP_NUM_THREADS is kept when set).",
            shown_default="the CPUs this process may use (affinity, cgroup quota), less those "
            "other processes keep busy",
        ),
    ] = None,
) -> None:
    """GAN-augmented COVID-19 detection on chest X-rays, with leakage-safe evaluation."""
    # before any command imports torch: the thread count and OpenMP's passive wait policy
    # are read once, when torch's runtime starts
    from cxr.runtime.allocator import tune_malloc
    from cxr.runtime.cpuload import measure_other_load
    from cxr.runtime.threads import configure_threads, remember

    remember(configure_threads(threads, other_load=measure_other_load))
    # training steps free and reallocate the same activations: keep them (allocator.py)
    tune_malloc()


# in pipeline order, as `cxr --help` lists them
app.add_typer(data_commands.app, name="data")
app.add_typer(gan_commands.app, name="gan")
app.add_typer(lungs_commands.app, name="lungs")
app.command("classify")(classify_commands.classify)
app.command("evaluate")(evaluate_commands.evaluate)
app.command("predict")(classify_commands.predict)
app.command("export")(classify_commands.export)
app.add_typer(explain_commands.app, name="explain")
app.command("ablate")(ablate_commands.ablate)
app.add_typer(audit_commands.app, name="audit")
app.command("report")(report_commands.report)
app.command("serve")(serve_commands.serve)
app.command("demo")(demo_commands.demo)
app.command("study")(study_commands.study)


def os_error_message(exc: OSError) -> str:
    """One line for a failed file operation: the path, the cause, and what to do."""
    import errno

    from cxr.runtime.runguard import last_output

    cause = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None:
        path = f"{exc.filename}: "
        if exc.filename2 is not None:
            path = f"{exc.filename} -> {exc.filename2}: "
    else:  # e.g. a write through a library's own file object: name the run's folder
        where = last_output()
        path = "" if where is None else f"writing to {where}: "
    hint = {
        errno.ENOSPC: "free some space and rerun the same command; finished work is kept",
        errno.EDQUOT: "free some space and rerun the same command; finished work is kept",
        errno.EROFS: "the file system is read-only; choose a writable folder",
        errno.EACCES: "no permission; choose a folder you can write to",
        errno.EPERM: "no permission; choose a folder you can write to",
    }.get(exc.errno or -1)
    return f"{path}{cause}" + (f" ({hint})" if hint else "")


def main() -> None:
    """Console entry point: user-facing errors become one line on stderr.

    Exit codes: 2 for a ``CxrError`` (bad input, busy folder), 1 for a failed file
    operation (disk full, read-only or forbidden folder) or a job whose parts failed
    (``PartialFailureError``, e.g. sweep cells), ``128 + signum`` when
    stopped by SIGTERM (143) or SIGINT (130).

    A signal is honoured at the command's next safe point (a batch or item boundary). Any
    exception that ends a command after a signal arrived (a DataLoader worker killed by the
    same SIGTERM, Lightning's own SIGTERM exit) is reported as the interruption; a command
    that returns after a signal arrived also exits ``128 + signum``: it may have finished,
    and a rerun then finds everything done.
    """
    from cxr.runtime.errors import CxrError
    from cxr.runtime.progress import wide_output
    from cxr.runtime.runguard import (
        Interrupted,
        interrupted_message,
        safe_point,
        signals_armed,
        stop_on_signals,
    )

    if not {"--help", "-h"} & set(sys.argv[1:]) and len(sys.argv) > 1:
        wide_output()  # logs and pipes get full-width tables (help pages keep their width)
    try:
        # the real command line keeps the recording handler to the end of the process; a
        # test calling main() in-process gets its own handlers back
        with stop_on_signals(restore=not signals_armed()):
            try:
                try:
                    app(standalone_mode=False)
                except BaseException:
                    safe_point()  # a stop was asked for: that is the reason, whatever was raised
                    raise
                safe_point()
            except Interrupted as exc:
                typer.echo(interrupted_message(exc), err=True)
                sys.exit(exc.exit_code)
    except CxrError as exc:
        typer.echo(f"cxr: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        typer.echo(f"cxr: error: {os_error_message(exc)}", err=True)
        sys.exit(1)
    except typer.Abort:
        typer.echo("cxr: aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # usage errors (bad option value, unknown option) land here
        # typer >= 0.29 vendors its own click; match click-style exceptions by shape so this
        # works with both: they carry an exit_code, and usage errors know how to show() themselves
        exit_code = getattr(exc, "exit_code", None)
        if not isinstance(exit_code, int):
            raise
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(exit_code)


if __name__ == "__main__":
    main()
