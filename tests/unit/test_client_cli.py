"""The ``atr`` CLI over httpx.MockTransport: exit codes, error lines, JSON output, config file."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from shared.cli import ExitCode, main
from shared.cli.config import Config, load_config, save_config
from shared.cli.exit_codes import exit_code_for
from shared.cli.options import PROJECT, VERSION, parse_args
from shared.cli.output import event_line, task_kind, task_rows
from shared.cli.state import CliState
from shared.errors import (
    ApiError,
    ClientError,
    ConnectionFailed,
    ProtocolMismatch,
    TransitionError,
    ValidationError,
)
from shared.protocol import Event, Revision, Task, User

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AGENT = "http://agent.test:8765"

USER = {
    "name": "alice",
    "email": "alice@example.org",
    "memberships": [{"committee": "foo", "role": "pmc"}],
}
RELEASE = {
    "project": "foo",
    "version": "1.0.0",
    "phase": "compose",
    "created_at": NOW.isoformat(),
    "created_by": "alice",
    "updated_at": NOW.isoformat(),
    "latest_revision": 1,
}


def task(id: int = 3, state: str = "succeeded") -> dict:
    return Task(
        id=id,
        type="inventory",
        state=state,
        project="foo",
        version="1.0.0",
        revision=1,
        args={},
        result=None,
        error=None,
        attempts=1,
        max_attempts=3,
        created_at=NOW,
        created_by="alice",
        started_at=NOW,
        finished_at=NOW,
    ).model_dump(mode="json")


def revision(number: int, files: dict[str, bytes]) -> dict:
    return Revision.model_validate(
        {
            "project": "foo",
            "version": "1.0.0",
            "number": number,
            "created_at": NOW,
            "created_by": "alice",
            "message": "",
            "files": [
                {
                    "path": p,
                    "size": len(d),
                    "sha256": hashlib.sha256(d).hexdigest(),
                    "sha512": hashlib.sha512(d).hexdigest(),
                }
                for p, d in files.items()
            ],
        }
    ).model_dump(mode="json")


def invoke(handler, args: list[str], *, tmp_path: Path, env: dict[str, str] | None = None):
    state = CliState(
        transport=httpx.MockTransport(handler), config_file=tmp_path / "atr" / "config.toml"
    )
    runner = CliRunner()
    base_env = {"ATR_AGENT": None, "ATR_TOKEN": None, "ATR_DEBUG": None}
    return runner.invoke(main, args, obj=state, env={**base_env, **(env or {})}, prog_name="atr")


def answer(status: int, body) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return handler


# --- exit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (400, "invalid", ExitCode.USAGE),
        (401, "unauthenticated", ExitCode.AUTH),
        (403, "forbidden", ExitCode.AUTH),
        (404, "not_found", ExitCode.NOT_FOUND),
        (409, "invalid_transition", ExitCode.CONFLICT),
        (413, "too_large", ExitCode.USAGE),
        (422, "invalid", ExitCode.USAGE),
        (500, "internal", ExitCode.FAILED),
    ],
)
def test_error_answers_give_exit_codes_and_one_error_line(tmp_path, status, code, exit_code):
    body = {"code": code, "message": f"the agent says {code}", "hint": "do something else"}
    result = invoke(
        answer(status, body), ["--agent", AGENT, "--token", "t", "projects"], tmp_path=tmp_path
    )
    assert result.exit_code == exit_code
    assert result.stderr == f"error: the agent says {code}\nhint: do something else\n"
    assert result.stdout == ""


def test_unreachable_agent_exits_5(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    result = invoke(handler, ["--agent", AGENT, "whoami"], tmp_path=tmp_path)
    assert result.exit_code == ExitCode.CANNOT_CONNECT
    assert result.stderr.startswith(f"error: cannot reach the agent at {AGENT}")
    assert "Traceback" not in result.output


def test_unreadable_answer_exits_2(tmp_path):
    result = invoke(answer(200, {"nope": 1}), ["--agent", AGENT, "whoami"], tmp_path=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert "cannot read" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    never = answer(500, {})
    assert invoke(never, ["release", "show", "Foo", "1.0"], tmp_path=tmp_path).exit_code == 2
    assert (
        invoke(
            never, ["release", "transition", "foo", "1.0", "nowhere"], tmp_path=tmp_path
        ).exit_code
        == 2
    )
    assert invoke(never, ["watch"], tmp_path=tmp_path).exit_code == 2
    assert invoke(never, ["watch", "3", "--project", "foo"], tmp_path=tmp_path).exit_code == 2
    assert (
        invoke(
            never, ["task", "start", "foo", "1.0", "--arg", "novalue"], tmp_path=tmp_path
        ).exit_code
        == 2
    )
    assert invoke(never, ["--agent", "ftp://x", "projects"], tmp_path=tmp_path).exit_code == 2


def test_upload_of_a_missing_file_exits_2_without_a_request(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    result = invoke(
        handler,
        ["--agent", AGENT, "upload", "foo", "1.0.0", str(tmp_path / "nope")],
        tmp_path=tmp_path,
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_unexpected_errors_are_one_line_too(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    result = invoke(handler, ["--agent", AGENT, "projects"], tmp_path=tmp_path)
    assert result.exit_code == ExitCode.FAILED
    assert result.stderr.splitlines()[0] == "error: unexpected RuntimeError: boom"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConnectionFailed("x"), ExitCode.CANNOT_CONNECT),
        (ProtocolMismatch("x"), ExitCode.USAGE),
        (ClientError("x"), ExitCode.USAGE),
        (ValidationError("x"), ExitCode.USAGE),
        (TransitionError("x"), ExitCode.CONFLICT),
        (ApiError(502, "http_502", "x"), ExitCode.FAILED),
    ],
)
def test_exit_code_for_errors(error, code):
    assert exit_code_for(error) == code


def test_help_documents_the_exit_codes(tmp_path):
    result = invoke(answer(500, {}), ["--help"], tmp_path=tmp_path)
    assert result.exit_code == 0
    for line in ("0  ok", "3  authentication", "4  not found", "5  cannot reach", "6  conflict"):
        assert line in result.stdout


# --- output ---------------------------------------------------------------------------------


def test_json_output_is_the_protocol_model(tmp_path):
    result = invoke(answer(200, USER), ["--agent", AGENT, "whoami", "--json"], tmp_path=tmp_path)
    assert result.exit_code == 0
    assert User.model_validate_json(result.stdout) == User.model_validate(USER)


def test_status_json_has_release_revision_and_tasks(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/projects/foo/releases/1.0.0":
            return httpx.Response(200, json=RELEASE)
        if path == "/api/v1/projects/foo/releases/1.0.0/revisions/1":
            return httpx.Response(200, json=revision(1, {"a.tar.gz": b"a"}))
        if path == "/api/v1/tasks":
            assert dict(request.url.params) == {"project": "foo", "version": "1.0.0"}
            return httpx.Response(200, json=[task(1), task(2, "failed")])
        return httpx.Response(404, json={"code": "not_found", "message": path})

    result = invoke(
        handler, ["--agent", AGENT, "status", "foo", "1.0.0", "--json"], tmp_path=tmp_path
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["release"]["phase"] == "compose"
    assert [f["path"] for f in data["revision"]["files"]] == ["a.tar.gz"]
    assert [t["id"] for t in data["tasks"]] == [2, 1]  # newest first


def test_upload_prints_the_new_revision(tmp_path):
    artifact = tmp_path / "foo-1.0.0.tar.gz"
    artifact.write_bytes(b"archive")

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/uploads":
            data = await request.aread()
            return httpx.Response(
                201,
                json={
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "sha512": hashlib.sha512(data).hexdigest(),
                    "size": len(data),
                },
            )
        if request.method == "GET":
            return httpx.Response(200, json={**RELEASE, "latest_revision": None})
        assert json.loads(request.content)["base"] is None
        return httpx.Response(201, json=revision(1, {"foo-1.0.0.tar.gz": b"archive"}))

    result = invoke(
        handler, ["--agent", AGENT, "upload", "foo", "1.0.0", str(artifact)], tmp_path=tmp_path
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("revision 1 of foo 1.0.0 (1 files")
    assert "foo-1.0.0.tar.gz" in result.stdout
    # no progress when stderr is not a terminal; the name the file got in the release
    assert result.stderr == (
        f"each file goes into the release under its own name:\n  {artifact} → foo-1.0.0.tar.gz\n"
    )


def test_upload_says_which_name_a_file_with_a_path_part_gets(tmp_path, monkeypatch):
    """``atr upload P V ../evil`` stores the file as ``evil`` (a release path never has ``..``):
    it says so, and sends only that name."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "evil").write_bytes(b"evil")
    (work / "plain.txt").write_bytes(b"plain")
    monkeypatch.chdir(work)
    sent: list[dict] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/uploads":
            data = await request.aread()
            return httpx.Response(
                201,
                json={
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "sha512": hashlib.sha512(data).hexdigest(),
                    "size": len(data),
                },
            )
        if request.method == "GET":
            return httpx.Response(200, json={**RELEASE, "latest_revision": None})
        sent.append(json.loads(request.content))
        return httpx.Response(201, json=revision(1, {"evil": b"evil", "plain.txt": b"plain"}))

    result = invoke(
        handler,
        ["--agent", AGENT, "upload", "foo", "1.0.0", "../evil", "plain.txt"],
        tmp_path=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert (
        result.stderr == "each file goes into the release under its own name:\n  ../evil → evil\n"
    )
    assert sorted(sent[0]["files"]) == ["evil", "plain.txt"]


def test_task_start_sends_typed_args(tmp_path):
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json=task(4, "queued"))

    args = ["--agent", AGENT, "task", "start", "foo", "1.0.0", "--type", "diagnostic.emit"]
    args += ["--arg", "count=5", "--arg", "rate=2.5", "--arg", "label=x y", "--revision", "1"]
    result = invoke(handler, args, tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    assert bodies[0]["args"] == {"count": 5, "rate": 2.5, "label": "x y"}
    assert bodies[0]["type"] == "diagnostic.emit"
    assert bodies[0]["revision"] == 1
    assert "task 4" in result.stdout


def test_parse_args():
    assert parse_args(("a=1", "b=true", "c=[1]", "d=text", "e=")) == {
        "a": 1,
        "b": True,
        "c": [1],
        "d": "text",
        "e": "",
    }


# --- configuration --------------------------------------------------------------------------


def test_login_checks_the_token_and_saves_it_privately(tmp_path):
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=USER)

    result = invoke(handler, ["login", "--agent", AGENT, "--token", 's3cr"et'], tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    path = tmp_path / "atr" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path) == Config(agent=AGENT, token='s3cr"et')

    # Later commands use the saved agent and token ...
    result = invoke(handler, ["whoami"], tmp_path=tmp_path)
    assert result.exit_code == 0
    assert seen == ['Bearer s3cr"et', 'Bearer s3cr"et']
    # ... but never send the saved token to another agent.
    result = invoke(handler, ["--agent", "http://other.test:1", "whoami"], tmp_path=tmp_path)
    assert seen[-1] is None

    result = invoke(handler, ["logout"], tmp_path=tmp_path)
    assert result.exit_code == 0
    assert load_config(path) == Config(agent=AGENT, token=None)


def test_login_with_a_refused_token_saves_nothing(tmp_path):
    body = {"code": "unauthenticated", "message": "unknown token"}
    result = invoke(
        answer(401, body), ["login", "--agent", AGENT, "--token", "bad"], tmp_path=tmp_path
    )
    assert result.exit_code == ExitCode.AUTH
    assert not (tmp_path / "atr" / "config.toml").exists()


def test_env_variables_are_used(tmp_path):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.host} {request.headers.get('authorization')}")
        return httpx.Response(200, json=USER)

    env = {"ATR_AGENT": "http://env.test:1", "ATR_TOKEN": "from-env"}
    result = invoke(handler, ["whoami"], tmp_path=tmp_path, env=env)
    assert result.exit_code == 0
    assert seen == ["env.test Bearer from-env"]


def test_config_round_trips_awkward_strings(tmp_path):
    path = tmp_path / "c" / "config.toml"
    odd = 'a"b\\c\n\t\x7f\x01 ✓ \U0001f600'
    save_config(path, Config(agent="http://h:1", token=odd))
    assert load_config(path) == Config(agent="http://h:1", token=odd)


def test_broken_config_is_reported(tmp_path):
    path = tmp_path / "atr" / "config.toml"
    path.parent.mkdir()
    path.write_text("agent = [")
    result = invoke(answer(200, USER), ["whoami"], tmp_path=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert "not a valid TOML file" in result.stderr


def test_event_lines_are_readable():
    def ev(kind: str, data: dict, task_id: int | None = 12) -> str:
        line = event_line(
            Event(
                id=1, at=NOW, kind=kind, project="foo", version="1.0.0", task_id=task_id, data=data
            )
        )
        return line.split("  ", 1)[1]  # without the local time

    assert ev("task.log", {"level": "info", "message": "a.tar.gz: 3 bytes"}).split() == [
        "task.log",
        "task",
        "12",
        "a.tar.gz:",
        "3",
        "bytes",
    ]
    assert ev("task.log", {"level": "warning", "message": "odd"}).endswith("warning: odd")
    assert ev("task.finished", {"state": "failed", "duration_ms": 1500, "error": "boom"}).endswith(
        "failed in 1.5 s: boom"
    )
    assert ev("task.progress", {"done": 1, "total": 2}).endswith("1/2")
    # a task retried after a crash logs its lines again: the retry's lines say so
    assert ev("task.log", {"level": "info", "message": "a", "attempt": 1}).endswith("task 12    a")
    assert ev("task.log", {"level": "info", "message": "a", "attempt": 2}).endswith("(attempt 2) a")
    assert ev("task.progress", {"done": 1, "total": 2, "attempt": 3}).endswith("(attempt 3) 1/2")
    phase = ev("release.phase_changed", {"from": "compose", "to": "checks", "reason": "ok"}, None)
    assert phase.endswith("foo 1.0.0  compose -> checks (ok)")


def _task(**args: object) -> Task:
    return Task(
        id=7, type="check", state="succeeded", project="acme-lib", version="1.0.0", revision=1,
        args=args, result=None, error=None, attempts=1, max_attempts=3,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), created_by="alice", started_at=None,
        finished_at=None,
    )  # fmt: skip


def test_task_tables_name_the_check_and_its_artifact():
    assert task_kind(_task(check_id="signatures", artifact="acme-1.0.0.tar.gz")) == (
        "check signatures · acme-1.0.0.tar.gz"
    )
    assert task_kind(_task(check_id="keys", artifact="")) == "check keys"  # release-wide
    assert task_kind(_task()) == "check"
    assert task_rows([_task(check_id="paths")])[0][1] == "check paths"


def test_watch_prints_a_finished_checks_blockers_from_the_report(tmp_path):
    """``check.finished`` carries counts and where the report is; ``atr watch`` fetches the
    blockers and warnings of that run from the report and prints them under its line."""
    art = "apache-foo-1.0.0-src.tar.gz"
    finished = Event(
        id=5, at=NOW, kind="check.finished", project="foo", version="1.0.0", task_id=3,
        data={
            "revision": 1, "check": "license_notice", "check_version": 1, "artifact": art,
            "state": "done", "error": None, "summary": {"blocker": 1, "warning": 1, "pass": 4},
            "worst": "blocker", "result_count": 6,
            "report": "/api/v1/projects/foo/releases/1.0.0/revisions/1/checks",
        },
    )  # fmt: skip

    def result(status: str, path: str, message: str, check: str = "license_notice") -> dict:
        return {
            "check": check, "check_version": 1, "artifact": art, "path": path,
            "status": status, "message": message,
        }  # fmt: skip

    report = {
        "project": "foo", "version": "1.0.0", "revision": 1, "state": "done", "runs": [],
        "results": [
            result("pass", f"{art}!/LICENSE", "fine"),
            result("warning", f"{art}!/NOTICE", "no copyright year"),
            result("blocker", f"{art}!/LICENSE", "not the Apache License 2.0"),
            result("blocker", art, "another check's blocker", check="signatures"),
        ],
        "summary": {"blocker": 2, "warning": 1, "note": 0, "pass": 1},
        "ignored": 0, "blocked": True,
    }  # fmt: skip
    fetched = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/tasks/3":
            return httpx.Response(200, json=task(3))
        if path == "/api/v1/events":
            since = int(request.url.params["since"])
            events = [finished.model_dump(mode="json")] if since < 5 else []
            return httpx.Response(200, json={"events": events, "next_since": 5})
        if path == "/api/v1/projects/foo/releases/1.0.0/revisions/1/checks":
            fetched.append(path)
            return httpx.Response(200, json=report)
        return httpx.Response(404, json={"code": "not_found", "message": path})

    result = invoke(handler, ["--agent", AGENT, "watch", "3"], tmp_path=tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"license_notice on {art}: 1 blocker, 1 warning, 4 pass")
    assert lines[1].split() == ["blocker", f"{art}!/LICENSE:", "not", "the", "Apache", "License",
                                "2.0"]  # fmt: skip
    assert lines[2].split()[:2] == ["warning", f"{art}!/NOTICE:"]
    assert len(lines) == 3 and fetched  # the other check's blocker is not this run's

    as_json = invoke(handler, ["--agent", AGENT, "watch", "3", "--json"], tmp_path=tmp_path)
    assert [json.loads(line)["kind"] for line in as_json.stdout.splitlines()] == ["check.finished"]


def _leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)  # the commands of atr's group load when asked for
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found += _leaf_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return command


def _arguments(command: click.Command, bad: str) -> list[str] | None:
    """Arguments that are all good but the first project key or version, which is ``bad``;
    None if the command takes neither."""
    values, spoiled = [], False
    for param in command.params:
        if not isinstance(param, click.Argument):
            continue
        kind = param.type
        if kind in (PROJECT, VERSION) and not spoiled:
            values.append(bad)
            spoiled = True
        elif kind is VERSION:
            values.append("1.0.0")
        elif kind is PROJECT:
            values.append("foo")
        elif isinstance(kind, click.Choice):
            values.append(str(kind.choices[0]))
        elif isinstance(kind, click.types.IntParamType):
            values.append("1")
        else:
            values.append("x")
    return values if spoiled else None


def test_every_commands_argument_errors_use_the_error_format(tmp_path):
    """A bad identifier or a missing argument, for every command: ``error:`` / ``hint:`` on
    stderr and exit 2 — never Click's usage block — and no request."""

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected: {request.url}")

    checked = []
    for path in _leaf_commands(main):
        command = _command(path)
        args = _arguments(command, "../../x")
        if args is not None:
            result = invoke(never, ["--agent", AGENT, *path, *args], tmp_path=tmp_path)
            lines = result.stderr.splitlines()
            assert result.exit_code == ExitCode.USAGE, (path, result.output)
            assert lines[0].startswith("error: invalid value for "), (path, lines)
            assert "'../../x' is not a valid" in lines[0], (path, lines)
            assert lines[1].startswith("hint: ") and f"'atr {' '.join(path)} --help'" in lines[1]
            assert len(lines) == 2 and "Usage:" not in result.output
            checked.append(path)
        if any(isinstance(p, click.Argument) and p.required for p in command.params):
            result = invoke(never, ["--agent", AGENT, *path], tmp_path=tmp_path)
            assert result.exit_code == ExitCode.USAGE, (path, result.output)
            assert result.stderr.startswith("error: missing argument "), (path, result.stderr)
            assert "Usage:" not in result.output
    assert ("release", "create") in checked and ("upload",) in checked and len(checked) > 15

    result = invoke(never, ["--timeout", "soon", "projects"], tmp_path=tmp_path)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.splitlines() == [
        "error: invalid value for --timeout: 'soon' is not a valid float range",
        "hint: 'atr --help' shows the usage",
    ]


def test_vote_start_sends_the_source_and_refuses_a_bad_link(tmp_path):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(404, json={"code": "not_found", "message": "no such release"})

    args = ["--agent", AGENT, "vote", "start", "foo", "1.0.0", "--source-ref", "v1.0.0-rc1",
            "--source-url", "https://github.com/apache/foo/tree/v1.0.0-rc1"]  # fmt: skip
    assert invoke(handler, args, tmp_path=tmp_path).exit_code == ExitCode.NOT_FOUND
    assert sent[0]["source_ref"] == "v1.0.0-rc1"
    assert sent[0]["source_url"] == "https://github.com/apache/foo/tree/v1.0.0-rc1"
    bad = invoke(
        handler,
        ["--agent", AGENT, "vote", "start", "foo", "1.0.0", "--source-url", "javascript:x"],
        tmp_path=tmp_path,
    )
    assert bad.exit_code == ExitCode.USAGE and len(sent) == 1
    assert bad.stderr.startswith("error: invalid vote start: source_url:")
