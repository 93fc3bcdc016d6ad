"""How ``atr`` prints: protocol models as JSON, aligned tables, one line per event, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import click
from pydantic import BaseModel

from shared.protocol import Event, EventKind, Release, Revision, Task

JsonValue = BaseModel | Sequence[BaseModel] | Mapping[str, Any]


def to_json(value: Any) -> Any:
    """Plain JSON data of a model, a list of models or a mapping of them."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def echo_json(value: Any, *, compact: bool = False) -> None:
    """Print ``value`` as JSON on stdout (indented, or one line when ``compact``)."""
    data = to_json(value)
    if compact:
        click.echo(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    else:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def when(value: datetime | None) -> str:
    """A timestamp in local time, to the second."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def size(n: int) -> str:
    """A byte count for people."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "") -> None:
    """Print rows as aligned columns under ``headers`` (or ``empty`` if there are none)."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        if empty:
            click.echo(empty)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        click.echo(line.rstrip())


def show_release(release: Release) -> None:
    """A release in a few lines."""
    click.echo(f"{release.project} {release.version}")
    click.echo(f"  phase:            {release.phase}")
    click.echo(f"  latest revision:  {release.latest_revision or '-'}")
    click.echo(f"  created:          {when(release.created_at)} by {release.created_by}")
    click.echo(f"  updated:          {when(release.updated_at)}")


def show_revision(revision: Revision) -> None:
    """A revision and its files."""
    message = f': "{revision.message}"' if revision.message else ""
    click.echo(
        f"revision {revision.number} of {revision.project} {revision.version} "
        f"({len(revision.files)} files, {when(revision.created_at)} by {revision.created_by})"
        f"{message}"
    )
    table(
        ("  path", "size", "sha256"),
        ((f"  {f.path}", size(f.size), f.sha256[:16]) for f in revision.files),
    )


def task_kind(task: Task) -> str:
    """The task's type, and for a check which check on which artifact:
    ``check signatures · apache-foo-1.0-src.tar.gz``."""
    check, artifact = task.args.get("check_id"), task.args.get("artifact")
    if not isinstance(check, str):
        return str(task.type)
    return f"{task.type} {check}" + (
        f" · {artifact}" if isinstance(artifact, str) and artifact else ""
    )


def task_rows(tasks: Iterable[Task]) -> list[tuple[str, ...]]:
    """Table rows for tasks."""
    return [
        (
            str(t.id),
            task_kind(t),
            t.state,
            f"{t.project or '-'} {t.version or ''}".strip(),
            str(t.revision or "-"),
            when(t.created_at),
            t.error or "",
        )
        for t in tasks
    ]


TASK_HEADERS = ("id", "type", "state", "release", "rev", "created", "error")


def show_task(task: Task) -> None:
    """A task in a few lines."""
    click.echo(f"task {task.id}: {task.type} — {task.state}")
    click.echo(f"  release:   {task.project or '-'} {task.version or ''}".rstrip())
    click.echo(f"  revision:  {task.revision or '-'}")
    if task.args:
        click.echo(f"  args:      {json.dumps(task.args, ensure_ascii=False)}")
    click.echo(f"  attempts:  {task.attempts}/{task.max_attempts}")
    click.echo(f"  created:   {when(task.created_at)} by {task.created_by or '-'}")
    click.echo(f"  started:   {when(task.started_at)}")
    click.echo(f"  finished:  {when(task.finished_at)}")
    if task.error:
        click.echo(f"  error:     {task.error}")
    if task.result is not None:
        click.echo(f"  result:    {json.dumps(task.result, ensure_ascii=False)}")


def _compact(data: Mapping[str, Any]) -> str:
    return " ".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
        for k, v in data.items()
    )


def _retry_mark(data: Mapping[str, Any]) -> str:
    """``(attempt 2) `` for a line of a retried attempt; nothing for the first."""
    attempt = data.get("attempt")
    return f"(attempt {attempt}) " if isinstance(attempt, int) and attempt > 1 else ""


def _log(data: Mapping[str, Any]) -> str:
    level = str(data.get("level", "info"))
    text = str(data.get("message", ""))
    return _retry_mark(data) + (text if level == "info" else f"{level}: {text}")


def _queued(data: Mapping[str, Any]) -> str:
    revision = data.get("revision")
    return f"{data.get('type', 'task')}" + (f" on revision {revision}" if revision else "")


def _started(data: Mapping[str, Any]) -> str:
    owner = data.get("owner")
    return f"attempt {data.get('attempt', '?')}" + (f" on {owner}" if owner else "")


def _progress(data: Mapping[str, Any]) -> str:
    return f"{_retry_mark(data)}{data.get('done', '?')}/{data.get('total', '?')}"


def _finished(data: Mapping[str, Any]) -> str:
    millis = data.get("duration_ms")
    took = f" in {millis / 1000:.1f} s" if isinstance(millis, int | float) else ""
    error = f": {data['error']}" if data.get("error") else ""
    return f"{data.get('state', 'finished')}{took}{error}"


def _retry(data: Mapping[str, Any]) -> str:
    delay = data.get("delay_seconds")
    later = f", retry in {delay} s" if delay is not None else ""
    return f"attempt {data.get('attempt', '?')} failed: {data.get('error', '')}{later}"


_STATUS_ORDER = ("blocker", "warning", "note", "pass")


def check_counts(summary: object) -> str:
    """``1 blocker, 2 pass`` from a ``summary`` mapping (status → count)."""
    if not isinstance(summary, Mapping):
        return ""
    return ", ".join(
        f"{summary[status]} {status}"
        for status in _STATUS_ORDER
        if isinstance(summary.get(status), int) and summary[status]
    )


def _check_finished(data: Mapping[str, Any]) -> str:
    artifact = data.get("artifact")
    name = f"{data.get('check', '?')}" + (f" on {artifact}" if artifact else "")
    if data.get("state") == "error":
        return f"{name} could not run: {data.get('error') or '?'}"
    return f"{name}: {check_counts(data.get('summary')) or 'no result'}"


_TASK_MESSAGES: dict[EventKind, Callable[[Mapping[str, Any]], str]] = {
    EventKind.CHECK_FINISHED: _check_finished,
    EventKind.TASK_LOG: _log,
    EventKind.TASK_QUEUED: _queued,
    EventKind.TASK_STARTED: _started,
    EventKind.TASK_PROGRESS: _progress,
    EventKind.TASK_FINISHED: _finished,
    EventKind.TASK_RETRY: _retry,
}


def event_message(event: Event) -> str:
    """The human part of an event's line."""
    task_message = _TASK_MESSAGES.get(event.kind)
    if task_message is not None:
        return task_message(event.data)
    data = dict(event.data)
    # A task's events are read in the context of their task; others say where they happened.
    where = (
        "" if event.task_id is not None else f"{event.project or ''} {event.version or ''}".strip()
    )
    if event.kind == EventKind.PHASE_CHANGED and "to" in data:
        reason = data.pop("reason", "") or ""
        text = f"{data.pop('from', '?')} -> {data.pop('to')}" + (f" ({reason})" if reason else "")
        rest = _compact(data)
        message = f"{text} {rest}".rstrip()
    else:
        message = str(data.pop("message")) if "message" in data else _compact(data)
    parts = [p for p in (where, message, f"by {event.actor}" if event.actor else "") if p]
    return "  ".join(parts)


def event_line(event: Event, *, with_id: bool = False) -> str:
    """One readable line: (id,) time, kind, task, message."""
    stamp = event.at.astimezone().strftime("%H:%M:%S")
    task = f"task {event.task_id}" if event.task_id is not None else "-"
    line = f"{stamp}  {event.kind.value:<21}  {task:<9}  {event_message(event)}".rstrip()
    return f"{event.id:>6}  {line}" if with_id else line


def echo_event(event: Event, *, as_json: bool, with_id: bool = False) -> None:
    """Print one event: a JSON line or a readable line."""
    if as_json:
        echo_json(event, compact=True)
    else:
        click.echo(event_line(event, with_id=with_id))


def note(message: str) -> None:
    """A message for the person, on stderr."""
    click.echo(message, err=True)


class Progress:
    """Upload progress on stderr, one rewritten line per file; silent when stderr is no TTY."""

    def __init__(self, *, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, name: str, sent: int, total: int) -> None:
        if not self.enabled:
            return
        percent = 100 if total == 0 else sent * 100 // total
        end = "\n" if sent >= total else ""
        click.echo(
            f"\r{name}: {percent:3d}% ({size(sent)} of {size(total)})\x1b[K{end}",
            nl=False,
            err=True,
        )

    def reporter(self) -> Callable[[str, int, int], None] | None:
        """The callback to pass to the client, or None when disabled."""
        return self if self.enabled else None
