"""The event bus: one task per agent process tails the ``events`` table and fans out.

Events are written by the API process and by worker processes (and, on
PostgreSQL, by other agents), so the table is the one source: the bus reads
``WHERE id > last ORDER BY id`` in batches, woken at once by :meth:`EventBus.notify`
(called after local commits, from any thread) and otherwise every ``poll_interval``
(20 ms). Each event is serialized to JSON ONCE; the events read together form a
:class:`BusBatch` whose websocket frame text (``event`` or ``events``) is built once
and shared by every subscriber that wants them all.

On PostgreSQL the bus also holds one dedicated connection listening (``LISTEN``) on
:data:`~agent.engine.events.EVENTS_CHANNEL` (every event-writing transaction notifies it
at commit, whichever process or agent wrote it): a notification wakes the tail at once,
and polling slows to ``listen_poll_interval`` (1 s), a fallback only. If the listening
connection drops (or stops answering), the bus polls every ``poll_interval`` again,
reconnects with backoff, and reads once after each new ``LISTEN`` so that nothing
committed meanwhile waits for a poll. Notifications only wake the tail; what is read,
and in which order, is still ``id > last ORDER BY id`` (event ids follow commit order,
see :mod:`agent.engine.events`), so a lost or extra notification never makes a gap or
a duplicate.

Each subscriber has a queue bounded in events. One that falls behind far enough to fill it
is closed with a reason (:class:`SubscriptionClosed`); its client reconnects and
replays from the last id it saw, so a slow client never grows the agent's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, func, select

from agent.db import models
from agent.engine.events import EVENTS_CHANNEL, to_wire
from shared.errors import AtrError
from shared.protocol import Scope

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02
LISTEN_POLL_INTERVAL = 1.0
"""Polling interval on PostgreSQL while the LISTEN connection is up (a fallback only)."""
LISTENER_NAME = "atr-event-bus"
"""``application_name`` of the LISTEN connection (as ``pg_stat_activity`` shows it)."""
QUEUE_SIZE = 10_000
BATCH_SIZE = 2_000
_RETRY_AFTER_ERROR = 1.0
_LISTEN_RETRY = 1.0
_LISTEN_RETRY_MAX = 30.0
_LISTEN_HEALTH_EVERY = 30.0
"""Seconds without a notification after which the LISTEN connection is checked."""
_LISTEN_HEALTH_TIMEOUT = 10.0

_EVENTS = models.Event.__table__


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One event as the bus fans it out: its id, its scope keys and its JSON text."""

    id: int
    project: str | None
    version: str | None
    json: str
    """The event's JSON text (the protocol ``Event``), serialized once for every subscriber."""

    def matches(self, scope: Scope) -> bool:
        if scope.project is not None and self.project != scope.project:
            return False
        return scope.version is None or self.version == scope.version


def frame_text(events: Sequence[BusEvent]) -> str:
    """The websocket frame carrying ``events``: ``event`` for one, ``events`` for several."""
    if len(events) == 1:
        return '{"kind":"event","event":' + events[0].json + "}"
    return '{"kind":"events","events":[' + ",".join(e.json for e in events) + "]}"


class BusBatch:
    """Events read together, in id order; the frame text is built once and shared."""

    __slots__ = ("_frame", "events")

    def __init__(self, events: tuple[BusEvent, ...]) -> None:
        self.events = events
        self._frame: str | None = None

    @property
    def frame(self) -> str:
        if self._frame is None:
            self._frame = frame_text(self.events)
        return self._frame


class SubscriptionClosed(AtrError):
    """The subscription ended: the bus stopped, or the subscriber fell too far behind."""


class Subscription:
    """A subscriber's bounded queue of event batches for one scope."""

    def __init__(self, scope: Scope, *, maxsize: int) -> None:
        self.scope = scope
        self.maxsize = maxsize
        self._batches: deque[BusBatch] = deque()
        self._pending = 0
        self._ready = asyncio.Event()
        self.closed_reason: str | None = None

    @property
    def pending(self) -> int:
        """Events queued and not yet taken."""
        return self._pending

    def _offer(self, batch: BusBatch) -> bool:
        """Queue ``batch``; False if it would pass the bound (the bus closes the subscription)."""
        if self._pending + len(batch.events) > self.maxsize:
            return False
        self._batches.append(batch)
        self._pending += len(batch.events)
        self._ready.set()
        return True

    def close(self, reason: str) -> None:
        """End the subscription; a waiting :meth:`get` raises at once."""
        if self.closed_reason is None:
            self.closed_reason = reason
            self._batches.clear()
            self._pending = 0
            self._ready.set()

    async def get(self) -> list[BusBatch]:
        """Wait for events, then take every queued batch (oldest first).

        Raises :class:`SubscriptionClosed` once the subscription is closed.
        """
        while not self._batches:
            if self.closed_reason is not None:
                raise SubscriptionClosed(f"event stream closed: {self.closed_reason}")
            self._ready.clear()
            await self._ready.wait()
        if self.closed_reason is not None:
            raise SubscriptionClosed(f"event stream closed: {self.closed_reason}")
        out = list(self._batches)
        self._batches.clear()
        self._pending = 0
        return out


def read_events(
    engine: Engine,
    after: int,
    *,
    limit: int = BATCH_SIZE,
    scope: Scope | None = None,
    upto: int | None = None,
) -> list[BusEvent]:
    """Stored events with ``after < id (<= upto)`` matching ``scope``, serialized once.

    Blocking: the bus runs it in a worker thread; replays use it too.
    """
    query = select(_EVENTS).where(_EVENTS.c.id > after)
    if upto is not None:
        query = query.where(_EVENTS.c.id <= upto)
    if scope is not None and scope.project is not None:
        query = query.where(_EVENTS.c.project == scope.project)
    if scope is not None and scope.version is not None:
        query = query.where(_EVENTS.c.version == scope.version)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(_EVENTS.c.id).limit(limit)).all()
    out: list[BusEvent] = []
    for row in rows:
        event = to_wire(models.Event(**row._asdict()))
        out.append(
            BusEvent(
                id=event.id,
                project=event.project,
                version=event.version,
                json=event.model_dump_json(),
            )
        )
    return out


def listen_params(url: URL) -> dict[str, Any]:
    """psycopg connection parameters for the PostgreSQL database of the SQLAlchemy ``url``."""
    params: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
    for name, value in url.query.items():
        params[name] = value if isinstance(value, str) else value[-1]
    params["application_name"] = LISTENER_NAME
    return params


def max_event_id(engine: Engine) -> int:
    """The largest event id stored (0 when there is none)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(_EVENTS.c.id))).scalar() or 0)


class EventBus:
    """Tails the events table and fans each new event out to the matching subscribers.

    ``listen`` (default: on PostgreSQL) holds a LISTEN connection woken by every event
    commit; polling then runs every ``listen_poll_interval`` instead of ``poll_interval``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        poll_interval: float = POLL_INTERVAL,
        listen: bool | None = None,
        listen_poll_interval: float = LISTEN_POLL_INTERVAL,
        queue_size: int = QUEUE_SIZE,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if listen is None:
            listen = engine.dialect.name == "postgresql"
        if listen and engine.dialect.name != "postgresql":
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self._engine = engine
        self._poll_interval = poll_interval
        self._listen = listen
        self._listen_poll_interval = listen_poll_interval
        self._listening = False
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._subscribers: set[Subscription] = set()
        self._last_id = 0
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    @property
    def last_id(self) -> int:
        """The id of the last event fanned out."""
        return self._last_id

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def pending_counts(self) -> list[int]:
        """Events queued and not yet taken, per subscriber (the metrics' websocket lag)."""
        return [sub.pending for sub in list(self._subscribers)]

    @property
    def listening(self) -> bool:
        """Whether the PostgreSQL LISTEN connection is up (always ``False`` on SQLite)."""
        return self._listening

    async def start(self) -> None:
        """Start tailing after the events already stored (call on the agent's loop)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._last_id = await asyncio.to_thread(max_event_id, self._engine)
        self._task = asyncio.create_task(self._run(self._wake), name="event-bus")
        if self._listen:
            self._listener = asyncio.create_task(
                self._listen_loop(self._wake), name="event-bus-listen"
            )

    async def stop(self) -> None:
        """Stop tailing and close every subscription."""
        listener, self._listener = self._listener, None
        task, self._task = self._task, None
        for running in (listener, task):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        for sub in list(self._subscribers):
            sub.close("the agent is shutting down")
        self._subscribers.clear()

    def notify(self) -> None:
        """Wake the bus now (thread-safe; call after committing events)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def subscribe(self, scope: Scope | None = None) -> Subscription:
        """Register a subscriber for events of ``scope`` from now on."""
        sub = Subscription(scope or Scope(), maxsize=self._queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub`` (idempotent)."""
        self._subscribers.discard(sub)

    def _fan_out(self, events: Sequence[BusEvent]) -> None:
        shared = BusBatch(tuple(events))
        for sub in list(self._subscribers):
            scope = sub.scope
            if scope.project is None and scope.version is None:
                batch = shared
            else:
                matching = tuple(e for e in events if e.matches(scope))
                if not matching:
                    continue
                batch = BusBatch(matching)
            if not sub._offer(batch):
                sub.close(f"the client fell more than {self._queue_size} events behind")
                self._subscribers.discard(sub)

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            interval = self._listen_poll_interval if self._listening else self._poll_interval
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that comes as
            # the wake fires (stop() after a last notification), and the task never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await wake.wait()
            wake.clear()
            try:
                while True:
                    batch = await asyncio.to_thread(
                        read_events, self._engine, self._last_id, limit=self._batch_size
                    )
                    if not batch:
                        break
                    self._last_id = batch[-1].id
                    self._fan_out(batch)
                    if len(batch) < self._batch_size:
                        break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bus: reading the events table failed; retrying")
                await asyncio.sleep(_RETRY_AFTER_ERROR)

    async def _listen_loop(self, wake: asyncio.Event) -> None:
        """Keep a LISTEN connection up, reconnecting with backoff (1 s, doubling up to 30 s;
        back to 1 s once a connection got to listen)."""
        params = listen_params(self._engine.url)
        delay = _LISTEN_RETRY
        while True:
            if await self._listen_session(params, wake):
                delay = _LISTEN_RETRY
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LISTEN_RETRY_MAX)

    async def _listen_session(self, params: dict[str, Any], wake: asyncio.Event) -> bool:
        """One LISTEN connection, until it fails; ``True`` if it got to listen."""
        import psycopg  # noqa: PLC0415 - PostgreSQL only: an agent on SQLite never loads it
        from psycopg import sql  # noqa: PLC0415

        try:
            conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        except psycopg.Error as exc:
            log.warning(
                "event bus: cannot connect to LISTEN for events (%s); polling every %s s",
                exc,
                self._poll_interval,
            )
            return False
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
            self._listening = True
            log.info("event bus: listening on PostgreSQL channel %s", EVENTS_CHANNEL)
            wake.set()  # catch up: events committed before the LISTEN took effect
            await self._wake_on_notifications(conn, wake)
        except psycopg.Error as exc:
            log.warning("event bus: the LISTEN connection failed (%s); reconnecting", exc)
        except Exception:
            log.exception("event bus: listening for events failed; reconnecting")
        finally:
            listened, self._listening = self._listening, False
            wake.set()  # the tail polls at the fast interval until listening again
            with contextlib.suppress(psycopg.Error):
                await conn.close()
        return listened

    async def _wake_on_notifications(
        self, conn: psycopg.AsyncConnection[Any], wake: asyncio.Event
    ) -> None:
        """Wake the tail on each notification; return when the connection stops answering
        (raise :class:`psycopg.Error` when it fails)."""
        while True:
            woken = False
            async for _ in conn.notifies(timeout=_LISTEN_HEALTH_EVERY):
                woken = True
                wake.set()
            if woken:
                continue
            try:  # quiet for a while: make sure the connection still answers
                async with asyncio.timeout(_LISTEN_HEALTH_TIMEOUT):
                    await conn.execute("SELECT 1")
            except TimeoutError:
                log.warning("event bus: the LISTEN connection does not answer; reconnecting")
                return
