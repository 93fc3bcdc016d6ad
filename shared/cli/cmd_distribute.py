"""``atr distribute …`` (plan, approve, start, stage, status, retry, done, settings) and
``atr release announce|archive``.

The approval mirrors a ballot: ``atr distribute plan P V > plan.txt``, then
``gpg --clearsign plan.txt`` (or ``--sign-with FILE`` here), then
``atr distribute approve P V plan.txt.asc``.
"""

from __future__ import annotations

from pathlib import Path

import click

from shared.cli.exit_codes import ExitCode
from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import echo_event, echo_json, note, table, when
from shared.cli.state import CliState, pass_state
from shared.cli.watching import StateNotes
from shared.client import AgentClient
from shared.distribute import plan_text
from shared.errors import ValidationError
from shared.protocol import Event, EventKind, Scope
from shared.protocol.distribute import (
    ApprovalOut,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
)

_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)
_KIND = click.Choice(["production", "staging"])
FOLLOWED = frozenset(
    {
        EventKind.DISTRIBUTION_STARTED,
        EventKind.DISTRIBUTION_STEP,
        EventKind.DISTRIBUTION_SETTLED,
        EventKind.TASK_LOG,
        EventKind.TASK_FINISHED,
    }
)


def show_status(status: DistributionStatus) -> None:
    """The status as a person reads it: one table row per file on each channel."""
    head = f"{status.project} {status.version}: phase {status.phase}"
    if status.kind:
        head += f", {status.kind} distribution {status.state}"
    click.echo(head)
    if status.approval is not None:
        a = status.approval
        click.echo(f"approved by {a.approved_by} ({a.fingerprint}) at {when(a.approved_at)}")
    rows = []
    for channel in status.channels:
        for index, file in enumerate(channel.files, start=1):
            name = f"{channel.name} ({channel.kind})" if index == 1 else ""
            where = file.url or file.error or ""
            label = f"{index}. {file.path}" if channel.kind == "manual" else file.path
            rows.append((name, file.state + (" ✓" if file.verified else ""), label, where))
    table(("channel", "state", "file", "url / error"), rows, empty="no distribution yet")
    if status.announce_after is not None and status.phase == "distribute":
        click.echo(f"may be announced from {when(status.announce_after)}")


@click.group()
def distribute() -> None:
    """A release's way to the dist repository and its channels."""


@distribute.command("plan")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--kind", type=_KIND, default="production", show_default=True)
@json_option
@pass_state
def plan(state: CliState, *, project: str, version: str, kind: str, as_json: bool) -> None:
    """Print the plan to sign (clear-sign it with `gpg --clearsign`, unchanged)."""

    async def work(client: AgentClient) -> DistributionPlan:
        return await client.distribution_plan(project, version, kind=_kind(kind))

    result = state.run(work)
    if as_json:
        echo_json(result)
    else:
        click.echo(plan_text(result), nl=False)


def _kind(value: str) -> DistributionKind:
    return "staging" if value == "staging" else "production"


@distribute.command("approve")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("signed_file", metavar="SIGNED_PLAN", type=_FILE)
@json_option
@pass_state
def approve(
    state: CliState, *, project: str, version: str, signed_file: Path, as_json: bool
) -> None:
    """Send the clear-signed plan: the agent then publishes exactly that plan."""
    try:
        signed = signed_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {signed_file}: {exc}") from exc

    async def work(client: AgentClient) -> ApprovalOut:
        return await client.approve_distribution(project, version, signed)

    out = state.run(work)
    if as_json:
        echo_json(out)
        return
    click.echo(f"approved plan {out.digest} of {project} {version}")


async def _watch(client: AgentClient, project: str, version: str, since: int) -> ExitCode:
    """Print the distribution's events until it settles; OK when verified."""
    stream = client.stream(
        Scope(project=project, version=version), since=since, on_state=StateNotes(client.base_url)
    )
    async with stream:
        event: Event
        async for event in stream:
            if event.kind not in FOLLOWED:
                continue
            echo_event(event, as_json=False)
            if event.kind == EventKind.DISTRIBUTION_SETTLED:
                return ExitCode.OK if event.data.get("state") == "verified" else ExitCode.FAILED
    return ExitCode.FAILED  # pragma: no cover - the stream only ends by raising


def _start(state: CliState, project: str, version: str, kind: str, *, watch: bool,
           as_json: bool) -> None:  # fmt: skip
    async def work(client: AgentClient) -> tuple[DistributionStatus, ExitCode]:
        since = (await client.health()).last_event_id
        status = await client.start_distribution(project, version, kind=_kind(kind))
        if not watch or status.state in ("verified", "failed"):
            return status, ExitCode.OK
        code = await _watch(client, project, version, since)
        return await client.distribution_status(project, version), code

    status, code = state.run(work)
    if as_json:
        echo_json(status)
    else:
        show_status(status)
    if code != ExitCode.OK:
        raise SystemExit(int(code))


@distribute.command("start")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--watch", is_flag=True, help="Follow it until every file is verified.")
@json_option
@pass_state
def start(state: CliState, *, project: str, version: str, watch: bool, as_json: bool) -> None:
    """Publish the approved plan (again: nothing changes; retry a failed channel instead)."""
    _start(state, project, version, "production", watch=watch, as_json=as_json)


@distribute.command("stage")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--watch", is_flag=True, help="Follow it until every file is verified.")
@json_option
@pass_state
def stage(state: CliState, *, project: str, version: str, watch: bool, as_json: bool) -> None:
    """Publish the candidate to the test channels (dist/dev, TestPyPI, an rc tag…)."""
    _start(state, project, version, "staging", watch=watch, as_json=as_json)


@distribute.command("status")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def status(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """Every channel and file, with its state and where it is now."""

    async def work(client: AgentClient) -> DistributionStatus:
        return await client.distribution_status(project, version)

    _show(state.run(work), as_json=as_json)


def _show(result: DistributionStatus, *, as_json: bool) -> None:
    if as_json:
        echo_json(result)
    else:
        show_status(result)


@distribute.command("retry")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("channel")
@json_option
@pass_state
def retry(state: CliState, *, project: str, version: str, channel: str, as_json: bool) -> None:
    """Try a channel's failed files again."""

    async def work(client: AgentClient) -> DistributionStatus:
        return await client.retry_channel(project, version, channel)

    _show(state.run(work), as_json=as_json)


@distribute.command("done")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("number", type=click.IntRange(min=1))
@json_option
@pass_state
def done(state: CliState, *, project: str, version: str, number: int, as_json: bool) -> None:
    """Mark manual step NUMBER (as `status` lists them) done."""

    async def work(client: AgentClient) -> DistributionStatus:
        return await client.mark_manual_done(project, version, number)

    _show(state.run(work), as_json=as_json)


@distribute.command("settings")
@click.argument("project", type=PROJECT)
@click.option("--set", "settings_file", type=_FILE, help="Replace them with this JSON file.")
@pass_state
def settings(state: CliState, *, project: str, settings_file: Path | None) -> None:
    """Show (or, PMC, replace) where the project's releases go and its manual steps."""
    body = None
    if settings_file is not None:
        try:
            body = DistributionSettings.model_validate_json(settings_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"{settings_file} is not valid distribution settings: {exc}"
            ) from exc

    async def work(client: AgentClient) -> DistributionSettings:
        if body is not None:
            return await client.set_distribution_settings(project, body)
        return await client.distribution_settings(project)

    echo_json(state.run(work))


@click.command("announce")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--force-early", is_flag=True, help="Before the announce delay has passed.")
@click.option("--reason", default="", help="Why (needed with --force-early).")
@json_option
@pass_state
def announce(
    state: CliState, *, project: str, version: str, force_early: bool, reason: str, as_json: bool
) -> None:
    """Send the [ANNOUNCE] mail (once the distribution is verified and manual steps done)."""

    async def work(client: AgentClient) -> DistributionStatus:
        return await client.announce(project, version, force_early=force_early, reason=reason)

    result = state.run(work)
    if as_json:
        echo_json(result)
        return
    click.echo(f"announced {project} {version}: {result.download_page}")


@click.command("archive")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--reason", default="", help="Why it leaves the download page's current list.")
@pass_state
def archive(state: CliState, *, project: str, version: str, reason: str) -> None:
    """Move an announced release to archived."""

    async def work(client: AgentClient) -> DistributionStatus:
        return await client.archive(project, version, reason=reason)

    result = state.run(work)
    click.echo(f"{project} {version} is {result.phase}")
    note("older releases stay on the archive")
