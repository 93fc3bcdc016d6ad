"""The ``atr`` command group: global options, error reporting and exit codes."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

import click

from shared.cli import cmd_auth, cmd_checks, cmd_keys, cmd_releases, cmd_tasks, cmd_votes
from shared.cli.check import check
from shared.cli.exit_codes import EPILOG, ExitCode, exit_code_for
from shared.cli.options import BadValue
from shared.cli.state import DEFAULT_AGENT, CliState
from shared.errors import AtrError

DEBUG_ENV = "ATR_DEBUG"
"""Set to 1 to get a traceback instead of the one-line error of an unexpected failure."""


def report_error(error: AtrError) -> None:
    """Print ``error: …`` (and ``hint: …``) on stderr."""
    _error_lines(error.message, error.hint)


def _error_lines(message: str, hint: str | None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def _sentence(text: str) -> str:
    """Click's ``Missing argument 'X'.`` as this CLI writes errors: ``missing argument 'X'``."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def report_click_error(error: click.ClickException) -> int:
    """Print a usage error (a bad or missing argument, an unknown option) in the ``error:`` /
    ``hint:`` format of every other error, instead of Click's usage block; its exit code."""
    where = error.ctx.command_path if isinstance(error, click.UsageError) and error.ctx else "atr"
    usage = f"'{where} --help' shows the usage"
    hint = error.hint if isinstance(error, BadValue) else None
    message = _sentence(error.format_message())
    if (
        isinstance(error, click.BadParameter)
        and not isinstance(error, click.MissingParameter)
        and error.param is not None
    ):
        param = error.param
        name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
        message = f"invalid value for {name}: {error.message.rstrip('.')}"
    _error_lines(message, f"{hint}; {usage}" if hint else usage)
    return ExitCode.USAGE if isinstance(error, click.UsageError) else error.exit_code


def _silence_closed_output() -> None:
    """After ``EPIPE``: point stdout and stderr at /dev/null, so nothing more is tried (Python
    flushes them at exit, which would raise again)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


class AtrGroup(click.Group):
    """A group that turns every product error into one line on stderr and an exit code."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as error:  # the group's own options (atr --timeout x)
            raise click.exceptions.Exit(report_click_error(error)) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtrError as error:
            report_error(error)
            ctx.exit(exit_code_for(error))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:  # atr … | head: the reader has all it wants
            _silence_closed_output()
            ctx.exit(ExitCode.OUTPUT_CLOSED)
        except click.ClickException as error:  # a subcommand's arguments
            ctx.exit(report_click_error(error))
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            click.echo(f"error: unexpected {type(error).__name__}: {error}", err=True)
            click.echo(f"hint: this is a bug; {DEBUG_ENV}=1 shows the traceback", err=True)
            ctx.exit(ExitCode.FAILED)


@click.group(cls=AtrGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--agent",
    envvar="ATR_AGENT",
    metavar="URL",
    help=f"The agent's URL (env ATR_AGENT; default: the saved one, else {DEFAULT_AGENT}).",
)
@click.option(
    "--token",
    envvar="ATR_TOKEN",
    metavar="TOKEN",
    help="An API token (env ATR_TOKEN; default: the one saved by `atr login`).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the agent.",
)
@click.version_option(package_name="atr-release-manager", prog_name="atr")
@click.pass_context
def main(ctx: click.Context, agent: str | None, token: str | None, timeout: float) -> None:
    """atr — the command-line client of the trusted release manager's agent."""
    state = ctx.ensure_object(CliState)
    state.agent_option = agent or state.agent_option
    state.token_option = token or state.token_option
    state.timeout = timeout


for command in (
    cmd_auth.login,
    cmd_auth.logout,
    cmd_auth.whoami,
    cmd_auth.token,
    cmd_releases.projects,
    cmd_releases.releases,
    cmd_releases.release,
    cmd_releases.upload,
    cmd_releases.revisions,
    cmd_releases.download,
    cmd_releases.status,
    cmd_tasks.task,
    cmd_tasks.tasks,
    cmd_tasks.watch,
    cmd_tasks.events,
    cmd_keys.keys,
    cmd_votes.vote,
    check,
    cmd_checks.checks,
    cmd_checks.policy,
):
    main.add_command(command)
