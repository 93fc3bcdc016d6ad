"""The wire contract is snapshotted: a change to it must be deliberate.

After an intended change, regenerate with
``ATR_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_protocol_schema.py``
and bump ``PROTOCOL_VERSION`` if old clients can no longer talk to the agent.
"""

import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

import shared.protocol as protocol

SNAPSHOT = Path(__file__).with_name("protocol_schema.json")


def current_schema() -> dict:
    models = {
        name: getattr(protocol, name).model_json_schema()
        for name in sorted(protocol.__all__)
        if isinstance(getattr(protocol, name), type)
        and issubclass(getattr(protocol, name), BaseModel)
    }
    return {
        "protocol_version": protocol.PROTOCOL_VERSION,
        "models": models,
        "client_frame": TypeAdapter(protocol.ClientFrame).json_schema(),
        "server_frame": TypeAdapter(protocol.ServerFrame).json_schema(),
    }


def test_schema_matches_snapshot():
    schema = json.loads(json.dumps(current_schema(), sort_keys=True))
    if os.environ.get("ATR_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    assert schema == json.loads(SNAPSHOT.read_text()), (
        "the protocol changed; if deliberate, regenerate the snapshot (see module docstring)"
    )


def test_models_are_frozen_and_strict():
    for name in protocol.__all__:
        obj = getattr(protocol, name)
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            assert obj.model_config.get("frozen") is True, name
            assert obj.model_config.get("extra") == "forbid", name


def test_frames_round_trip():
    frame = protocol.SubscribeFrame(scope=protocol.Scope(project="demo"), since=5)
    assert protocol.parse_client_frame(frame.model_dump_json()) == frame


def test_unknown_kind_is_refused():
    with pytest.raises(PydanticValidationError):
        protocol.parse_client_frame('{"kind": "reboot"}')


def test_unknown_field_is_refused():
    with pytest.raises(PydanticValidationError):
        protocol.parse_client_frame('{"kind": "ping", "nonce": "1", "extra": 1}')


def test_scope_matching():
    event = protocol.Event(
        id=1, at="2026-01-01T00:00:00Z", kind="task.log", project="a", version="1"
    )
    assert protocol.Scope().matches(event)
    assert protocol.Scope(project="a").matches(event)
    assert not protocol.Scope(project="b").matches(event)
    assert not protocol.Scope(project="a", version="2").matches(event)
