"""The EventBus over a real PostgreSQL server: LISTEN/NOTIFY wakes it for events committed
elsewhere, and it reconnects its LISTEN connection when that connection is killed.

The bus under test polls only once an hour (listening or not), and its writers are other
engines (other connections, as another agent would be) that never call the bus: only a
notification, or the bus's own read after each new LISTEN, can bring their events in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import psycopg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine.bus import LISTENER_NAME, EventBus, Subscription, listen_params
from agent.engine.events import append_event
from shared.protocol import EventKind
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

WAIT = 60.0
"""Seconds before a test gives up waiting (a hang guard, not a measurement)."""


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def writer(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions of a second engine: the bus never hears of its commits but by NOTIFY."""
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
async def bus(database_url: str) -> AsyncIterator[EventBus]:
    engine = make_engine(database_url)
    bus = EventBus(engine, poll_interval=3600, listen_poll_interval=3600)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()
        engine.dispose()


def write(factory: sessionmaker[Session], n: int) -> list[int]:
    """Commit ``n`` events in one transaction; their ids."""
    with transaction(factory) as session:
        return [append_event(session, EventKind.TASK_LOG, data={"i": i}).id for i in range(n)]


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait until ``check()`` (run in a thread: it may query the database) is true."""

    async def wait() -> None:
        while not await asyncio.to_thread(check):  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(wait(), WAIT)
    except TimeoutError:
        pytest.fail(f"gave up after {WAIT} s waiting for {what}")


async def receive(sub: Subscription, got: list[int], upto: int) -> None:
    """Take events from ``sub`` into ``got`` until the one with id ``upto`` has come."""

    async def take() -> None:
        while not got or got[-1] < upto:
            got.extend(e.id for b in await sub.get() for e in b.events)

    try:
        await asyncio.wait_for(take(), WAIT)
    except TimeoutError:
        pytest.fail(f"event {upto} did not reach the subscriber (got {got})")


def listener_pids(url: str) -> list[int]:
    """Backend pids of the bus's LISTEN connections to the database of ``url``."""
    params = listen_params(make_url(url))
    params.pop("application_name")
    with psycopg.connect(**params, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (LISTENER_NAME,),
        ).fetchall()
    return [int(pid) for (pid,) in rows]


async def test_events_committed_elsewhere_wake_the_bus(
    bus: EventBus, writer: sessionmaker[Session]
) -> None:
    sub = bus.subscribe()
    await until(lambda: bus.listening, "the bus to listen")
    got: list[int] = []
    expected: list[int] = []
    # One transaction after another, each waited for: the bus's one catch-up read after
    # LISTEN can bring in the first at most; every later one needs its notification.
    for n in (1, 3, 1, 2):
        ids = await asyncio.to_thread(write, writer, n)
        expected += ids
        await receive(sub, got, ids[-1])
        assert got == expected


async def test_a_killed_listener_reconnects_and_misses_nothing(
    bus: EventBus, writer: sessionmaker[Session], database_url: str
) -> None:
    sub = bus.subscribe()
    await until(lambda: bus.listening, "the bus to listen")
    got: list[int] = []
    expected = await asyncio.to_thread(write, writer, 2)
    await receive(sub, got, expected[-1])

    (old,) = await asyncio.to_thread(listener_pids, database_url)
    admin = make_engine(database_url)
    try:
        with admin.connect() as conn:
            killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old}).scalar()
        assert killed is True
        await until(lambda: not bus.listening, "the bus to see its LISTEN connection drop")
        # Committed while the bus is not listening (it waits a second before reconnecting):
        # no notification reaches it, its read after the next LISTEN must bring these in.
        expected += await asyncio.to_thread(write, writer, 3)
        expected += await asyncio.to_thread(write, writer, 1)

        def relistening() -> bool:
            pids = listener_pids(database_url)
            return bus.listening and len(pids) == 1 and pids[0] != old

        await until(relistening, "the bus to LISTEN again on a new connection")
        await receive(sub, got, expected[-1])  # before anything else notifies
        # After the reconnection each event still arrives, by its notification alone.
        for n in (2, 1, 1):
            expected += await asyncio.to_thread(write, writer, n)
            await receive(sub, got, expected[-1])
        assert got == expected  # every event, once, in id order
        assert got == sorted(set(got))
    finally:
        admin.dispose()
