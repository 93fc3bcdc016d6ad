"""The websocket endpoint ``/api/v1/ws``: hello, subscribe with replay, ping, commands.

A session::

    client: hello {protocol, token}      agent: welcome | error + close (4001 / 4002)
    client: subscribe {scope, since}     agent: subscribed {replay_until}, then event(s) frames
    client: ping {nonce}                 agent: pong {nonce}
    client: command {id, name, args}     agent: result {id, ok, data | error}

No gap, no duplicate: on ``subscribe`` the live queue is registered with the bus
*before* the replay is read; the replay covers ``since < id <= replay_until``
and live events with an id already sent are skipped. A frame the agent cannot
read gets an ``error`` frame and the connection stays open. A client that falls
too far behind gets an ``error`` frame (code ``too_slow``) and is closed; it
reconnects and replays from the last id it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import pydantic
from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict
from starlette.websockets import WebSocketDisconnect, WebSocketState

from agent import phases, store
from agent.api.deps import AgentState
from agent.api.errors import error_status
from agent.api.health import agent_version
from agent.auth import authenticate_token
from agent.checks.commands import CHECK_COMMANDS
from agent.engine.bus import (
    Subscription,
    SubscriptionClosed,
    frame_text,
    max_event_id,
    read_events,
)
from shared.errors import AtrError
from shared.ids import ProjectKey, RelPath, Sha256, Version
from shared.lifecycle import Phase
from shared.protocol import (
    PROTOCOL_VERSION,
    ClientFrame,
    CommandFrame,
    ErrorBody,
    ErrorFrame,
    HelloFrame,
    PingFrame,
    PongFrame,
    ReleaseCreate,
    ResultFrame,
    RevisionCreate,
    Scope,
    SubscribedFrame,
    SubscribeFrame,
    TaskCreate,
    TransitionRequest,
    WelcomeFrame,
    parse_client_frame,
)

log = logging.getLogger(__name__)

router = APIRouter()

CLOSE_UNAUTHENTICATED = 4001
CLOSE_PROTOCOL_MISMATCH = 4002
CLOSE_TRY_AGAIN = 1013
HELLO_TIMEOUT = 30.0
REPLAY_PAGE = 1000


# --- command arguments --------------------------------------------------------------------------


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ProjectArgs(_Args):
    project: ProjectKey


class _ReleaseArgs(_ProjectArgs):
    version: Version


class _TransitionArgs(_ReleaseArgs):
    to: Phase
    reason: str = ""


class _RevisionArgs(_ReleaseArgs):
    base: int | None = None
    files: dict[RelPath, Sha256] = {}
    remove: list[RelPath] = []
    message: str = ""


class _NoArgs(_Args):
    pass


def _create_release(state: AgentState, who: store.Principal, args: dict[str, Any]) -> Any:
    a = _ReleaseArgs.model_validate(args)
    with state.write(who) as s:
        return s.as_committer(a.project).create_release(ReleaseCreate(version=a.version))


def _transition(state: AgentState, who: store.Principal, args: dict[str, Any]) -> Any:
    a = _TransitionArgs.model_validate(args)
    body = TransitionRequest(to=a.to, reason=a.reason)
    with state.write(who) as s:
        return phases.transition(s, a.project, a.version, body)


def _start_task(state: AgentState, who: store.Principal, args: dict[str, Any]) -> Any:
    body = TaskCreate.model_validate(args)
    with state.write(who) as s:
        return s.as_committer(body.project).start_task(body)


def _create_revision(state: AgentState, who: store.Principal, args: dict[str, Any]) -> Any:
    a = _RevisionArgs.model_validate(args)
    body = RevisionCreate(base=a.base, files=a.files, remove=a.remove, message=a.message)
    with state.write(who) as s:
        return phases.create_revision(s, a.project, a.version, body)


def _list_projects(state: AgentState, _who: store.Principal, args: dict[str, Any]) -> Any:
    _NoArgs.model_validate(args)
    with state.read() as session:
        return store.list_projects(session)


def _list_releases(state: AgentState, _who: store.Principal, args: dict[str, Any]) -> Any:
    a = _ProjectArgs.model_validate(args)
    with state.read() as session:
        return store.list_releases(session, a.project)


def _get_release(state: AgentState, _who: store.Principal, args: dict[str, Any]) -> Any:
    a = _ReleaseArgs.model_validate(args)
    with state.read() as session:
        return store.get_release(session, a.project, a.version)


Command = Callable[[AgentState, store.Principal, dict[str, Any]], Any]

COMMANDS: dict[str, Command] = {
    "create_release": _create_release,
    "transition": _transition,
    "start_task": _start_task,
    "create_revision": _create_revision,
    "list_projects": _list_projects,
    "list_releases": _list_releases,
    "get_release": _get_release,
    **CHECK_COMMANDS,
}
"""Command name → handler (blocking; run in the thread pool). Same store calls as REST."""


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _invalid(exc: pydantic.ValidationError, what: str) -> ErrorBody:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in err.get("loc", ()))
        problems.append(f"{where or what}: {err.get('msg', 'invalid')}")
    return ErrorBody(code="invalid", message=f"invalid {what}: " + "; ".join(problems))


def _parse(raw: str) -> ClientFrame | ErrorBody:
    """The client frame in ``raw``, or the error body that says what is wrong with it."""
    try:
        return parse_client_frame(raw)
    except pydantic.ValidationError as exc:
        return _invalid(exc, "frame")
    except AtrError as exc:  # a validated identifier in the frame (shared.ids)
        return ErrorBody(code="invalid", message=f"invalid frame: {exc.message}", hint=exc.hint)


# --- the connection -----------------------------------------------------------------------------


class _Closed(Exception):
    """The client went away."""


class Connection:
    """One websocket session (see the module docstring)."""

    def __init__(self, ws: WebSocket, state: AgentState) -> None:
        self.ws = ws
        self.state = state
        self.principal: store.Principal | None = None
        self._token = ""
        self._guard: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._sender: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    async def send(self, text: str) -> None:
        """Send one frame; raises :class:`_Closed` if the client is gone."""
        async with self._send_lock:
            try:
                await self.ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise _Closed from exc

    async def send_error(self, code: str, message: str, hint: str | None = None) -> None:
        frame = ErrorFrame(error=ErrorBody(code=code, message=message, hint=hint))
        await self.send(frame.model_dump_json())

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await self.ws.close(code=code, reason=reason[:120])

    async def receive(self) -> str:
        """The next text (or UTF-8 bytes) frame; raises :class:`_Closed` on disconnect."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise _Closed
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", "replace")
        return str(text)

    async def run(self) -> None:
        try:
            if await self._hello():
                self._guard = asyncio.create_task(self._revalidate_periodically())
                await self._loop()
        except (_Closed, WebSocketDisconnect):
            pass
        finally:
            if self._guard is not None:
                self._guard.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._guard
            await self._stop_sender()

    async def _revalidate(self) -> bool:
        """Check the token again; on failure tell the client why and close the connection."""
        try:
            self.principal = await run_in_threadpool(authenticate_token, self.state, self._token)
        except AtrError as exc:
            with contextlib.suppress(_Closed):
                await self.send_error("unauthenticated", exc.message, exc.hint)
            await self._stop_sender()
            await self.close(CLOSE_UNAUTHENTICATED, "credentials no longer valid")
            return False
        return True

    async def _revalidate_periodically(self) -> None:
        """A revoked or expired token ends the stream within ``ws_revalidate_seconds``."""
        while True:
            await asyncio.sleep(self.state.settings.ws_revalidate_seconds)
            if not await self._revalidate():
                return

    async def _hello(self) -> bool:
        try:
            raw = await asyncio.wait_for(self.receive(), HELLO_TIMEOUT)
        except TimeoutError:
            await self.send_error("unauthenticated", "no hello frame received in time")
            await self.close(CLOSE_UNAUTHENTICATED, "no hello")
            return False
        frame = _parse(raw)
        if isinstance(frame, ErrorBody):
            await self.send(ErrorFrame(error=frame).model_dump_json())
            await self.close(CLOSE_UNAUTHENTICATED, "the first frame must be hello")
            return False
        if not isinstance(frame, HelloFrame):
            await self.send_error(
                "unauthenticated", f"the first frame must be 'hello', not '{frame.kind}'"
            )
            await self.close(CLOSE_UNAUTHENTICATED, "the first frame must be hello")
            return False
        if frame.protocol != PROTOCOL_VERSION:
            await self.send_error(
                "protocol_mismatch",
                f"this agent speaks protocol {PROTOCOL_VERSION}, the client {frame.protocol}",
                hint="update the client or the agent so both speak the same protocol",
            )
            await self.close(CLOSE_PROTOCOL_MISMATCH, "protocol mismatch")
            return False
        try:
            principal = await run_in_threadpool(authenticate_token, self.state, frame.token)
            user = await run_in_threadpool(self._user, principal)
        except AtrError as exc:
            await self.send_error("unauthenticated", exc.message, exc.hint)
            await self.close(CLOSE_UNAUTHENTICATED, "unauthenticated")
            return False
        self.principal = principal
        self._token = frame.token
        welcome = WelcomeFrame(
            protocol=PROTOCOL_VERSION,
            agent_version=agent_version(),
            user=user,
            last_event_id=self.state.bus.last_id,
        )
        await self.send(welcome.model_dump_json())
        return True

    def _user(self, principal: store.Principal) -> Any:
        with self.state.read() as session:
            return store.get_user(session, principal.name)

    async def _loop(self) -> None:
        while True:
            frame = _parse(await self.receive())
            if isinstance(frame, ErrorBody):
                await self.send(ErrorFrame(error=frame).model_dump_json())
            elif isinstance(frame, SubscribeFrame):
                await self._subscribe(frame)
            elif isinstance(frame, PingFrame):
                await self.send(PongFrame(nonce=frame.nonce).model_dump_json())
            elif isinstance(frame, CommandFrame):
                result = await self._command(frame)
                await self.send(result.model_dump_json())
            else:
                await self.send_error("invalid", "hello was already received on this connection")

    async def _command(self, frame: CommandFrame) -> ResultFrame:
        handler = COMMANDS.get(frame.name)
        if handler is None:
            known = ", ".join(sorted(COMMANDS))
            error = ErrorBody(
                code="invalid", message=f"unknown command {frame.name!r}", hint=f"commands: {known}"
            )
            return ResultFrame(id=frame.id, ok=False, error=error)
        # Every command is authorized afresh: a revoked token or a changed role counts at once.
        if not await self._revalidate() or self.principal is None:
            raise _Closed
        try:
            data = await run_in_threadpool(handler, self.state, self.principal, dict(frame.args))
        except pydantic.ValidationError as exc:
            return ResultFrame(id=frame.id, ok=False, error=_invalid(exc, f"{frame.name} args"))
        except AtrError as exc:
            return ResultFrame(id=frame.id, ok=False, error=error_status(exc)[1])
        return ResultFrame(id=frame.id, ok=True, data=_dump(data))

    # --- the event stream ----------------------------------------------------------------------

    async def _stop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, _Closed):
                await sender
        if self._subscription is not None:
            self.state.bus.unsubscribe(self._subscription)
            self._subscription = None

    async def _subscribe(self, frame: SubscribeFrame) -> None:
        scope = frame.scope
        limit = self.principal.token_project if self.principal is not None else None
        if limit is not None:  # a token limited to one project streams that project only
            if scope.project not in (None, limit):
                await self.send_error(
                    "forbidden",
                    f"this token is limited to project '{limit}'; it cannot subscribe to "
                    f"project '{scope.project}'",
                    "use a token for that project or an unscoped token",
                )
                return
            scope = Scope(project=limit, version=scope.version)
        await self._stop_sender()
        # Register the live queue first: every event committed from now on reaches it.
        sub = self.state.bus.subscribe(scope)
        self._subscription = sub
        self._sender = asyncio.create_task(self._stream(sub, scope, frame.since))

    async def _stream(self, sub: Subscription, scope: Scope, since: int | None) -> None:
        try:
            await self._replay_then_live(sub, scope, since)
        except SubscriptionClosed as exc:
            with contextlib.suppress(_Closed):
                await self.send_error(
                    "too_slow", exc.message, hint="reconnect and subscribe with the last id seen"
                )
            await self.close(CLOSE_TRY_AGAIN, "event stream closed")
        except _Closed:
            pass
        except Exception:
            log.exception("websocket event stream failed")
            await self.close(1011, "internal error")

    async def _replay_then_live(self, sub: Subscription, scope: Scope, since: int | None) -> None:
        engine = self.state.read_engine
        replay_until = await asyncio.to_thread(max_event_id, engine)
        await self.send(SubscribedFrame(scope=scope, replay_until=replay_until).model_dump_json())
        last_sent = replay_until
        if since is not None:
            cursor = since
            while cursor < replay_until:
                page = await asyncio.to_thread(
                    read_events, engine, cursor, limit=REPLAY_PAGE, scope=scope, upto=replay_until
                )
                if not page:
                    break
                await self.send(frame_text(page))
                cursor = page[-1].id
        while True:
            batches = await sub.get()
            if len(batches) == 1 and batches[0].events[0].id > last_sent:
                await self.send(batches[0].frame)
                last_sent = batches[0].events[-1].id
                continue
            events = [e for b in batches for e in b.events if e.id > last_sent]
            if events:
                await self.send(frame_text(events))
                last_sent = events[-1].id


@router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    """The agent's event stream and command channel (see the module docstring)."""
    state: AgentState = ws.app.state.agent
    await ws.accept()
    await Connection(ws, state).run()
