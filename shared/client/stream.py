"""``EventStream``: the agent's event log, live, over the websocket, with automatic resume.

A stream connects to ``/api/v1/ws``, says ``hello`` and expects ``welcome``,
subscribes to its scope (entering the stream returns once the agent has
confirmed the subscription, so every later event reaches it) and yields
:class:`~shared.protocol.Event` objects. It remembers the id of the last event
it received; when the connection drops it reconnects with exponential backoff
(0.2 s doubling to 5 s) and subscribes again from that id, and it drops any
event whose id it has already passed, so the consumer sees every event of the
scope exactly once, in order.

A background reader task owns the socket: events go to a queue that the
``async for`` drains, and ``result`` frames complete the futures of
:meth:`EventStream.command`. Authentication and protocol errors end the stream
(they do not heal by retrying); transport errors after the first connection
only make it reconnect.

The queue holds at most ``max_pending`` events (:data:`MAX_PENDING` by default),
so a slow consumer (a busy GUI, a slow terminal) cannot grow the client's memory.
When it is full the reader *waits* for the consumer (backpressure): it stops
reading the socket, websockets stops reading TCP once its own buffer holds 16
frames, and the agent's sender waits in turn. Nothing is dropped on this side.
If the consumer stays behind long enough that the agent gives up on the
connection (its own per-subscriber bound, ``too_slow``) or the keepalive times
out, that is an ordinary dropped connection: the events already queued stay
queued and are delivered, and the stream reconnects with ``since`` = the id of
the last event it queued, so every event still arrives exactly once, in order.
A ``result`` frame is read in its turn behind the events sent before it, so a
command's answer waits for a lagging consumer: issue commands from another task
than the one consuming the events.

Closing reads on while the socket closes: frames that are still unread (the reader
was waiting for the consumer, or was cancelled with a burst in websockets' buffer)
keep websockets from reading TCP, and the agent's answer to our close frame would
sit behind them until websockets' close timeout (10 s). :func:`close_socket` drops
them as they come, so the closing handshake ends as soon as the agent answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final

import pydantic
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from shared.client import _errors
from shared.errors import (
    ApiError,
    ClientError,
    ConnectionFailed,
    ProtocolMismatch,
    ValidationError,
)
from shared.protocol import (
    PROTOCOL_VERSION,
    CommandFrame,
    ErrorBody,
    ErrorFrame,
    Event,
    EventFrame,
    EventsFrame,
    HelloFrame,
    ResultFrame,
    Scope,
    ServerFrame,
    SubscribedFrame,
    SubscribeFrame,
    WelcomeFrame,
    parse_server_frame,
)

log = logging.getLogger(__name__)

BACKOFF_INITIAL: Final = 0.2
"""Seconds before the first reconnection attempt."""
BACKOFF_MAX: Final = 5.0
"""The longest wait between reconnection attempts."""
MAX_PENDING: Final = 4096
"""Default bound of the events received and not yet taken by the consumer."""
MAX_FRAME: Final = 16 * 1024 * 1024

CLOSE_UNAUTHENTICATED: Final = 4001
CLOSE_PROTOCOL_MISMATCH: Final = 4002

CONNECTING: Final = "connecting"
CONNECTED: Final = "connected"
RECONNECTING: Final = "reconnecting"
CLOSED: Final = "closed"

_END: Final = object()


class _Fatal(Exception):
    """Wraps an error that ends the stream instead of causing a reconnection."""

    def __init__(self, error: ClientError) -> None:
        super().__init__(str(error))
        self.error = error


def _fatal_for(body: ErrorBody | None, close_code: int | None) -> ClientError | None:
    """The error that ends the stream for an ``error`` frame and/or close code, if any."""
    code = body.code if body is not None else ""
    message = body.message if body is not None else ""
    hint = body.hint if body is not None else None
    if close_code == CLOSE_PROTOCOL_MISMATCH or "protocol" in code:
        return ProtocolMismatch(
            message or f"the agent does not speak protocol {PROTOCOL_VERSION}",
            hint=hint or "install a client of the same version as the agent",
        )
    if close_code == CLOSE_UNAUTHENTICATED or code == "unauthenticated":
        return ApiError(
            401,
            "unauthenticated",
            message or "the agent refused the token",
            hint=hint or "log in again or use another token",
        )
    if code == "forbidden":
        return ApiError(403, code, message, hint=hint)
    return None


class EventStream:
    """Events of one scope from the agent, as an async context manager and async iterator.

    Get one from :meth:`shared.client.AgentClient.stream`::

        async with client.stream(Scope(project="foo"), since=0) as events:
            async for event in events:
                ...

    ``on_state`` is called with ``"connecting"``, ``"connected"``, ``"reconnecting"``
    and ``"closed"``. Leaving the ``async with`` (or :meth:`close`) ends the iteration.
    At most ``max_pending`` events wait for the consumer; beyond that the reader
    waits for it (see the module docstring).
    """

    def __init__(
        self,
        url: str,
        *,
        token: Callable[[], str | None],
        scope: Scope = Scope(),  # noqa: B008 - Scope is frozen
        since: int | None = None,
        on_state: Callable[[str], None] | None = None,
        timeout: float = 30.0,
        client_name: str = "atr-client",
        agent_url: str | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ValidationError(
                f"max_pending must be a positive number of events, got {max_pending!r}"
            )
        self.url = url
        self.agent_url = agent_url or url
        """The agent's URL as the user gave it, for messages."""
        self.scope = scope
        self.timeout = timeout
        self.welcome: WelcomeFrame | None = None
        """The agent's ``welcome`` of the current (or last) connection."""
        self.state = "idle"
        self._token = token
        self._on_state = on_state
        self._client_name = client_name
        self._cursor: int | None = since
        self._last_event_id: int | None = None
        self.max_pending = max_pending
        """The most events that wait for the consumer; the reader waits beyond it."""
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_pending)
        self._high_water = 0
        self._ended = False
        self._end_queued = False
        self._pending: dict[str, asyncio.Future[ResultFrame]] = {}
        self._connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._error: ClientError | None = None
        self._closed = False

    # --- public surface ---------------------------------------------------------------------

    @property
    def last_event_id(self) -> int | None:
        """The id of the last event handed to the consumer (``None`` before the first)."""
        return self._last_event_id

    @property
    def pending(self) -> int:
        """Events received and not yet taken by the consumer (at most :attr:`max_pending`)."""
        return self._queue.qsize() - int(self._end_queued)

    @property
    def pending_high_water(self) -> int:
        """The most events that were ever waiting for the consumer at once."""
        return self._high_water

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._connected.is_set()

    async def __aenter__(self) -> EventStream:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._runner is None and not self._closed:
            await self.start()
        if self._ended and self._queue.empty():
            raise self._ending()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later (or concurrent) call ends too
            raise self._ending()
        if self._ended and self._queue.empty():
            self._queue.put_nowait(_END)  # the last event is out: wake any other waiter
            self._end_queued = True
        event: Event = item
        self._last_event_id = event.id
        return event

    async def start(self) -> None:
        """Connect and subscribe, returning once the agent confirmed the subscription.

        Raises the :class:`ClientError` if the first connection fails.
        """
        if self._runner is not None:
            return
        if self._closed:
            raise ClientError("this event stream is closed")
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(first), name=f"atr-stream {self.url}")
        try:
            await first
        except BaseException:
            await self.close()
            raise

    async def command(self, name: str, args: Mapping[str, Any] | None = None) -> Any:
        """Send a ``command`` frame and return the ``data`` of its ``result``.

        An error result raises :class:`ApiError`; a connection lost before the
        answer raises :class:`ConnectionFailed` (the command may or may not have run).
        """
        if self._closed:
            raise ClientError("this event stream is closed")
        if self._runner is None:
            await self.start()
        try:
            await asyncio.wait_for(self._connected.wait(), self.timeout)
        except TimeoutError as exc:
            raise ConnectionFailed(
                f"not connected to the agent at {self.url}", hint="the stream is reconnecting"
            ) from exc
        ws = self._ws
        if ws is None:
            raise ConnectionFailed(f"not connected to the agent at {self.url}")
        frame = CommandFrame(id=uuid.uuid4().hex, name=name, args=dict(args or {}))
        future: asyncio.Future[ResultFrame] = asyncio.get_running_loop().create_future()
        self._pending[frame.id] = future
        try:
            await ws.send(frame.model_dump_json())
            result = await asyncio.wait_for(future, self.timeout)
        except ConnectionClosed as exc:
            raise self._lost(name) from exc
        except TimeoutError as exc:
            raise ClientError(
                f"the agent did not answer the command {name!r} within {self.timeout:g} s"
            ) from exc
        finally:
            self._pending.pop(frame.id, None)
        if not result.ok:
            body = result.error or ErrorBody(code="invalid", message=f"command {name!r} failed")
            raise _errors.api_error_from_code(body)
        return result.data

    async def close(self) -> None:
        """End the stream: close the socket, stop reconnecting, end the iteration."""
        if self._closed:
            return
        self._closed = True
        runner = self._runner
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        await self._drop_socket()
        self._end()

    # --- the reader task --------------------------------------------------------------------

    async def _run(self, first: asyncio.Future[None]) -> None:
        delay = BACKOFF_INITIAL
        try:
            while not self._closed:
                try:
                    ws = await self._connect(first_time=not first.done())
                except _Fatal as fatal:
                    self._fail(fatal.error, first)
                    return
                except (OSError, TimeoutError, WebSocketException, ClientError) as exc:
                    if not first.done():
                        err = (
                            exc
                            if isinstance(exc, ClientError)
                            else _errors.connection_failed(self.agent_url, exc)
                        )
                        self._fail(err, first)
                        return
                    log.info("reconnect to %s failed: %s; next try in %.1f s", self.url, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                delay = BACKOFF_INITIAL
                if not first.done():
                    first.set_result(None)
                try:
                    await self._read(ws)
                except _Fatal as fatal:
                    self._fail(fatal.error, first)
                    return
                finally:
                    await self._drop_socket()
                if self._closed:
                    return
                self._set_state(RECONNECTING)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        finally:
            if self._closed or self._error is not None:
                self._end()

    async def _connect(self, *, first_time: bool) -> ClientConnection:
        token = self._token()
        if not token:
            raise _Fatal(
                ApiError(
                    401,
                    "unauthenticated",
                    "the event stream needs a token",
                    hint="log in first, or give a token (--token / ATR_TOKEN)",
                )
            )
        if first_time:
            self._set_state(CONNECTING)
        ws = await connect(self.url, open_timeout=self.timeout, max_size=MAX_FRAME)
        try:
            hello = HelloFrame(protocol=PROTOCOL_VERSION, token=token, client=self._client_name)
            await ws.send(hello.model_dump_json())
            try:
                frame = await asyncio.wait_for(self._recv(ws), self.timeout)
            except ConnectionClosed as exc:
                fatal = _fatal_for(None, exc.rcvd.code if exc.rcvd else None)
                if fatal is not None:
                    raise _Fatal(fatal) from exc
                raise
            if isinstance(frame, ErrorFrame):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.wait_closed(), 2.0)
                err = _fatal_for(frame.error, ws.close_code) or _errors.api_error_from_code(
                    frame.error
                )
                raise _Fatal(err)
            if not isinstance(frame, WelcomeFrame):
                raise _Fatal(ClientError(f"the agent answered hello with a {frame.kind!r} frame"))
            if frame.protocol != PROTOCOL_VERSION:
                raise _Fatal(
                    ProtocolMismatch(
                        f"the agent speaks protocol {frame.protocol}, "
                        f"this client {PROTOCOL_VERSION}"
                    )
                )
            self.welcome = frame
            subscribe = SubscribeFrame(scope=self.scope, since=self._cursor)
            await ws.send(subscribe.model_dump_json())
            await asyncio.wait_for(self._until_subscribed(ws), self.timeout)
        except BaseException:
            await close_socket(ws)
            raise
        self._ws = ws
        self._connected.set()
        self._set_state(CONNECTED)
        return ws

    async def _until_subscribed(self, ws: ClientConnection) -> None:
        """Handle frames until the agent confirms the subscription.

        So once :meth:`start` returns, every event committed afterwards reaches
        this stream (with ``since=None`` the agent streams events after its
        ``replay_until``; anything earlier would be lost to a caller that acted
        before the confirmation).
        """
        while True:
            frame = await self._recv(ws)
            if isinstance(frame, SubscribedFrame):
                await self._handle(frame)
                return
            if isinstance(frame, ErrorFrame):
                raise _Fatal(
                    _fatal_for(frame.error, None) or _errors.api_error_from_code(frame.error)
                )
            await self._handle(frame)

    async def _recv(self, ws: ClientConnection) -> ServerFrame:
        raw = await ws.recv()
        try:
            return parse_server_frame(raw)
        except pydantic.ValidationError as exc:
            raise _Fatal(_errors.unreadable_answer("a websocket frame", exc)) from exc

    async def _read(self, ws: ClientConnection) -> None:
        """Handle frames until the connection ends (returns) or a fatal error (raises)."""
        while True:
            try:
                frame = await self._recv(ws)
            except ConnectionClosed as exc:
                fatal = _fatal_for(None, exc.rcvd.code if exc.rcvd else None)
                if fatal is not None:
                    raise _Fatal(fatal) from exc
                log.info("event stream %s dropped: %s", self.url, exc)
                return
            await self._handle(frame)

    async def _handle(self, frame: ServerFrame) -> None:
        """Act on one frame after the handshake; raises :class:`_Fatal` to end the stream."""
        if isinstance(frame, EventFrame):
            await self._accept(frame.event)
        elif isinstance(frame, EventsFrame):
            for event in frame.events:
                await self._accept(event)
        elif isinstance(frame, SubscribedFrame):
            if self._cursor is None:
                self._cursor = frame.replay_until
        elif isinstance(frame, ResultFrame):
            future = self._pending.get(frame.id)
            if future is not None and not future.done():
                future.set_result(frame)
        elif isinstance(frame, ErrorFrame):
            fatal = _fatal_for(frame.error, None)
            if fatal is not None:
                raise _Fatal(fatal)
            log.warning("agent error on %s: %s", self.url, frame.error.message)
        # pong and a stray welcome need nothing

    async def _accept(self, event: Event) -> None:
        """Queue ``event`` for the consumer, waiting while :attr:`max_pending` are queued."""
        if self._ended or (self._cursor is not None and event.id <= self._cursor):
            return  # the iteration is over, or already seen (replay overlap after a reconnection)
        await self._queue.put(event)
        self._cursor = event.id
        self._high_water = max(self._high_water, self._queue.qsize())

    # --- helpers ----------------------------------------------------------------------------

    def _lost(self, name: str) -> ConnectionFailed:
        return ConnectionFailed(
            f"the connection to {self.url} was lost before the agent answered {name!r}",
            hint="the command may or may not have run; check before retrying",
        )

    async def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        self._connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed(None, None))
        if ws is not None:
            with contextlib.suppress(Exception):
                await close_socket(ws)

    def _fail(self, error: ClientError, first: asyncio.Future[None]) -> None:
        self._error = error
        if not first.done():
            first.set_exception(error)
        self._closed = True

    def _end(self) -> None:
        """End the iteration once the consumer has taken the events already queued."""
        if self._ended:
            return
        self._ended = True
        if self._queue.empty():  # wake a consumer waiting in get(); else once drained
            self._queue.put_nowait(_END)
            self._end_queued = True
        self._set_state(CLOSED)

    def _ending(self) -> BaseException:
        """What the iteration raises once it is over: the error that ended it, or the end."""
        return self._error if self._error is not None else StopAsyncIteration()

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("on_state callback failed")


async def close_socket(ws: ClientConnection) -> None:
    """Close ``ws``, reading and dropping the frames that still arrive until it is closed.

    Nothing else reads ``ws`` any more (its reader ended or was cancelled). Without
    the draining, unread frames above websockets' high-water mark pause reading, the
    agent's close frame is never read, and ``close()`` waits for its full timeout.
    """

    async def discard() -> None:
        with contextlib.suppress(Exception):  # ConnectionClosed at the end
            while True:
                await ws.recv()

    drain = asyncio.create_task(discard(), name="atr-stream drain")
    try:
        await ws.close()
    finally:
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
