"""Appending to the event log: the one function every writer calls.

Event ids must increase in *commit* order, or a client that resumes from the
last id it saw could miss an event committed late with a smaller id. SQLite
serializes writers, so its ids already do. On PostgreSQL a sequence value is
taken before commit, so writers of events take a transaction-level advisory
lock first: event-writing transactions then commit one after another.

On PostgreSQL the same statement also issues ``pg_notify('atr_events', '')``: the
notification is delivered when (and only if) the transaction commits, and wakes the
event bus of every agent sharing the database (:mod:`agent.engine.bus` listens on
:data:`EVENTS_CHANNEL`). PostgreSQL folds identical notifications of one transaction
into one, so a transaction appending many events wakes each listener once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from agent.db import models
from shared.protocol import Event, EventKind

EVENTS_LOCK_KEY = 0x41545245  # "ATRE": the advisory lock that orders event commits
EVENTS_CHANNEL = "atr_events"
"""The PostgreSQL NOTIFY channel of committed events (empty payload: readers tail the table)."""

_LOCKED_IN = "atr.events.locked_in"
"""``session.info`` key: the transaction that already holds the event-order lock."""
_LOCK_AND_NOTIFY = text("SELECT pg_advisory_xact_lock(:key), pg_notify(:channel, '')")


def append_event(
    session: Session,
    kind: EventKind,
    *,
    actor: str | None = None,
    project: str | None = None,
    version: str | None = None,
    task_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> models.Event:
    """Add one event to ``session``'s transaction; it is visible once the caller commits.

    On PostgreSQL the transaction's first event takes the event-order lock and queues the
    commit-time notification on :data:`EVENTS_CHANNEL` (one round trip, once).
    """
    (row,) = append_events(
        session, [(kind, data)], actor=actor, project=project, version=version, task_id=task_id
    )
    return row


def append_events(
    session: Session,
    events: Sequence[tuple[EventKind, dict[str, Any] | None]],
    *,
    actor: str | None = None,
    project: str | None = None,
    version: str | None = None,
    task_id: int | None = None,
) -> list[models.Event]:
    """Add several events of one scope (kind and data each) in one flush, in order.

    A worker's grouped task log lines go through here: one INSERT for the lot instead of
    a round trip per line.
    """
    _take_order_lock(session)
    rows = [
        models.Event(
            kind=kind.value,
            actor=actor,
            project=project,
            version=version,
            task_id=task_id,
            data=data or {},
        )
        for kind, data in events
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _take_order_lock(session: Session) -> None:
    """PostgreSQL: the event-order lock and the notification, once per transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return
    current = session.get_transaction()
    if session.info.get(_LOCKED_IN) is current:
        return
    session.execute(_LOCK_AND_NOTIFY, {"key": EVENTS_LOCK_KEY, "channel": EVENTS_CHANNEL})
    session.info[_LOCKED_IN] = current


def to_wire(row: models.Event) -> Event:
    """The protocol model of an event row."""
    return Event(
        id=row.id,
        at=row.at,
        kind=EventKind(row.kind),
        actor=row.actor,
        project=row.project,
        version=row.version,
        task_id=row.task_id,
        data=row.data,
    )
