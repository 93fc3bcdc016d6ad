"""``atr-agent``: bootstrap, administration commands, configuration errors, demo, workers."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from shared.challenge import parse_challenge
from shared.openpgp import load_key, sign_challenge
from tests.support.agent import AgentProcess, agent_command, free_port, last_line, run_cli
from tests.support.keys import fresh_key, user_key

pytestmark = pytest.mark.integration


def fails(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command exited 2 with one ``error:`` line (and maybe a ``hint:``) on stderr."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), proc.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), proc.stderr
    assert len([line for line in lines if line.startswith("error: ")]) == 1
    for word in words:
        assert word in lines[0], proc.stderr
    return proc.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def admin_key_file(tmp_path: Path) -> Path:
    return user_key("admin").write_public(tmp_path / "admin.asc")


def cli(data_dir: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli(data_dir, *args, env=env, check=False)


def test_bootstrap_prints_an_admin_token_last(data_dir: Path, admin_key_file: Path) -> None:
    proc = cli(data_dir, "bootstrap", "--admin", "root", "--key", str(admin_key_file))
    assert proc.returncode == 0, proc.stderr
    token = last_line(proc)
    assert token.startswith("atr_") and len(token) == 47
    assert (data_dir / "agent.db").is_file()
    assert "root" in proc.stdout and "admin@example.org" in proc.stdout  # email from the key
    listed = cli(data_dir, "token", "list")
    assert "root" in listed.stdout and "admin" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout
    again = cli(data_dir, "bootstrap", "--admin", "other", "--key", str(admin_key_file))
    fails(again, "bootstrapped already", "root")
    assert "atr_" not in again.stdout


def test_bootstrap_refuses_bad_input(tmp_path: Path, data_dir: Path) -> None:
    secret = user_key("admin").write_secret(tmp_path / "secret.asc")
    fails(cli(data_dir, "bootstrap", "--admin", "root", "--key", str(secret)), "SECRET")
    fails(cli(data_dir, "bootstrap", "--admin", "root", "--key", str(tmp_path / "missing.asc")),
          "does not exist")  # fmt: skip
    public = user_key("admin").write_public(tmp_path / "admin.asc")
    fails(cli(data_dir, "bootstrap", "--admin", "Root User", "--key", str(public)), "user name")
    # Nothing was half-made: a correct bootstrap still works.
    ok = cli(data_dir, "bootstrap", "--admin", "root", "--key", str(public))
    assert ok.returncode == 0, ok.stderr


def test_administration_commands(tmp_path: Path, data_dir: Path, admin_key_file: Path) -> None:
    assert (
        cli(data_dir, "bootstrap", "--admin", "root", "--key", str(admin_key_file)).returncode == 0
    )
    out = cli(data_dir, "committee", "add", "widgets", "--display-name", "Apache Widgets")
    assert out.returncode == 0 and "widgets" in out.stdout
    assert cli(data_dir, "committee", "add", "gizmo", "--podling").returncode == 0
    fails(cli(data_dir, "committee", "add", "widgets"), "exists already")
    fails(cli(data_dir, "committee", "add", "Bad_Name"), "committee name")
    listed = cli(data_dir, "committee", "list").stdout
    assert "Apache Widgets" in listed and "gizmo" in listed and "yes" in listed

    assert cli(data_dir, "project", "add", "widgets-core", "--committee", "widgets").returncode == 0
    err = fails(cli(data_dir, "project", "add", "x", "--committee", "nope"), "nope")
    assert "hint: " in err
    assert "widgets-core" in cli(data_dir, "project", "list").stdout

    key = user_key("alice").write_public(tmp_path / "alice.asc")
    proc = cli(data_dir, "user", "add", "alice", "--email", "alice@example.org", "--key",
               str(key), "--pmc", "widgets", "--committer", "gizmo")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pmc of widgets" in proc.stdout and "committer of gizmo" in proc.stdout
    fails(cli(data_dir, "user", "add", "bob", "--email", "bob@example.org", "--key", str(key)),
          "registered already")  # fmt: skip
    fails(cli(data_dir, "user", "add", "carl", "--email", "c@example.org", "--key",
              str(fresh_key("carl").write_public(tmp_path / "carl.asc")),
              "--pmc", "widgets", "--committer", "widgets"), "both")  # fmt: skip
    users = cli(data_dir, "user", "list").stdout
    assert "alice" in users and "pmc:widgets" in users and "committer:gizmo" in users
    assert "carl" not in users
    second_key = fresh_key("alice2", "alice@example.org")
    extra = second_key.write_public(tmp_path / "alice2.asc")
    assert cli(data_dir, "user", "key-add", "alice", "--key", str(extra)).returncode == 0
    assert second_key.fingerprint in cli(data_dir, "user", "list").stdout
    fails(cli(data_dir, "user", "key-add", "nobody", "--key", str(extra)))

    token = cli(data_dir, "token", "create", "--user", "alice", "--project", "widgets-core")
    assert token.returncode == 0 and last_line(token).startswith("atr_")
    assert "role pmc" in token.stdout and "project widgets-core" in token.stdout
    fails(cli(data_dir, "token", "create", "--user", "alice", "--role", "admin"), "admin")
    fails(cli(data_dir, "token", "create", "--user", "nobody"), "nobody")
    fails(cli(data_dir, "token", "create", "--user", "alice", "--project", "nope"), "nope")
    token_id = token.stdout.split("token ")[1].split(" ")[0]
    assert cli(data_dir, "token", "revoke", token_id).returncode == 0
    assert "revoked" in cli(data_dir, "token", "list", "--user", "alice").stdout
    fails(cli(data_dir, "token", "revoke", "99999"), "99999")
    # click's own usage errors exit 2 as well.
    assert cli(data_dir, "token", "revoke", "abc").returncode == 2


def test_configuration_errors_name_the_key(tmp_path: Path, data_dir: Path) -> None:
    fails(cli(data_dir, "migrate", env={"ATR_WORKERS": "many"}), "'workers'", "ATR_WORKERS")
    fails(cli(data_dir, "migrate", env={"ATR_PORT": "70000"}), "'port'")
    data_dir.mkdir(parents=True)
    (data_dir / "agent.toml").write_text('workers = 2\ncolour = "blue"\n')
    fails(cli(data_dir, "migrate"), "'colour'")
    (data_dir / "agent.toml").write_text("workers = [\n")
    fails(cli(data_dir, "migrate"), "not valid TOML")
    (data_dir / "agent.toml").write_text('lease_seconds = "soon"\n')
    fails(cli(data_dir, "migrate"), "'lease_seconds'", "agent.toml")
    (data_dir / "agent.toml").unlink()
    other = tmp_path / "other.toml"
    proc = run_cli(data_dir, "--config", str(tmp_path / "missing.toml"), "migrate", check=False)
    fails(proc, "does not exist")
    other.write_text(f'data_dir = "{tmp_path / "from-config"}"\n')
    proc = subprocess.run(
        [*agent_command(), "--config", str(other), "migrate"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("ATR_")},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "from-config" / "agent.db").is_file()


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*agent_command(), "--data-dir", str(data_dir), "serve", "--port", str(port),
         "--workers", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("ATR_")},
    )  # fmt: skip


def _wait_health(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    pytest.fail("the agent did not start")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def test_demo_seeds_idempotently_and_its_key_logs_in(data_dir: Path) -> None:
    first = cli(data_dir, "demo")
    assert first.returncode == 0, first.stderr
    secret = data_dir / "demo" / "demo-secret.asc"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    text = secret.read_text()
    assert "DEMO KEY" in text and "PRIVATE KEY BLOCK" in text
    assert last_line(first).startswith("atr_") and "demo" in first.stdout
    second = cli(data_dir, "demo")
    assert second.returncode == 0, second.stderr
    assert secret.read_text() == text, "a second run keeps the demo key"
    assert "created" not in second.stdout
    assert cli(data_dir, "project", "list").stdout.count("demo-project") == 1

    port = free_port()
    proc = _serve(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_health(url, proc)
        key = load_key(text)
        with httpx.Client(base_url=f"{url}/api/v1") as c:
            ch = c.post("/auth/challenge", json={"user": "demo"}).json()
            challenge = parse_challenge(ch["challenge"])
            signature = sign_challenge(key, challenge.render(), purpose=challenge.purpose)
            r = c.post("/auth/login", json={"challenge_id": ch["challenge_id"],
                                            "signature": signature})  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()["user"]["memberships"] == [{"committee": "demo", "role": "pmc"}]
            me = c.get("/users/me", headers={"Authorization": f"Bearer {last_line(second)}"})
            assert me.json()["name"] == "demo"
    finally:
        code = _stop(proc)
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert code in (0, -signal.SIGTERM)
    assert proc.stderr is not None and b"Application shutdown complete" in proc.stderr.read()


def test_serve_on_a_busy_port_fails_clearly(data_dir: Path, admin_key_file: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = cli(data_dir, "serve", "--port", str(port), "--workers", "0")
    fails(proc, str(port))


def test_workers_command_runs_workers_until_sigterm(agent_factory) -> None:
    agent = agent_factory(workers=0)  # only the workers started here run tasks
    fails(agent.cli("workers", "--workers", "0", check=False), "at least 1")
    proc = subprocess.Popen(
        [*agent_command(), "--data-dir", str(agent.data_dir), "workers", "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        version = f"6.0.{time.time_ns() % 10**8}"
        with agent.client(agent.committer_token) as c:
            c.post(f"/projects/{agent.project}/releases", json={"version": version})
            blob = c.post("/uploads", content=b"w").json()
            c.post(
                f"/projects/{agent.project}/releases/{version}/revisions",
                json={"files": {"w": blob["sha256"]}},
            ).raise_for_status()
            ids = []
            for _ in range(4):
                task = {"type": "inventory", "project": agent.project, "version": version}
                ids.append(c.post("/tasks", json=task).json()["id"])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = {c.get(f"/tasks/{i}").json()["state"] for i in ids}
                if states == {"succeeded"}:
                    break
                time.sleep(0.2)
            assert states == {"succeeded"}
        assert proc.poll() is None
    finally:
        code = _stop(proc)
    assert code == 0, proc.stderr.read() if proc.stderr else ""


def test_cli_token_works_against_the_running_agent(agent: AgentProcess) -> None:
    proc = agent.cli("token", "create", "--user", "bob", "--project", agent.project,
                     "--label", "cli test")  # fmt: skip
    token = last_line(proc)
    with agent.client(token) as c:
        assert c.get("/users/me").json()["name"] == "bob"
        r = c.post(f"/projects/{agent.other_project}/releases", json={"version": "1.0"})
        assert r.status_code == 403
    token_id = proc.stdout.split("token ")[1].split(" ")[0]
    agent.cli("token", "revoke", token_id)
    with agent.client(token) as c:
        assert c.get("/users/me").status_code == 401


def test_the_example_config_is_valid(data_dir: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "packaging" / "agent.example.toml"
    proc = run_cli(data_dir, "--config", str(example), "migrate", check=False)
    assert proc.returncode == 0, proc.stderr
    assert (data_dir / "agent.db").is_file()  # --data-dir wins over the file's data_dir
