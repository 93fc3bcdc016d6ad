"""Websocket frames: JSON objects with a ``kind``, one discriminated union each way.

A session goes: client ``hello`` → agent ``welcome`` (or ``error`` and close);
then any number of ``subscribe`` (replaces the scope; replays events after
``since`` with no gap and no duplicate, then streams live ones), ``ping`` and
``command`` frames. A ``command`` runs the same service code as the REST API
and is answered by a ``result`` with the same ``id``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from shared.ids import MAX_ID, EventId
from shared.protocol.models import ErrorBody, Event, Model, Scope, User

# --- client → agent ---------------------------------------------------------------------------


class HelloFrame(Model):
    kind: Literal["hello"] = "hello"
    protocol: int = Field(ge=0, le=MAX_ID)
    token: str
    client: str = ""


class SubscribeFrame(Model):
    kind: Literal["subscribe"] = "subscribe"
    scope: Scope = Scope()
    since: EventId | None = Field(
        default=None, description="replay events with a larger id; None: only new events"
    )


class PingFrame(Model):
    kind: Literal["ping"] = "ping"
    nonce: str = ""


class CommandFrame(Model):
    kind: Literal["command"] = "command"
    id: str
    name: str = Field(description="e.g. 'create_release', 'transition', 'start_task'")
    args: dict[str, Any] = {}


ClientFrame = Annotated[
    HelloFrame | SubscribeFrame | PingFrame | CommandFrame, Field(discriminator="kind")
]

# --- agent → client ---------------------------------------------------------------------------


class WelcomeFrame(Model):
    kind: Literal["welcome"] = "welcome"
    protocol: int
    agent_version: str
    user: User
    last_event_id: int


class SubscribedFrame(Model):
    kind: Literal["subscribed"] = "subscribed"
    scope: Scope
    replay_until: int = Field(description="events up to this id are replayed before live ones")


class EventFrame(Model):
    kind: Literal["event"] = "event"
    event: Event


class EventsFrame(Model):
    """Several events in id order, sent when more than one is ready at once: one frame
    instead of many keeps the stream cheap at thousands of events per second."""

    kind: Literal["events"] = "events"
    events: list[Event]


class PongFrame(Model):
    kind: Literal["pong"] = "pong"
    nonce: str = ""


class ResultFrame(Model):
    kind: Literal["result"] = "result"
    id: str
    ok: bool
    data: Any = None
    error: ErrorBody | None = None


class ErrorFrame(Model):
    kind: Literal["error"] = "error"
    error: ErrorBody


ServerFrame = Annotated[
    WelcomeFrame
    | SubscribedFrame
    | EventFrame
    | EventsFrame
    | PongFrame
    | ResultFrame
    | ErrorFrame,
    Field(discriminator="kind"),
]

_client_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_server_adapter: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Parse one client frame; raises ``pydantic.ValidationError`` on a bad frame."""
    return _client_adapter.validate_json(raw)


def parse_server_frame(raw: str | bytes) -> ServerFrame:
    """Parse one server frame; raises ``pydantic.ValidationError`` on a bad frame."""
    return _server_adapter.validate_json(raw)
