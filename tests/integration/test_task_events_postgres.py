"""A worker's grouped task events on PostgreSQL: many lines per INSERT, ids in call order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine.events import append_event
from agent.engine.task_events import GroupedEvents, TaskEvent
from shared.protocol import EventKind
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def engine_and_factory(
    postgres_server: PostgresServer,
) -> Iterator[tuple[Any, sessionmaker[Session]]]:
    engine = make_engine(postgres_server.create_database())
    migrate(engine)
    yield engine, make_session_factory(engine)
    engine.dispose()


def test_grouped_lines_keep_their_order_in_few_statements(
    engine_and_factory: tuple[Any, sessionmaker[Session]],
) -> None:
    engine, factory = engine_and_factory
    statements: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0].upper())
    )
    writer = GroupedEvents(factory, task_id=3, project="demo", version="1.0.0")
    for n in range(3000):
        writer.add(TaskEvent(EventKind.TASK_LOG, {"level": "info", "message": f"line {n}"}))
    writer.close()
    with factory() as session:
        rows = list(session.scalars(select(models.Event).order_by(models.Event.id)))
    assert [r.data["message"] for r in rows] == [f"line {n}" for n in range(3000)]
    assert writer.written == 3000
    assert statements.count("INSERT") < 3000  # lines share statements
    # the order lock (and the notification) once per transaction, not once per line
    assert statements.count("SELECT") <= 2 * statements.count("INSERT")


def test_the_order_lock_is_taken_once_per_transaction(
    engine_and_factory: tuple[Any, sessionmaker[Session]],
) -> None:
    engine, factory = engine_and_factory
    locks: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda *a: locks.append(a[2]) if "pg_advisory_xact_lock" in a[2] else None,
    )
    for _ in range(2):
        with transaction(factory) as session:
            for n in range(5):
                append_event(session, EventKind.TASK_LOG, data={"message": f"{n}"})
    assert len(locks) == 2
