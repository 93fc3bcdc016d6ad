"""Following the event stream for ``atr watch`` and ``atr task start --watch``."""

from __future__ import annotations

import click

from shared.cli.exit_codes import ExitCode
from shared.cli.output import echo_event, note
from shared.client import CONNECTED, RECONNECTING, AgentClient
from shared.errors import AtrError
from shared.protocol import Event, EventKind, Scope, Task, TaskState

PAGE = 500
MAX_DETAILS = 20
"""Results of one finished check printed under its line; ``atr checks`` lists them all."""
_DETAILED = ("blocker", "warning")


class StateNotes:
    """Tells the person on stderr when the stream drops and comes back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dropped = False

    def __call__(self, state: str) -> None:
        if state == RECONNECTING and not self.dropped:
            self.dropped = True
            note(f"connection to {self.url} lost; reconnecting…")
        elif state == CONNECTED and self.dropped:
            self.dropped = False
            note("reconnected; no event is lost")


class CheckDetails:
    """Under a ``check.finished`` line with blockers or warnings, those results, fetched from
    the revision's check report (events carry only counts and where the report is)."""

    def __init__(self, client: AgentClient, *, enabled: bool) -> None:
        self.client = client
        self.enabled = enabled

    async def after(self, event: Event) -> None:
        if not self.enabled or event.kind != EventKind.CHECK_FINISHED:
            return
        data = event.data
        summary = data.get("summary")
        revision = data.get("revision")
        if (
            not isinstance(summary, dict)
            or not any(summary.get(status) for status in _DETAILED)
            or not isinstance(revision, int)
            or event.project is None
            or event.version is None
        ):
            return
        try:
            report = await self.client.get_checks(event.project, event.version, revision)
        except AtrError as exc:
            note(f"          (details not available: {exc.message})")
            return
        found = [
            r
            for r in report.results
            if r.check == data.get("check")
            and r.artifact == data.get("artifact")
            and r.status in _DETAILED
        ]
        found.sort(key=lambda r: _DETAILED.index(r.status))
        for result in found[:MAX_DETAILS]:
            ignored = f" (ignored: {result.ignored.reason})" if result.ignored else ""
            click.echo(f"          {result.status:<8} {result.path}: {result.message}{ignored}")
        if len(found) > MAX_DETAILS:
            click.echo(
                f"          … {len(found) - MAX_DETAILS} more: "
                f"atr checks {event.project} {event.version} --revision {revision}"
            )


def _task_exit(task: Task) -> ExitCode:
    return ExitCode.OK if task.state == TaskState.SUCCEEDED else ExitCode.FAILED


async def _replay_finished(client: AgentClient, task: Task, since: int, as_json: bool) -> ExitCode:
    """Print a finished task's events from the event log (no stream needed)."""
    details = CheckDetails(client, enabled=not as_json)
    cursor = since
    while True:
        page = await client.events(
            since=cursor, limit=PAGE, project=task.project, version=task.version
        )
        for event in page.events:
            if event.task_id == task.id:
                echo_event(event, as_json=as_json)
                await details.after(event)
        if not page.events or page.next_since <= cursor:
            return _task_exit(task)
        cursor = page.next_since


async def watch_task(
    client: AgentClient, task_id: int, *, since: int | None, as_json: bool
) -> ExitCode:
    """Print a task's events until it ends; OK if it succeeded, FAILED otherwise.

    From ``since`` (default: the start of the log, so a task's whole log shows).
    """
    task = await client.get_task(task_id)
    start = since or 0
    if task.state.finished:
        return await _replay_finished(client, task, start, as_json)
    scope = Scope(project=task.project, version=task.version)
    stream = client.stream(scope, since=start, on_state=StateNotes(client.base_url))
    details = CheckDetails(client, enabled=not as_json)
    async with stream:
        async for event in stream:
            if event.task_id != task_id:
                continue
            echo_event(event, as_json=as_json)
            await details.after(event)
            if event.kind == EventKind.TASK_FINISHED:
                task = await client.get_task(task_id)
                if task.state.finished:
                    return _task_exit(task)
    return ExitCode.FAILED  # pragma: no cover - the stream only ends by raising


async def watch_scope(
    client: AgentClient, scope: Scope, *, since: int | None, as_json: bool
) -> None:
    """Print every event of ``scope`` until interrupted."""
    stream = client.stream(scope, since=since, on_state=StateNotes(client.base_url))
    details = CheckDetails(client, enabled=not as_json)
    async with stream:
        event: Event
        async for event in stream:
            echo_event(event, as_json=as_json)
            await details.after(event)
