"""The real ``atr`` command (a subprocess) against a real agent: the release workflow, watching,
status, and the exit codes for auth, conflicts, missing things and an unreachable agent."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli import ExitCode
from shared.protocol import Event, EventKind, Release, Revision, Task, TaskState, User
from tests.support.agent import COMMITTER, PMC, PROJECT, AgentProcess, free_port

pytestmark = pytest.mark.integration

ATR = Path(sys.executable).parent / "atr"
TIMEOUT = 120


def atr_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # never the user's own config
    return env


def atr(
    agent: AgentProcess | None,
    *args: str,
    token: str | None,
    tmp_path: Path,
    agent_url: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``atr --agent URL [--token T] ARGS...`` and return what it did."""
    url = agent_url or (agent.url if agent else "")
    options = ["--agent", url] + (["--token", token] if token else [])
    return subprocess.run(
        [str(ATR), *options, *args],
        capture_output=True,
        text=True,
        env=atr_env(tmp_path),
        timeout=TIMEOUT,
        check=False,
    )


def make_source_archive(path: Path, members: int) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for i in range(members):
            data = f"file {i}\n".encode()
            info = tarfile.TarInfo(f"apache-acme-lib/src/file{i}.txt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    archive = make_source_archive(tmp_path / "apache-acme-lib-1.0.0-src.tar.gz", members=3)
    signature = tmp_path / "apache-acme-lib-1.0.0-src.tar.gz.asc"
    signature.write_text("-----BEGIN PGP SIGNATURE-----\n...\n-----END PGP SIGNATURE-----\n")
    return [archive, signature]


@pytest.fixture
def release(agent: AgentProcess, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh release of the seeded project (its version named after the test)."""
    version = f"1.0.{abs(hash(request.node.name)) % 10**6}"
    done = atr(
        agent, "release", "create", PROJECT, version, token=agent.committer_token, tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    return version


def test_release_upload_inventory_and_watch(agent, release, files, tmp_path):
    token = agent.committer_token

    upload = atr(
        agent,
        "upload",
        PROJECT,
        release,
        *map(str, files),
        "-m",
        "rc1",
        token=token,
        tmp_path=tmp_path,
    )
    assert upload.returncode == 0, upload.stderr
    assert upload.stdout.startswith(f"revision 1 of {PROJECT} {release} (2 files")
    assert all(f.name in upload.stdout for f in files)

    started = atr(
        agent, "task", "start", PROJECT, release, "--watch", token=token, tmp_path=tmp_path
    )
    assert started.returncode == 0, started.stderr
    # The worker's log lines, as the inventory handler wrote them, arrive through the stream.
    lines = started.stdout.splitlines()
    logs = [line for line in lines if " task.log " in line]
    assert any(
        "apache-acme-lib-1.0.0-src.tar.gz:" in line and "3 archive members" in line for line in logs
    ), lines
    assert any("apache-acme-lib-1.0.0-src.tar.gz.asc:" in line for line in logs), lines
    assert " task.finished " in lines[-1]
    assert "succeeded" in lines[-1]
    task_id = int(started.stderr.split()[1])

    # Watching the finished task again shows the same log from the event log, and exits 0.
    again = atr(agent, "watch", str(task_id), token=token, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [line for line in again.stdout.splitlines() if " task.log " in line] == logs

    as_json = atr(agent, "watch", str(task_id), "--json", token=token, tmp_path=tmp_path)
    events = [Event.model_validate_json(line) for line in as_json.stdout.splitlines()]
    assert {e.task_id for e in events} == {task_id}
    assert events[-1].kind == EventKind.TASK_FINISHED
    assert [e.id for e in events] == sorted({e.id for e in events})


def test_every_command_ends_quietly_when_its_output_is_closed(agent, release, files, tmp_path):
    """``atr … | head``: the reader closes the pipe; ``atr`` stops without a word on stderr
    (no BrokenPipeError, no "this is a bug") and exits 141, as a Unix tool ended by SIGPIPE."""
    token = agent.committer_token
    uploaded = atr(agent, "upload", PROJECT, release, *map(str, files), token=token,
                   tmp_path=tmp_path)  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr
    started = atr(agent, "task", "start", PROJECT, release, "--watch", token=token,
                  tmp_path=tmp_path)  # fmt: skip
    task_id = started.stderr.split()[1]
    for args in (
        ["events", "--limit", "1000"],
        ["watch", task_id],
        ["status", PROJECT, release],
        ["checks", PROJECT, release, "--all"],
        ["tasks", "--project", PROJECT],
        ["revisions", PROJECT, release],
        ["check", str(files[0].parent), "--all"],
    ):
        proc = subprocess.Popen(
            [str(ATR), "--agent", agent.url, "--token", token, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=atr_env(tmp_path),
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as `head` does once it has its lines
        stderr = proc.stderr.read().decode()
        assert proc.wait(TIMEOUT) == ExitCode.OUTPUT_CLOSED, (args, stderr)
        assert stderr == "", (args, stderr)


def test_watch_follows_a_running_task_live(agent, release, files, tmp_path):
    token = agent.committer_token
    assert (
        atr(
            agent, "upload", PROJECT, release, str(files[0]), token=token, tmp_path=tmp_path
        ).returncode
        == 0
    )
    start = atr(
        agent, "task", "start", PROJECT, release, "--type", "diagnostic.emit",
        "--arg", "count=40", "--arg", "rate=20", "--json", token=token, tmp_path=tmp_path,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    task = Task.model_validate_json(start.stdout)
    assert task.state == TaskState.QUEUED

    watched = atr(agent, "watch", str(task.id), token=token, tmp_path=tmp_path)
    assert watched.returncode == 0, watched.stderr
    logged = re.findall(r" task\.log +task \d+ +line (\d+)/40$", watched.stdout, re.MULTILINE)
    assert logged == [str(i) for i in range(1, 41)]


def test_failed_task_exits_1(agent, release, files, tmp_path):
    token = agent.committer_token
    assert (
        atr(
            agent, "upload", PROJECT, release, str(files[1]), token=token, tmp_path=tmp_path
        ).returncode
        == 0
    )
    # inventory takes no arguments: the worker refuses it and the task fails without retries.
    done = atr(
        agent,
        "task",
        "start",
        PROJECT,
        release,
        "--arg",
        "bogus=1",
        "--watch",
        token=token,
        tmp_path=tmp_path,
    )
    assert done.returncode == ExitCode.FAILED
    assert "failed" in done.stdout.splitlines()[-1]
    assert "inventory takes no arguments" in done.stdout


def test_status_json_parses_into_the_models(agent, release, files, tmp_path):
    token = agent.committer_token
    assert (
        atr(
            agent, "upload", PROJECT, release, *map(str, files), token=token, tmp_path=tmp_path
        ).returncode
        == 0
    )
    assert (
        atr(
            agent, "task", "start", PROJECT, release, "--watch", token=token, tmp_path=tmp_path
        ).returncode
        == 0
    )

    status = atr(agent, "status", PROJECT, release, "--json", token=token, tmp_path=tmp_path)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert Release.model_validate(data["release"]).phase == "compose"
    revision = Revision.model_validate(data["revision"])
    assert sorted(f.path for f in revision.files) == sorted(f.name for f in files)
    tasks = [Task.model_validate(t) for t in data["tasks"]]
    # (the revision's own check tasks are listed too)
    assert [t.state for t in tasks if t.type == "inventory"] == [TaskState.SUCCEEDED]

    project = atr(agent, "status", PROJECT, "--json", token=token, tmp_path=tmp_path)
    assert release in [r["version"] for r in json.loads(project.stdout)["releases"]]


def test_wrong_token_exits_3(agent, tmp_path):
    done = atr(agent, "whoami", token="atr_not-a-real-token", tmp_path=tmp_path)
    assert done.returncode == ExitCode.AUTH
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    # The stream refuses it too.
    watch = atr(
        agent, "watch", "--project", PROJECT, token="atr_not-a-real-token", tmp_path=tmp_path
    )
    assert watch.returncode == ExitCode.AUTH


def test_role_too_low_exits_3(agent, release, tmp_path):
    # A committer may not move a release to the vote (and compose -> vote is invalid anyway);
    # on another project's release the committer has no role at all.
    done = atr(
        agent,
        "release",
        "create",
        "globex-app",
        "9.9.9",
        token=agent.committer_token,
        tmp_path=tmp_path,
    )
    assert done.returncode == ExitCode.AUTH, done.stderr


def test_invalid_transition_exits_6(agent, release, tmp_path):
    done = atr(
        agent,
        "release",
        "transition",
        PROJECT,
        release,
        "vote",
        token=agent.pmc_token,
        tmp_path=tmp_path,
    )
    assert done.returncode == ExitCode.CONFLICT
    assert done.stderr.splitlines()[0].startswith("error: ")
    assert done.stderr.splitlines()[1].startswith("hint: ")

    moved = atr(
        agent, "release", "transition", PROJECT, release, "checks", "--reason", "ready", "--json",
        token=agent.committer_token, tmp_path=tmp_path,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    assert Release.model_validate_json(moved.stdout).phase == "checks"


def test_missing_things_exit_4(agent, tmp_path):
    token = agent.committer_token
    assert (
        atr(agent, "release", "show", PROJECT, "0.0.404", token=token, tmp_path=tmp_path).returncode
        == 4
    )
    assert atr(agent, "task", "show", "999999", token=token, tmp_path=tmp_path).returncode == 4
    assert atr(agent, "watch", "999999", token=token, tmp_path=tmp_path).returncode == 4


def test_unreachable_agent_exits_5(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["whoami"], ["watch", "--project", PROJECT], ["status", PROJECT, "--json"]):
        done = atr(None, *args, token="t", agent_url=url, tmp_path=tmp_path)
        assert done.returncode == ExitCode.CANNOT_CONNECT, (args, done.stderr)
        assert done.stderr.startswith(f"error: cannot reach the agent at {url}")
        assert "hint: " in done.stderr


def test_login_whoami_logout(agent, tmp_path):
    login = atr(
        None,
        "login",
        "--agent",
        agent.url,
        "--token",
        agent.pmc_token,
        token=None,
        agent_url=agent.url,
        tmp_path=tmp_path,
    )
    assert login.returncode == 0, login.stderr
    config = tmp_path / "config" / "atr" / "config.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"

    # No --token: the saved one is used.
    who = subprocess.run(
        [str(ATR), "whoami", "--json"],
        capture_output=True,
        text=True,
        env=atr_env(tmp_path) | {"ATR_AGENT": agent.url},
        timeout=TIMEOUT,
        check=False,
    )
    assert who.returncode == 0, who.stderr
    assert User.model_validate_json(who.stdout).name == PMC

    assert atr(agent, "logout", token=None, tmp_path=tmp_path).returncode == 0
    after = atr(agent, "whoami", token=None, tmp_path=tmp_path)
    assert after.returncode == ExitCode.AUTH


def test_tokens_create_list_revoke(agent, tmp_path):
    created = atr(
        agent,
        "token",
        "create",
        "--label",
        "ci",
        "--project",
        PROJECT,
        token=agent.committer_token,
        tmp_path=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    who = atr(agent, "whoami", "--json", token=secret, tmp_path=tmp_path)
    assert User.model_validate_json(who.stdout).name == COMMITTER

    listed = json.loads(
        atr(agent, "token", "list", "--json", token=secret, tmp_path=tmp_path).stdout
    )
    mine = [t for t in listed if t["label"] == "ci"]
    assert mine, listed
    revoked = atr(
        agent,
        "token",
        "revoke",
        str(mine[-1]["id"]),
        token=agent.committer_token,
        tmp_path=tmp_path,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert atr(agent, "whoami", token=secret, tmp_path=tmp_path).returncode == ExitCode.AUTH


def test_events_page(agent, release, tmp_path):
    page = atr(
        agent,
        "events",
        "--project",
        PROJECT,
        "--version",
        release,
        "--json",
        token=agent.pmc_token,
        tmp_path=tmp_path,
    )
    assert page.returncode == 0, page.stderr
    data = json.loads(page.stdout)
    kinds = [Event.model_validate(e).kind for e in data["events"]]
    assert kinds == [EventKind.RELEASE_CREATED]


@pytest.fixture
def watcher(
    agent: AgentProcess, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """``atr watch --project PROJECT --json`` running, with its stdout lines in a queue."""
    proc = subprocess.Popen(
        [
            str(ATR),
            "--agent",
            agent.url,
            "--token",
            agent.pmc_token,
            "watch",
            "--project",
            PROJECT,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=atr_env(tmp_path),
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        reader.join(10)


def test_watch_a_project_until_ctrl_c(agent, watcher, tmp_path):
    proc, lines = watcher
    # The watcher prints only events from now on; create releases until it has shown one.
    deadline = time.monotonic() + 60
    created: set[str] = set()
    seen: Event | None = None
    while seen is None and time.monotonic() < deadline:
        version = f"7.{len(created)}.0"
        done = atr(
            agent,
            "release",
            "create",
            PROJECT,
            version,
            token=agent.committer_token,
            tmp_path=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        created.add(version)
        try:
            while seen is None:
                event = Event.model_validate_json(lines.get(timeout=1))
                if event.kind == EventKind.RELEASE_CREATED:
                    seen = event
        except queue.Empty:
            continue
    assert seen is not None, "the watcher printed no release.created event"
    assert (seen.project, seen.version in created) == (PROJECT, True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
