"""The `nbctl` command group and its entry point: one error line, exit codes 0/1/2.

Start-up cost matters (`nbctl --help` should feel instant): this module imports click and
nothing heavy; the store (SQLAlchemy), providers and their SDKs load inside the commands
that need them.
"""
from __future__ import annotations

import os
import sys

import click

from ..errors import EXIT_FAILED, EXIT_USAGE, NbctlError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nbctl-cloud", message="nbctl %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """GPU notebooks on GCP, AWS, Paperspace or this machine, from one CLI.

    \b
    Quick start (no cloud account needed):
      nbctl up demo            a Jupyter server on this machine
      nbctl open demo          its URL, with the access token
      nbctl down demo --yes
    """
    if debug:
        os.environ["NBCTL_DEBUG"] = "1"


from . import instances, policies, providers, run, ui  # noqa: E402  (the command modules)

for _module in (instances, run, policies, providers, ui):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _error_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return f"nbctl: error: {msg}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line per error, exit 0/1/2, tracebacks only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("NBCTL_DEBUG") == "1"
    try:
        cli.main(args=args, prog_name="nbctl", standalone_mode=False)
        return 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("nbctl: aborted", err=True)
        return EXIT_FAILED
    except click.ClickException as e:
        ctx = getattr(e, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        click.echo(_error_line(click.ClickException(e.format_message())) + where, err=True)
        return EXIT_USAGE
    except NbctlError as e:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(_error_line(e), err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("nbctl: interrupted", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: one line, not a traceback
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"nbctl: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
                   f"(run with --debug for details)", err=True)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
