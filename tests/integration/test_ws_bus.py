"""The EventBus over a real SQLite database: fan-out, shared frames, scopes, overflow, wake-up."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from agent.api.deps import make_read_engine
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine.bus import EventBus, SubscriptionClosed, frame_text, read_events
from agent.engine.events import append_event
from shared.protocol import EventKind, Scope, parse_server_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], Engine]]:
    url = f"sqlite:///{tmp_path / 'agent.db'}"
    engine = make_engine(url)
    migrate(engine)
    reader = make_read_engine(url)
    yield make_session_factory(engine), reader
    engine.dispose()
    reader.dispose()


def write(factory: sessionmaker[Session], n: int, *, project: str | None = None,
          version: str | None = None) -> list[int]:  # fmt: skip
    ids = []
    with transaction(factory) as session:
        for i in range(n):
            row = append_event(
                session, EventKind.TASK_LOG, project=project, version=version, data={"i": i}
            )
            ids.append(row.id)
    return ids


async def test_fan_out_shares_one_frame_and_filters_by_scope(db) -> None:
    factory, reader = db
    write(factory, 3)  # before the bus starts: not streamed
    bus = EventBus(reader, poll_interval=0.01)
    await bus.start()
    try:
        assert bus.last_id == 3
        everything = [bus.subscribe(), bus.subscribe()]
        widgets = bus.subscribe(Scope(project="widgets"))
        release = bus.subscribe(Scope(project="widgets", version="1.0"))
        ids = write(factory, 2, project="widgets", version="1.0")
        ids += write(factory, 1, project="widgets", version="2.0")
        ids += write(factory, 1, project="gadgets")
        bus.notify()
        first = await asyncio.wait_for(everything[0].get(), 5)
        second = await asyncio.wait_for(everything[1].get(), 5)
        got = [e.id for b in first for e in b.events]
        while len(got) < 4:
            first += await asyncio.wait_for(everything[0].get(), 5)
            got = [e.id for b in first for e in b.events]
        assert got == ids
        # The same batch object (and so the same frame text) goes to every full subscriber.
        assert first[0] is second[0]
        assert first[0].frame is second[0].frame
        frame = parse_server_frame(first[0].frame)
        assert frame.kind in ("event", "events")
        scoped = [e.id for b in await asyncio.wait_for(widgets.get(), 5) for e in b.events]
        while len(scoped) < 3:
            scoped += [e.id for b in await asyncio.wait_for(widgets.get(), 5) for e in b.events]
        assert scoped == ids[:3]
        one = [e.id for b in await asyncio.wait_for(release.get(), 5) for e in b.events]
        assert one == ids[:2]
    finally:
        await bus.stop()


async def test_a_subscriber_that_falls_behind_is_closed(db) -> None:
    factory, reader = db
    bus = EventBus(reader, poll_interval=0.01, queue_size=5)
    await bus.start()
    try:
        slow = bus.subscribe()
        fine = bus.subscribe(Scope(project="quiet"))
        write(factory, 6)
        bus.notify()
        for _ in range(200):
            if slow.closed_reason:
                break
            await asyncio.sleep(0.01)
        assert slow.closed_reason is not None and "5 events behind" in slow.closed_reason
        with pytest.raises(SubscriptionClosed, match="behind"):
            await slow.get()
        assert bus.subscriber_count == 1 and fine.closed_reason is None
    finally:
        await bus.stop()
    assert fine.closed_reason is not None  # stopping the bus closes everyone
    with pytest.raises(SubscriptionClosed):
        await fine.get()


async def test_notify_from_another_thread_wakes_the_bus(db) -> None:
    factory, reader = db
    bus = EventBus(reader, poll_interval=60)  # polling alone would take a minute
    await bus.start()
    try:
        sub = bus.subscribe()

        def writer() -> None:
            write(factory, 1)
            bus.notify()

        thread = threading.Thread(target=writer)
        thread.start()
        batches = await asyncio.wait_for(sub.get(), 5)
        thread.join()
        assert [e.id for b in batches for e in b.events] == [1]
    finally:
        await bus.stop()


def test_replay_reads_and_frames(db) -> None:
    factory, reader = db
    write(factory, 3, project="a", version="1")
    write(factory, 2, project="b")
    got = read_events(reader, 0, scope=Scope(project="a"), upto=2)
    assert [e.id for e in got] == [1, 2]
    assert [e.id for e in read_events(reader, 1, limit=2)] == [2, 3]
    single = json.loads(frame_text(got[:1]))
    assert single["kind"] == "event" and single["event"]["id"] == 1
    several = parse_server_frame(frame_text(got))
    assert several.kind == "events" and [e.id for e in several.events] == [1, 2]


def test_sqlite_does_not_listen(db) -> None:
    _, reader = db
    with pytest.raises(ValueError, match="PostgreSQL"):
        EventBus(reader, listen=True)
    assert EventBus(reader).listening is False
