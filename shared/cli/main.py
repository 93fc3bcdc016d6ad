"""The ``atr`` command group: global options, error reporting and exit codes.

Commands are imported when they run (:data:`COMMANDS` names where each lives, with its
one-line help for ``atr --help``), so ``atr --help`` and ``atr check`` do not import
the agent client, pgpy and every other command's dependencies.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from shared.cli.defaults import DEFAULT_AGENT
from shared.cli.exit_codes import EPILOG, ExitCode, exit_code_for
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
}
"""Command name → (module, attribute): imported on first use."""
OFFLINE_COMMANDS = frozenset({"check"})
"""Commands that never talk to an agent: the group makes no agent state for them."""

DEBUG_ENV = "ATR_DEBUG"
"""Set to 1 to get a traceback instead of the one-line error of an unexpected failure."""


def report_error(error: AtrError) -> None:
    """Print ``error: …`` (and ``hint: …``) on stderr."""
    click.echo(f"error: {error.message}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)


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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtrError as error:
            report_error(error)
            ctx.exit(exit_code_for(error))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
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
