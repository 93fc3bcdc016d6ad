"""``atr task start|show``, ``tasks``, ``watch`` and ``events``."""

from __future__ import annotations

import click

from shared.cli.exit_codes import ExitCode
from shared.cli.options import PROJECT, VERSION, json_option, parse_args
from shared.cli.output import TASK_HEADERS, echo_event, echo_json, note, show_task, table, task_rows
from shared.cli.state import CliState, pass_state
from shared.cli.watching import watch_scope, watch_task
from shared.client import AgentClient
from shared.protocol import EventPage, Scope, Task, TaskState, TaskType


@click.group()
def task() -> None:
    """Start and show tasks."""


@task.command("start")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option(
    "--type",
    "task_type",
    type=click.Choice([t.value for t in TaskType]),
    default=TaskType.INVENTORY.value,
    show_default=True,
)
@click.option("--revision", type=click.IntRange(min=1), help="Default: the latest revision.")
@click.option(
    "--arg",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A task argument; VALUE is JSON if it parses (5, true, [1]) else a string.",
)
@click.option("--watch", is_flag=True, help="Follow the task's events until it ends.")
@json_option
@click.pass_context
def task_start(
    ctx: click.Context,
    *,
    project: str,
    version: str,
    task_type: str,
    revision: int | None,
    pairs: tuple[str, ...],
    watch: bool,
    as_json: bool,
) -> None:
    """Queue a task on a release; with --watch, exit 0 if it succeeds and 1 if it fails.

    With --json --watch the first line is the task, then one line per event.
    """
    state = ctx.ensure_object(CliState)
    args = parse_args(pairs)

    async def work(client: AgentClient) -> ExitCode:
        # Every event of the new task comes after the log's current end.
        since = (await client.health()).last_event_id if watch else 0
        started = await client.start_task(
            project, version, TaskType(task_type), revision=revision, args=args
        )
        if as_json:
            echo_json(started, compact=watch)
        else:
            (note if watch else click.echo)(
                f"task {started.id} ({started.type}) {started.state} on {project} {version}"
            )
        if not watch:
            return ExitCode.OK
        return await watch_task(client, started.id, since=since, as_json=as_json)

    ctx.exit(state.run(work))


@task.command("show")
@click.argument("task_id", type=int)
@json_option
@pass_state
def task_show(state: CliState, *, task_id: int, as_json: bool) -> None:
    """Show one task."""

    async def work(client: AgentClient) -> Task:
        return await client.get_task(task_id)

    found = state.run(work)
    if as_json:
        echo_json(found)
    else:
        show_task(found)


@click.command()
@click.option("--project", type=PROJECT)
@click.option("--version", type=VERSION)
@click.option("--state", "task_state", type=click.Choice([s.value for s in TaskState]))
@json_option
@pass_state
def tasks(
    state: CliState,
    *,
    project: str | None,
    version: str | None,
    task_state: str | None,
    as_json: bool,
) -> None:
    """List tasks."""

    async def work(client: AgentClient) -> list[Task]:
        return await client.list_tasks(project=project, version=version, state=task_state)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(TASK_HEADERS, task_rows(found), empty="no tasks")


@click.command()
@click.argument("task_id", type=int, required=False)
@click.option("--project", type=PROJECT, help="Watch a project's events instead of a task.")
@click.option("--version", type=VERSION, help="With --project: only this release.")
@click.option("--since", type=click.IntRange(min=0), help="Start after this event id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line.")
@click.pass_context
def watch(
    ctx: click.Context,
    *,
    task_id: int | None,
    project: str | None,
    version: str | None,
    since: int | None,
    as_json: bool,
) -> None:
    """Stream events as they happen: of task TASK_ID, or of --project [--version].

    A task is followed from the start of its log until it ends (exit 0 if it
    succeeded, 1 if it failed). A project or release is followed from now (or
    --since) until Ctrl-C (exit 0).
    """
    state = ctx.ensure_object(CliState)
    if (task_id is None) == (project is None):
        raise click.UsageError("give either a TASK_ID or --project (not both)")
    if version is not None and project is None:
        raise click.UsageError("--version needs --project")
    if task_id is not None:

        async def follow_task(client: AgentClient) -> ExitCode:
            return await watch_task(client, task_id, since=since, as_json=as_json)

        ctx.exit(state.run(follow_task))

    async def follow_scope(client: AgentClient) -> None:
        await watch_scope(
            client, Scope(project=project, version=version), since=since, as_json=as_json
        )

    try:
        state.run(follow_scope)
    except KeyboardInterrupt:
        note("stopped")


@click.command()
@click.option("--since", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--project", type=PROJECT)
@click.option("--version", type=VERSION)
@json_option
@pass_state
def events(
    state: CliState,
    *,
    since: int,
    limit: int,
    project: str | None,
    version: str | None,
    as_json: bool,
) -> None:
    """Show a page of the event log."""
    if version is not None and project is None:
        raise click.UsageError("--version needs --project")

    async def work(client: AgentClient) -> EventPage:
        return await client.events(since=since, limit=limit, project=project, version=version)

    page = state.run(work)
    if as_json:
        echo_json(page)
        return
    if not page.events:
        click.echo(f"no events after {since}")
        return
    for event in page.events:
        echo_event(event, as_json=False, with_id=True)
    if len(page.events) >= limit:
        note(f"more: atr events --since {page.next_since}")
