"""The ``atr`` command group: global options, error reporting and exit codes."""

from __future__ import annotations

import os
from typing import Any

import click

from shared.cli import (
    cmd_auth,
    cmd_checks,
    cmd_distribute,
    cmd_keys,
    cmd_releases,
    cmd_tasks,
    cmd_votes,
)
from shared.cli.check import check
from shared.cli.exit_codes import EPILOG, ExitCode, exit_code_for
from shared.cli.state import DEFAULT_AGENT, CliState
from shared.errors import AtrError

DEBUG_ENV = "ATR_DEBUG"
"""Set to 1 to get a traceback instead of the one-line error of an unexpected failure."""


def report_error(error: AtrError) -> None:
    """Print ``error: …`` (and ``hint: …``) on stderr."""
    click.echo(f"error: {error.message}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)


class AtrGroup(click.Group):
    """A group that turns every product error into one line on stderr and an exit code."""

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
    cmd_distribute.distribute,
):
    main.add_command(command)
cmd_releases.release.add_command(cmd_distribute.announce)
cmd_releases.release.add_command(cmd_distribute.archive)
