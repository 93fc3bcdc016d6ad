"""EventStream against a scripted websocket server on loopback.

Handshake errors, resume without gaps or duplicates, batch frames, commands.
tests/integration/test_client_stream.py runs the same client against the real agent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from websockets.asyncio.server import ServerConnection, serve

from shared.client import AgentClient, EventStream
from shared.errors import ApiError, ConnectionFailed, ProtocolMismatch, ValidationError
from shared.protocol import (
    PROTOCOL_VERSION,
    ErrorBody,
    ErrorFrame,
    Event,
    EventFrame,
    EventKind,
    EventsFrame,
    ResultFrame,
    Scope,
    SubscribedFrame,
    User,
    WelcomeFrame,
    parse_client_frame,
)

NOW = datetime(2026, 1, 2, tzinfo=UTC)

Script = Callable[[ServerConnection, int], Awaitable[None]]


def event(i: int) -> Event:
    return Event(
        id=i,
        at=NOW,
        kind=EventKind.TASK_LOG,
        project="foo",
        version="1.0.0",
        task_id=1,
        data={"message": f"line {i}"},
    )


async def handshake(ws: ServerConnection, *, last: int = 0, replay_until: int | None = None):
    """Answer hello with welcome, read the subscribe and confirm it; returns the subscribe."""
    hello = parse_client_frame(await ws.recv())
    assert hello.kind == "hello"
    assert hello.token == "tok"
    assert hello.protocol == PROTOCOL_VERSION
    welcome = WelcomeFrame(
        protocol=PROTOCOL_VERSION,
        agent_version="test",
        user=User(name="alice", email="a@example.org"),
        last_event_id=last,
    )
    await ws.send(welcome.model_dump_json())
    subscribe = parse_client_frame(await ws.recv())
    assert subscribe.kind == "subscribe"
    until = last if replay_until is None else replay_until
    await ws.send(SubscribedFrame(scope=subscribe.scope, replay_until=until).model_dump_json())
    return subscribe


@asynccontextmanager
async def scripted(script: Script):
    """A websocket server running ``script(ws, n)`` for its n-th connection (0-based)."""
    count = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal count
        n = count
        count += 1
        await script(ws, n)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with AgentClient(f"http://127.0.0.1:{port}", token="tok", timeout=5) as client:
            yield client


async def take(stream, n: int) -> list[Event]:
    got = []
    async for ev in stream:
        got.append(ev)
        if len(got) == n:
            break
    return got


async def test_resume_after_a_drop_sees_every_event_once():
    subscriptions: list[tuple[Scope, int | None]] = []

    async def script(ws: ServerConnection, n: int) -> None:
        sub = await handshake(ws, last=3, replay_until=3 if n == 0 else 4)
        subscriptions.append((sub.scope, sub.since))
        if n == 0:
            for i in (1, 2, 3):
                await ws.send(EventFrame(event=event(i)).model_dump_json())
            await ws.close(1011, "going away abruptly")
            return
        # An overlapping replay (2, 3 again) in one batch frame, then a live event.
        await ws.send(EventsFrame(events=[event(2), event(3), event(4)]).model_dump_json())
        await ws.send(EventFrame(event=event(5)).model_dump_json())
        await ws.wait_closed()

    states: list[str] = []
    async with scripted(script) as client:
        stream = client.stream(Scope(project="foo"), since=0, on_state=states.append)
        async with stream:
            got = await take(stream, 5)
            assert stream.last_event_id == 5
    assert [e.id for e in got] == [1, 2, 3, 4, 5]
    assert subscriptions == [(Scope(project="foo"), 0), (Scope(project="foo"), 3)]
    assert states == ["connecting", "connected", "reconnecting", "connected", "closed"]


async def test_only_new_events_resume_from_the_subscription_point():
    sinces: list[int | None] = []

    async def script(ws: ServerConnection, n: int) -> None:
        sub = await handshake(ws, last=10)
        sinces.append(sub.since)
        if n == 0:
            await ws.close(1001)
            return
        await ws.send(EventFrame(event=event(11)).model_dump_json())
        await ws.wait_closed()

    async with scripted(script) as client, client.stream() as stream:
        got = await take(stream, 1)
    assert sinces == [None, 10]
    assert [e.id for e in got] == [11]


@pytest.mark.parametrize(
    ("code", "close", "error"),
    [
        ("unauthenticated", 4001, ApiError),
        ("protocol_mismatch", 4002, ProtocolMismatch),
    ],
)
async def test_refused_hello_raises_the_right_error(code, close, error):
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        body = ErrorBody(code=code, message=f"refused: {code}")
        await ws.send(ErrorFrame(error=body).model_dump_json())
        await ws.close(close)

    states: list[str] = []
    async with scripted(script) as client:
        with pytest.raises(error) as caught:
            async with client.stream(on_state=states.append):
                pass
    if error is ApiError:
        assert caught.value.status == 401
    assert states == ["connecting", "closed"]


async def test_token_refused_after_reconnect_ends_the_iteration_with_the_error():
    async def script(ws: ServerConnection, n: int) -> None:
        if n == 0:
            await handshake(ws)
            await ws.send(EventFrame(event=event(1)).model_dump_json())
            await ws.close(1012)
            return
        await ws.recv()
        await ws.close(4001)

    async with scripted(script) as client, client.stream(since=0) as stream:
        got = []
        with pytest.raises(ApiError) as caught:
            async for ev in stream:
                got.append(ev.id)
    assert got == [1]
    assert caught.value.status == 401


async def test_unreachable_agent_fails_the_first_connection():
    client = AgentClient("http://127.0.0.1:9", token="tok", timeout=5)
    async with client:
        with pytest.raises(ConnectionFailed, match=r"127\.0\.0\.1:9"):
            async with client.stream():
                pass


async def test_stream_without_token_is_refused_before_connecting():
    async with AgentClient("http://127.0.0.1:9") as client:
        with pytest.raises(ApiError) as caught:
            async with client.stream():
                pass
    assert caught.value.status == 401


async def test_commands_get_their_results():
    async def script(ws: ServerConnection, n: int) -> None:
        await handshake(ws)
        async for raw in ws:
            frame = json.loads(raw)
            if frame["name"] == "transition":
                body = ErrorBody(code="invalid_transition", message="no")
                result = ResultFrame(id=frame["id"], ok=False, error=body)
            else:
                result = ResultFrame(id=frame["id"], ok=True, data={"echo": frame["args"]})
            # An event between command and answer must not confuse either side.
            await ws.send(EventFrame(event=event(7)).model_dump_json())
            await ws.send(result.model_dump_json())

    async with scripted(script) as client, client.stream(since=0) as stream:
        data = await stream.command("start_task", {"type": "inventory"})
        with pytest.raises(ApiError) as caught:
            await stream.command("transition", {"to": "vote"})
        first = await asyncio.wait_for(stream.__anext__(), 5)
    assert data == {"echo": {"type": "inventory"}}
    assert (caught.value.status, caught.value.code) == (409, "invalid_transition")
    assert first.id == 7


async def test_close_ends_the_iteration():
    async def script(ws: ServerConnection, n: int) -> None:
        await handshake(ws)
        await ws.wait_closed()

    async with scripted(script) as client:
        stream = client.stream()
        await stream.start()

        async def consume() -> list[Event]:
            return [ev async for ev in stream]

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await stream.close()
        assert await asyncio.wait_for(consumer, 5) == []
        assert stream.state == "closed"


async def test_start_returns_once_the_subscription_is_confirmed():
    confirmed = asyncio.Event()

    async def script(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        welcome = WelcomeFrame(
            protocol=PROTOCOL_VERSION,
            agent_version="test",
            user=User(name="alice", email="a@example.org"),
            last_event_id=0,
        )
        await ws.send(welcome.model_dump_json())
        subscribe = parse_client_frame(await ws.recv())
        await asyncio.sleep(0.3)  # the agent takes its time to register the subscription
        confirmed.set()
        await ws.send(SubscribedFrame(scope=subscribe.scope, replay_until=0).model_dump_json())
        await ws.wait_closed()

    async with scripted(script) as client, client.stream() as stream:
        assert confirmed.is_set()
        assert stream.state == "connected"


async def wait_for_pending(stream, n: int) -> None:
    async def poll() -> None:
        while stream.pending != n:  # noqa: ASYNC110 - the stream has no event to say "queue full"
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), 5)


async def test_a_full_queue_makes_the_reader_wait_and_a_too_slow_close_resumes_after_it():
    """The agent gives up on a client that lags (``too_slow``, close 1013): the events the
    client already holds are delivered and it resumes after the last one it queued."""
    sinces: list[int | None] = []

    async def script(ws: ServerConnection, n: int) -> None:
        sub = await handshake(ws, last=0)
        sinces.append(sub.since)
        if n == 0:
            for i in range(1, 21):
                await ws.send(EventFrame(event=event(i)).model_dump_json())
            body = ErrorBody(code="too_slow", message="the client fell more than 20 events behind")
            await ws.send(ErrorFrame(error=body).model_dump_json())
            await ws.close(1013, "event stream closed")
            return
        start = (sub.since or 0) + 1
        await ws.send(EventsFrame(events=[event(i) for i in range(start, 31)]).model_dump_json())
        await ws.wait_closed()

    states: list[str] = []
    async with scripted(script) as client:
        stream = client.stream(since=0, on_state=states.append, max_pending=4)
        async with stream:
            await wait_for_pending(stream, 4)  # the reader now waits for the consumer
            got = await take(stream, 30)
            assert stream.pending_high_water == 4
    assert [e.id for e in got] == list(range(1, 31))
    assert sinces == [0, 20]  # every event it had read was kept, none fetched twice
    assert states == ["connecting", "connected", "reconnecting", "connected", "closed"]


async def test_close_ends_the_iteration_after_the_events_already_queued():
    async def script(ws: ServerConnection, n: int) -> None:
        await handshake(ws)
        for i in range(1, 11):
            await ws.send(EventFrame(event=event(i)).model_dump_json())
        await ws.wait_closed()

    async with scripted(script) as client:
        stream = client.stream(since=0, max_pending=3)
        async with stream:
            await wait_for_pending(stream, 3)
        assert stream.state == "closed"
        got = [e.id async for e in stream]  # what was queued before the close, then the end
        assert got == [1, 2, 3]
        assert [e async for e in stream] == []


async def test_a_consumer_cancelled_behind_a_burst_ends_without_the_close_timeout():
    """The desktop's case: the consumer (a busy GUI) is behind, so more frames than
    websockets buffers (16) wait unread and websockets has stopped reading TCP; then the
    consumer is cancelled (the application quits). Leaving the stream closes the socket,
    and the agent's answer to the close frame sits behind the unread frames: the close
    must read past them, not wait for websockets' 10 s close timeout."""
    closed = asyncio.Event()

    async def script(ws: ServerConnection, n: int) -> None:
        await handshake(ws)
        for i in range(1, 201):
            await ws.send(EventFrame(event=event(i)).model_dump_json())
        await ws.wait_closed()
        closed.set()

    async def consume(stream: EventStream, seen: list[int]) -> None:
        async with stream:
            async for ev in stream:
                seen.append(ev.id)
                await asyncio.sleep(0.05)  # a slow consumer

    async with scripted(script) as client:
        stream = client.stream(since=0, max_pending=1)
        seen: list[int] = []
        consumer = asyncio.create_task(consume(stream, seen))
        await wait_for_pending(stream, 1)
        await asyncio.sleep(0.3)  # the burst has arrived; most of it is unread
        assert len(seen) < 50
        started = asyncio.get_running_loop().time()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        took = asyncio.get_running_loop().time() - started
        assert took < 3.0, f"closing took {took:.1f} s"
        await asyncio.wait_for(closed.wait(), 3.0)  # a proper close: the agent saw it
        assert stream.state == "closed"


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_max_pending_must_be_a_positive_count(bad):
    with pytest.raises(ValidationError, match="max_pending"):
        EventStream("ws://127.0.0.1:9/api/v1/ws", token=lambda: "tok", max_pending=bad)
