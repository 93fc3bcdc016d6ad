"""AgentClient over httpx.MockTransport: error mapping, validation, streaming uploads, revisions."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.challenge import Challenge, Purpose
from shared.client import AgentClient, normalize_agent_url
from shared.errors import ApiError, ClientError, ConnectionFailed, ValidationError
from shared.lifecycle import Phase
from shared.protocol import Release, Revision, RevisionFile, Scope, TaskType, TokenCreate

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BASE = "http://agent.test:8765"


def release(latest: int | None = None, phase: Phase = Phase.COMPOSE) -> dict:
    return Release(
        project="foo",
        version="1.0.0",
        phase=phase,
        created_at=NOW,
        created_by="alice",
        updated_at=NOW,
        latest_revision=latest,
    ).model_dump(mode="json")


def revision(number: int, files: dict[str, bytes]) -> dict:
    return Revision(
        project="foo",
        version="1.0.0",
        number=number,
        created_at=NOW,
        created_by="alice",
        message="",
        files=[
            RevisionFile(
                path=path,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                sha512=hashlib.sha512(data).hexdigest(),
            )
            for path, data in files.items()
        ],
    ).model_dump(mode="json")


def blob(data: bytes) -> dict:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
        "size": len(data),
    }


def client_for(handler, **kwargs) -> AgentClient:
    return AgentClient(BASE, transport=httpx.MockTransport(handler), **kwargs)


# --- URLs and plumbing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:1", "http://h:1"),
        ("http://h:1/", "http://h:1"),
        ("http://h:1/api/v1", "http://h:1"),
        ("h:8765", "http://h:8765"),
        ("https://h/prefix/", "https://h/prefix"),
    ],
)
def test_agent_url_is_normalized(given, expected):
    assert normalize_agent_url(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://h", "http://", "http://h/?q=1"])
def test_bad_agent_url_is_refused(bad):
    with pytest.raises(ValidationError):
        normalize_agent_url(bad)


def test_ws_url_follows_the_scheme():
    assert AgentClient("http://h:1").ws_url == "ws://h:1/api/v1/ws"
    assert AgentClient("https://h/x").ws_url == "wss://h/x/api/v1/ws"


async def test_token_is_sent_as_bearer_and_can_change():
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"version": "1", "last_event_id": 7})

    async with client_for(handler) as client:
        await client.health()
        client.token = "secret"
        health = await client.health()
    assert seen == [None, "Bearer secret"]
    assert health.last_event_id == 7


# --- error mapping --------------------------------------------------------------------------


async def test_error_body_becomes_api_error():
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"code": "not_found", "message": "no project 'foo'", "hint": "check the key"}
        return httpx.Response(404, json=body)

    async with client_for(handler) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_project("foo")
    err = caught.value
    assert (err.status, err.code, err.message, err.hint) == (
        404,
        "not_found",
        "no project 'foo'",
        "check the key",
    )


async def test_error_without_error_body_still_says_what_happened():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    async with client_for(handler) as client:
        with pytest.raises(ApiError) as caught:
            await client.list_projects()
    assert caught.value.status == 502
    assert caught.value.code == "http_502"
    assert "GET /api/v1/projects" in caught.value.message


async def test_transport_error_becomes_connection_failed_naming_the_url():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with client_for(handler) as client:
        with pytest.raises(ConnectionFailed) as caught:
            await client.health()
    assert BASE in caught.value.message
    assert caught.value.hint is not None
    assert BASE in caught.value.hint


async def test_timeout_becomes_connection_failed():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with client_for(handler) as client:
        with pytest.raises(ConnectionFailed):
            await client.me()


async def test_answer_that_breaks_the_protocol_is_refused():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"key": "foo"})  # no name, no committee

    async with client_for(handler) as client:
        with pytest.raises(ClientError, match="cannot read") as caught:
            await client.get_project("foo")
    assert not isinstance(caught.value, ApiError)


async def test_bad_identifiers_are_refused_before_any_request():
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with client_for(handler) as client:
        with pytest.raises(ValidationError):
            await client.get_release("Foo", "1.0")
        with pytest.raises(ValidationError):
            await client.get_release("foo", "../1")
        with pytest.raises(ValidationError):
            await client.get_revision("foo", "1.0", 0)


# --- requests carry the protocol bodies -----------------------------------------------------


async def test_transition_and_task_bodies():
    bodies: dict[str, dict] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        bodies[request.url.path] = json.loads(request.content)
        if request.url.path.endswith("/transition"):
            return httpx.Response(200, json=release(phase=Phase.CHECKS))
        return httpx.Response(
            200,
            json={
                "id": 3,
                "type": "inventory",
                "state": "queued",
                "project": "foo",
                "version": "1.0.0",
                "revision": 2,
                "args": {"n": 1},
                "result": None,
                "error": None,
                "attempts": 0,
                "max_attempts": 3,
                "created_at": NOW.isoformat(),
                "created_by": "alice",
                "started_at": None,
                "finished_at": None,
            },
        )

    async with client_for(handler, token="t") as client:
        moved = await client.transition("foo", "1.0.0", Phase.CHECKS, "ready")
        task = await client.start_task(
            "foo", "1.0.0", TaskType.INVENTORY, revision=2, args={"n": 1}
        )
    assert moved.phase == Phase.CHECKS
    assert bodies["/api/v1/projects/foo/releases/1.0.0/transition"] == {
        "to": "checks",
        "reason": "ready",
    }
    assert bodies["/api/v1/tasks"]["type"] == "inventory"
    assert bodies["/api/v1/tasks"]["revision"] == 2
    assert task.id == 3


async def test_list_tasks_and_events_send_query_parameters():
    queries: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(dict(request.url.params))
        if request.url.path.endswith("/events"):
            return httpx.Response(200, json={"events": [], "next_since": 9})
        return httpx.Response(200, json=[])

    async with client_for(handler) as client:
        assert await client.list_tasks(project="foo", state="failed") == []
        page = await client.events(since=4, limit=10, project="foo", version="1.0.0")
        with pytest.raises(ValidationError):
            await client.list_tasks(state="exploded")
    assert queries == [
        {"project": "foo", "state": "failed"},
        {"since": "4", "limit": "10", "project": "foo", "version": "1.0.0"},
    ]
    assert page.next_since == 9


async def test_tokens():
    info = {
        "id": 5,
        "user": "alice",
        "project": None,
        "role": "committer",
        "label": "ci",
        "created_at": NOW.isoformat(),
        "expires_at": NOW.isoformat(),
        "revoked_at": None,
        "last_used_at": None,
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert json.loads(request.content)["label"] == "ci"
            return httpx.Response(201, json={"token": "atr_x", "info": info})
        if request.method == "DELETE":
            assert request.url.path == "/api/v1/tokens/5"
            return httpx.Response(200, json={**info, "revoked_at": NOW.isoformat()})
        return httpx.Response(200, json=[info])

    async with client_for(handler) as client:
        created = await client.create_token(TokenCreate(label="ci"))
        listed = await client.list_tokens()
        revoked = await client.revoke_token(5)
    assert created.token == "atr_x"
    assert [t.id for t in listed] == [5]
    assert revoked.revoked_at == NOW


def _challenge_text(**changes: object) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    fields: dict[str, object] = {
        "purpose": Purpose.LOGIN,
        "user": "alice",
        "agent": BASE,
        "nonce": "0123456789abcdef" * 2,
        "issued": now,
        "expires": now + timedelta(minutes=5),
    }
    fields.update(changes)
    return Challenge(**fields).render()  # type: ignore[arg-type]


def _login_agent(challenge: str, seen: list[dict]) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        if request.url.path.endswith("/challenge"):
            return httpx.Response(
                200,
                json={"challenge_id": "c1", "challenge": challenge, "expires_at": NOW.isoformat()},
            )
        assert body == {"challenge_id": "c1", "signature": "SIG"}
        user = {"name": "alice", "email": "a@example.org"}
        return httpx.Response(
            200, json={"token": "session", "expires_at": NOW.isoformat(), "user": user}
        )

    return handler


async def test_login_signs_the_checked_challenge_and_keeps_the_token():
    signed: list[Challenge] = []
    seen: list[dict] = []
    text = _challenge_text()

    def sign(challenge: Challenge) -> str:
        signed.append(challenge)
        return "SIG"

    async with client_for(_login_agent(text, seen)) as client:
        answer = await client.login_with_signature("alice", sign)
        assert client.token == "session"
    assert [c.render() for c in signed] == [text]
    assert seen[0]["user"] == "alice" and seen[0]["purpose"] == "login"
    assert answer.user.name == "alice"


ARTIFACT = b"\x1f\x8b\x08\x00release tarball bytes"


@pytest.mark.parametrize(
    ("challenge", "problem"),
    [
        (ARTIFACT.decode("latin-1"), "not an ATR challenge"),
        ("ATR agent login challenge\nuser: alice\n", "not an ATR challenge"),
        (_challenge_text(user="bob"), "user 'bob'"),
        (_challenge_text(agent="http://evil.example.org"), "evil.example.org"),
        (_challenge_text(purpose=Purpose.TOKEN, token=None), "not the expected"),
        (
            _challenge_text(
                issued=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2),
                expires=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1),
            ),
            "expired",
        ),
        (
            _challenge_text(expires=datetime.now(UTC).replace(microsecond=0) + timedelta(days=9)),
            "clock",
        ),
        (_challenge_text() + "extra: line\n", "not the expected"),
        (_challenge_text().replace("nonce: ", "nonce:  "), "whitespace"),
    ],
)
async def test_a_hostile_challenge_is_never_signed(challenge: str, problem: str):
    """A spoofed or malicious agent cannot make the client sign bytes of its choosing."""
    signed: list[Challenge] = []
    seen: list[dict] = []
    async with client_for(_login_agent(challenge, seen)) as client:
        with pytest.raises(ValidationError, match=re.escape(problem)):
            await client.login_with_signature("alice", lambda c: signed.append(c) or "SIG")
    assert signed == [] and len(seen) == 1  # asked for a challenge, sent nothing back


# --- uploads and revisions ------------------------------------------------------------------


class StreamingTransport(httpx.AsyncBaseTransport):
    """Reads the request body chunk by chunk, as a server would (MockTransport reads it whole
    first), noting what the client had reported as sent when each chunk arrived."""

    def __init__(self, reports: list[tuple[int, int]]) -> None:
        self.reports = reports
        self.chunks: list[tuple[int, int]] = []  # (chunk size, bytes reported sent by then)
        self.headers: dict[str, str] = {}
        self.body = b""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.update(request.headers)
        async for chunk in request.stream:
            self.chunks.append((len(chunk), self.reports[-1][0]))
            self.body += chunk
        return httpx.Response(201, json=blob(self.body))


async def test_upload_streams_the_file_in_chunks(tmp_path: Path):
    data = bytes(range(256)) * 40  # 10,240 bytes
    source = tmp_path / "apache-foo-1.0.0.tar.gz"
    source.write_bytes(data)
    reports: list[tuple[int, int]] = []
    transport = StreamingTransport(reports)

    async with AgentClient(BASE, transport=transport) as client:
        info = await client.upload_blob(
            source, chunk_size=4096, progress=lambda s, t: reports.append((s, t))
        )
    # Each chunk reaches the transport right after it was read: the file is never whole in memory.
    assert transport.chunks == [(4096, 4096), (4096, 8192), (2048, 10240)]
    assert transport.body == data
    assert transport.headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in transport.headers
    assert transport.headers["x-atr-filename"] == "apache-foo-1.0.0.tar.gz"
    assert reports == [(0, len(data)), (4096, len(data)), (8192, len(data)), (10240, len(data))]
    assert info.sha256 == hashlib.sha256(data).hexdigest()


async def test_upload_of_a_file_that_grows_meanwhile_is_refused(tmp_path: Path):
    source = tmp_path / "growing.bin"
    source.write_bytes(b"x" * 100)

    def grow(sent: int, total: int) -> None:
        if sent == 0:
            with source.open("ab") as handle:
                handle.write(b"more")

    reports: list[tuple[int, int]] = [(0, 0)]
    async with AgentClient(BASE, transport=StreamingTransport(reports)) as client:
        with pytest.raises(ClientError, match="grew"):
            await client.upload_blob(source, chunk_size=64, progress=grow)


async def test_upload_detects_a_digest_the_agent_got_wrong(tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_bytes(b"hello")

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        return httpx.Response(201, json=blob(b"HELLO"))

    async with client_for(handler) as client:
        with pytest.raises(ClientError, match="another digest"):
            await client.upload_blob(source)


async def test_upload_of_a_missing_file_is_bad_input(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with client_for(handler) as client:
        with pytest.raises(ValidationError, match="does not exist"):
            await client.upload_blob(tmp_path / "nope")
        with pytest.raises(ValidationError, match="not a regular file"):
            await client.upload_blob(tmp_path)


async def test_create_revision_builds_on_the_latest_by_default():
    posted: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=release(latest=4))
        posted.append(json.loads(request.content))
        return httpx.Response(201, json=revision(5, {"a.txt": b"a"}))

    sha = hashlib.sha256(b"a").hexdigest()
    async with client_for(handler) as client:
        await client.create_revision("foo", "1.0.0", files={"a.txt": sha}, remove=["old.txt"])
        await client.create_revision("foo", "1.0.0", files={}, base=None, message="empty")
        await client.create_revision("foo", "1.0.0", files={"a.txt": sha}, base=2)
    assert posted == [
        {"base": 4, "files": {"a.txt": sha}, "remove": ["old.txt"], "message": ""},
        {"base": None, "files": {}, "remove": [], "message": "empty"},
        {"base": 2, "files": {"a.txt": sha}, "remove": [], "message": ""},
    ]


async def test_create_revision_refuses_unsafe_paths_and_bad_digests():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=release(latest=None))

    async with client_for(handler) as client:
        with pytest.raises(ValidationError):
            await client.create_revision("foo", "1.0.0", files={"../x": "0" * 64})
        with pytest.raises(ValidationError):
            await client.create_revision("foo", "1.0.0", files={"x": "nothex"})


async def test_upload_files_uploads_each_then_makes_one_revision(tmp_path: Path):
    one, two = tmp_path / "one.tar.gz", tmp_path / "one.tar.gz.asc"
    one.write_bytes(b"archive")
    two.write_bytes(b"signature")
    calls: list[str] = []
    revision_body: dict = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/v1/uploads":
            return httpx.Response(201, json=blob(await request.aread()))
        if request.method == "GET":
            return httpx.Response(200, json=release(latest=1))
        revision_body.update(json.loads(request.content))
        return httpx.Response(
            201, json=revision(2, {"one.tar.gz": b"archive", "one.tar.gz.asc": b"signature"})
        )

    progress: list[tuple[str, int, int]] = []
    async with client_for(handler) as client:
        made = await client.upload_files(
            "foo",
            "1.0.0",
            [one, two],
            progress=lambda n, s, t: progress.append((n, s, t)),
            message="rc1",
        )
    assert calls == [
        "POST /api/v1/uploads",
        "POST /api/v1/uploads",
        "GET /api/v1/projects/foo/releases/1.0.0",
        "POST /api/v1/projects/foo/releases/1.0.0/revisions",
    ]
    assert revision_body == {
        "base": 1,
        "files": {
            "one.tar.gz": hashlib.sha256(b"archive").hexdigest(),
            "one.tar.gz.asc": hashlib.sha256(b"signature").hexdigest(),
        },
        "remove": [],
        "message": "rc1",
    }
    assert ("one.tar.gz", 7, 7) in progress
    assert ("one.tar.gz.asc", 9, 9) in progress
    assert made.number == 2


async def test_upload_files_checks_every_file_before_sending(tmp_path: Path):
    good = tmp_path / "good"
    good.write_bytes(b"x")

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with client_for(handler) as client:
        with pytest.raises(ValidationError, match="does not exist"):
            await client.upload_files("foo", "1.0.0", [good, tmp_path / "missing"])
        with pytest.raises(ValidationError, match="twice"):
            await client.upload_files("foo", "1.0.0", [good, good])
        with pytest.raises(ValidationError):
            await client.upload_files("foo", "1.0.0", [good], names=["../escape"])
        with pytest.raises(ValidationError, match="no files"):
            await client.upload_files("foo", "1.0.0", [])


async def test_download_writes_the_whole_file_or_nothing(tmp_path: Path):
    payload = b"0123456789" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/missing.txt"):
            return httpx.Response(404, json={"code": "not_found", "message": "no such file"})
        assert (
            request.url.path == "/api/v1/projects/foo/releases/1.0.0/revisions/3/files/dir/a b.txt"
        )
        return httpx.Response(200, content=payload)

    seen: list[tuple[int, int]] = []
    async with client_for(handler) as client:
        written = await client.download_file(
            "foo", "1.0.0", 3, "dir/a b.txt", tmp_path, progress=lambda r, t: seen.append((r, t))
        )
        with pytest.raises(ApiError):
            await client.download_file("foo", "1.0.0", 3, "missing.txt", tmp_path / "m.txt")
    assert written == tmp_path / "a b.txt"
    assert written.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload))
    assert sorted(os.listdir(tmp_path)) == ["a b.txt"]


def test_stream_is_created_with_the_client_settings():
    client = AgentClient(BASE, token="t", timeout=3.0)
    stream = client.stream(Scope(project="foo"), since=4)
    assert stream.url == "ws://agent.test:8765/api/v1/ws"
    assert stream.scope == Scope(project="foo")
    assert stream.timeout == 3.0
    assert stream.last_event_id is None
