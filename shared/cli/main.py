"""The ``atr`` command group: global options, error reporting and exit codes.

Commands are imported when they run (:data:`COMMANDS` names where each lives, with its
one-line help for ``atr --help``), so ``atr --help`` and ``atr check`` do not import
the agent client, pgpy and every other command's dependencies.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from typing import Any

import click

from shared.cli.defaults import DEFAULT_AGENT
from shared.cli.exit_codes import EPILOG, ExitCode, exit_code_for
from shared.cli.options import BadValue
from shared.errors import AtrError

COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("shared.cli.cmd_auth", "login"),
    "logout": ("shared.cli.cmd_auth", "logout"),
    "whoami": ("shared.cli.cmd_auth", "whoami"),
    "token": ("shared.cli.cmd_auth", "token"),
    "projects": ("shared.cli.cmd_releases", "projects"),
    "releases": ("shared.cli.cmd_releases", "releases"),
    "release": ("shared.cli.cmd_releases", "release"),
    "upload": ("shared.cli.cmd_releases", "upload"),
    "revisions": ("shared.cli.cmd_releases", "revisions"),
    "download": ("shared.cli.cmd_releases", "download"),
    "status": ("shared.cli.cmd_releases", "status"),
    "task": ("shared.cli.cmd_tasks", "task"),
    "tasks": ("shared.cli.cmd_tasks", "tasks"),
    "watch": ("shared.cli.cmd_tasks", "watch"),
    "events": ("shared.cli.cmd_tasks", "events"),
    "keys": ("shared.cli.cmd_keys", "keys"),
    "vote": ("shared.cli.cmd_votes", "vote"),
    "check": ("shared.cli.check", "check"),
    "checks": ("shared.cli.cmd_checks", "checks"),
    "policy": ("shared.cli.cmd_checks", "policy"),
    "distribute": ("shared.cli.cmd_distribute", "distribute"),
    "attestation": ("shared.cli.cmd_provenance", "attestation"),
    "verify": ("shared.cli.cmd_provenance", "verify"),
    "codesign": ("shared.cli.cmd_provenance", "codesign"),
    "waiting": ("shared.cli.cmd_triggers", "waiting"),
    "triggers": ("shared.cli.cmd_triggers", "triggers"),
}
"""Command name → (module, attribute): imported on first use."""
OFFLINE_COMMANDS = frozenset({"check", "verify"})
"""Commands that never talk to an agent: the group makes no agent state for them."""

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


def load_command(name: str) -> click.Command:
    """The command ``name`` of :data:`COMMANDS`, imported."""
    module, attribute = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module}.{attribute} is not a click command")
    return command


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to at most ``limit`` characters, ``...`` marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 3, 0)].rsplit(" ", 1)[0].rstrip(",;:")
    return f"{cut}..."


class AtrGroup(click.Group):
    """A group that turns every product error into one line on stderr and an exit code, and
    imports its commands when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from :data:`COMMAND_HELP`, importing nothing."""
        from shared.cli.command_help import COMMAND_HELP  # noqa: PLC0415 - help only

        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = [(name, _shorten(COMMAND_HELP.get(name, ""), limit)) for name in names]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
    if ctx.invoked_subcommand in OFFLINE_COMMANDS:
        return
    from shared.cli.state import CliState  # noqa: PLC0415 - imports the agent client

    state = ctx.ensure_object(CliState)
    state.agent_option = agent or state.agent_option
    state.token_option = token or state.token_option
    state.timeout = timeout
