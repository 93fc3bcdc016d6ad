"""A real ``atr-agent`` process for tests: seeded through the real CLI, on a free loopback port.

    from tests.support.agent import AgentProcess

    with AgentProcess(tmp_path) as agent:           # or the ``agent`` / ``agent_factory`` fixtures
        agent.url                                   # http://127.0.0.1:PORT
        agent.api_url                               # http://127.0.0.1:PORT/api/v1
        agent.ws_url                                # ws://127.0.0.1:PORT/api/v1/ws
        agent.admin_token, agent.pmc_token, agent.committer_token
        agent.pmc.key.sign(b"...")                  # the users' secret keys (tests.support.keys)
        agent.client(agent.committer_token).post("/projects/acme-lib/releases", json=...)
        agent.cli("token", "create", "--user", "bob")   # runs atr-agent --data-dir D ...

What is seeded (names are module constants):

=========  ==========  ==============================================================
user       attribute   role
=========  ==========  ==============================================================
admin      ``admin``   agent admin (``bootstrap --admin admin``)
alice      ``pmc``     PMC member of committee ``acme`` (project ``acme-lib``)
bob        ``committer`` committer of ``acme``
carol      ``other``   PMC member of committee ``globex`` (project ``globex-app``) only
=========  ==========  ==============================================================

Each user has an unscoped API token of their own role (``AgentUser.token``).

Seeding runs ``atr-agent bootstrap``, ``committee add``, ``project add``, ``user add``
and ``token create`` once per test session into a template data dir; every
AgentProcess with the default SQLite database starts from a copy of it (fast, and
each agent has its own database). With ``database_url=`` (PostgreSQL) the agent is
seeded through the CLI against that database instead.
"""

from __future__ import annotations

import atexit
import email
import email.policy
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.keys import KeyPair, user_key

HOST = "127.0.0.1"
ADMIN = "admin"
PMC = "alice"
COMMITTER = "bob"
OTHER = "carol"
COMMITTEE = "acme"
PROJECT = "acme-lib"
OTHER_COMMITTEE = "globex"
OTHER_PROJECT = "globex-app"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def agent_command() -> list[str]:
    """How to run ``atr-agent`` from this interpreter's environment."""
    script = Path(sys.executable).parent / "atr-agent"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "agent"]


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``atr-agent --data-dir DATA_DIR ARGS...``; raise with its output if it fails."""
    proc = subprocess.run(
        [*agent_command(), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=_clean_env(env),
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"atr-agent {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The last non-empty line of a command's stdout (where tokens are printed)."""
    return proc.stdout.strip().splitlines()[-1].strip()


@dataclass(frozen=True)
class AgentUser:
    """A seeded user: name, email, role, OpenPGP key pair (with secret) and API token."""

    name: str
    email: str
    role: str
    key: KeyPair
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer <token>``."""
        return {"Authorization": f"Bearer {self.token}"}


def _seed(data_dir: Path, keys_dir: Path, env: Mapping[str, str] | None) -> dict[str, AgentUser]:
    """Bootstrap and seed ``data_dir`` through the real CLI; returns the users by attribute."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys = {name: user_key(name) for name in (ADMIN, PMC, COMMITTER, OTHER)}
    files = {name: k.write_public(keys_dir / f"{name}.asc") for name, k in keys.items()}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(data_dir, *args, env=env)

    admin_token = last_line(
        cli("bootstrap", "--admin", ADMIN, "--key", str(files[ADMIN]),
            "--email", keys[ADMIN].email)
    )  # fmt: skip
    cli("committee", "add", COMMITTEE, "--display-name", "Apache Acme")
    cli("committee", "add", OTHER_COMMITTEE, "--display-name", "Apache Globex")
    cli("project", "add", PROJECT, "--committee", COMMITTEE, "--name", "Acme Library")
    cli("project", "add", OTHER_PROJECT, "--committee", OTHER_COMMITTEE, "--name", "Globex App")
    memberships = {PMC: ("--pmc", COMMITTEE), COMMITTER: ("--committer", COMMITTEE),
                   OTHER: ("--pmc", OTHER_COMMITTEE)}  # fmt: skip
    for name, (flag, committee) in memberships.items():
        cli("user", "add", name, "--email", keys[name].email, "--key", str(files[name]),
            flag, committee)  # fmt: skip
    tokens = {ADMIN: admin_token}
    for name in (PMC, COMMITTER, OTHER):
        created = cli("token", "create", "--user", name, "--label", "tests", "--days", "365")
        tokens[name] = last_line(created)
    roles = {ADMIN: "admin", PMC: "pmc", COMMITTER: "committer", OTHER: "pmc"}
    attrs = {ADMIN: "admin", PMC: "pmc", COMMITTER: "committer", OTHER: "other"}
    return {
        attrs[name]: AgentUser(name=name, email=keys[name].email, role=roles[name],
                               key=keys[name], token=tokens[name])
        for name in keys
    }  # fmt: skip


_template: tuple[Path, dict[str, AgentUser]] | None = None


def _seeded_template() -> tuple[Path, dict[str, AgentUser]]:
    """A seeded SQLite data dir, made once per test session and copied by each agent."""
    global _template  # noqa: PLW0603 - a per-session cache
    if _template is None:
        root = Path(tempfile.mkdtemp(prefix="atr-agent-template-"))
        atexit.register(shutil.rmtree, root, True)
        users = _seed(root / "data", root / "keys", None)
        _template = (root / "data", users)
    return _template


class AgentProcess:
    """One ``atr-agent serve`` subprocess with its own data dir (see the module docstring).

    ``workers``: worker processes (default 1). ``env``: extra environment (``ATR_*``
    settings, e.g. ``{"ATR_CHALLENGE_TTL_SECONDS": "1"}``). ``config``: keys written to
    DATA_DIR/agent.toml. ``database_url``: use that database (e.g. PostgreSQL).
    """

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log_path = root / "agent.log"
        self.workers = workers
        self.database_url = database_url
        self.env = dict(env or {})
        if database_url is not None:
            self.env["ATR_DATABASE_URL"] = database_url
        self.config = dict(config or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.users: dict[str, AgentUser] = {}
        self._log_file: Any = None

    # --- the seeded world --------------------------------------------------------------------

    committee = COMMITTEE
    project = PROJECT
    other_committee = OTHER_COMMITTEE
    other_project = OTHER_PROJECT

    @property
    def admin(self) -> AgentUser:
        return self.users["admin"]

    @property
    def pmc(self) -> AgentUser:
        return self.users["pmc"]

    @property
    def committer(self) -> AgentUser:
        return self.users["committer"]

    @property
    def other(self) -> AgentUser:
        return self.users["other"]

    @property
    def admin_token(self) -> str:
        return self.admin.token

    @property
    def pmc_token(self) -> str:
        return self.pmc.token

    @property
    def committer_token(self) -> str:
        return self.committer.token

    # --- where it listens --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/api/v1/ws"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the agent is not running")
        return self.process.pid

    @property
    def db_path(self) -> Path:
        """The SQLite database file (when no database_url is given)."""
        return self.data_dir / "agent.db"

    # --- helpers -----------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``atr-agent --data-dir DATA_DIR ARGS...`` against this agent's data."""
        return run_cli(self.data_dir, *args, env=self.env, check=check)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An httpx client with base URL :attr:`api_url` (and the bearer token, if given)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.api_url, headers=headers,
                            timeout=kwargs.pop("timeout", 30), **kwargs)  # fmt: skip

    def outbox(self) -> list[EmailMessage]:
        """Every mail the agent wrote to its file outbox (``DATA_DIR/outbox/*.eml``)."""
        found = []
        for path in sorted((self.data_dir / "outbox").glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            found.append(msg)
        return found

    def log_text(self) -> str:
        """What the agent printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- lifecycle ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self.users:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        own_database = "database_url" in self.config or "ATR_DATABASE_URL" in self.env
        if not own_database:
            template, users = _seeded_template()
            shutil.copytree(template, self.data_dir)
            self._write_config()
            self.users = dict(users)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
            self.users = _seed(self.data_dir, self.root / "keys", self.env)

    def _write_config(self) -> None:
        if not self.config:
            return
        lines = []
        for key, value in self.config.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            else:
                text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {text}")
        (self.data_dir / "agent.toml").write_text("\n".join(lines) + "\n")

    def start(self) -> AgentProcess:
        """Seed (first time), start ``serve`` on a free port and wait for /health."""
        if self.process is not None:
            raise RuntimeError("the agent is running already")
        self._prepare()
        self.port = free_port()
        self._log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*agent_command(), "--data-dir", str(self.data_dir), "serve",
             "--host", HOST, "--port", str(self.port), "--workers", str(self.workers)],
            env=_clean_env(self.env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                self._close_log()
                self.process = None
                raise RuntimeError(f"atr-agent exited with {code}:\n{self.log_text()[-4000:]}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"atr-agent did not become healthy:\n{self.log_text()[-4000:]}")

    def stop(self) -> int | None:
        """SIGTERM, wait, then SIGKILL. Returns the exit code (None if it was not running)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._close_log()
        return process.returncode

    def kill(self) -> None:
        """SIGKILL the agent at once (as a crash would)."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(10)
        self._close_log()

    def restart(self) -> AgentProcess:
        """Stop and start again on a new port, keeping the data dir."""
        self.stop()
        return self.start()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AgentFactory:
    """Starts extra agents with their own options and stops them all at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.agents: list[AgentProcess] = []

    def __call__(self, **options: Any) -> AgentProcess:
        """``AgentProcess(**options)`` started in a fresh directory."""
        agent = AgentProcess(self.base / f"agent-{len(self.agents)}", **options)
        self.agents.append(agent)
        return agent.start()

    def stop_all(self) -> None:
        for agent in self.agents:
            agent.stop()


__all__: Sequence[str] = [
    "ADMIN",
    "COMMITTEE",
    "COMMITTER",
    "OTHER",
    "OTHER_COMMITTEE",
    "OTHER_PROJECT",
    "PMC",
    "PROJECT",
    "AgentFactory",
    "AgentProcess",
    "AgentUser",
    "free_port",
    "last_line",
    "run_cli",
]
