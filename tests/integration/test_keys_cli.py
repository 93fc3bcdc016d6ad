"""``atr keys`` and ``atr-agent keys`` against a real agent: importing a KEYS file with dozens of
real GnuPG keys and unreadable blocks (the exact ``--json`` answer), re-importing it, listing,
and the generated KEYS file that ``gpg --import`` reads back whole."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.cli import ExitCode
from shared.protocol import EventKind
from tests.support.agent import AgentFactory, AgentProcess
from tests.support.gpg import GPG, KINDS, GpgFactory, gpg_factory, kill_agent
from tests.support.keymaker import KeyMaker, key_maker
from tests.support.keys import user_key

__all__ = ["gpg_factory", "key_maker"]  # session fixtures

pytestmark = pytest.mark.integration

ATR = Path(sys.executable).parent / "atr"
FILLERS = 30
EXPECTED_SKIPPED = [
    {"block": 1, "reason": "GnuPG cannot read the key in it (damaged or unsupported key)"},
    {
        "block": 4,
        "reason": "a PGP 2.x era key (version 3 key packet) that no current OpenPGP library reads",
    },
    {"block": 6, "reason": "the armor is not valid base64 (Only base64 data is allowed)"},
    {"block": 44, "reason": "the armor checksum does not match: the block is damaged"},
    {"block": 45, "reason": "the block has no END line: it is truncated"},
]
EXPECTED_FLAGS = {
    "rsa1024": ["weak"],
    "dsa": ["dsa"],
    "expired": ["expired"],
    "revoked": ["revoked"],
    "weak_subkey": ["weak"],
}


def atr(
    agent: AgentProcess, token: str | None, *args: str, tmp: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    options = ["--agent", agent.url] + (["--token", token] if token else [])
    return subprocess.run(
        [str(ATR), *options, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def keys_file(
    gpg_factory: GpgFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    """A KEYS file: every kind of key, 30 other committers' keys, five unreadable blocks, and
    bob's registered key last (block 46). Returns it and the fingerprints it holds, in order."""
    text = gpg_factory.keys_file(list(KINDS), fillers=FILLERS, broken=True)
    bob = user_key("bob")
    text += f"pub   rsa2048\nuid   Bob <{bob.email}>\n\n{bob.public_armor}\n"
    path = tmp_path_factory.mktemp("keys") / "KEYS"
    path.write_text(text)
    fingerprints = [gpg_factory.key(k).fingerprint for k in KINDS]
    fingerprints += [k.fingerprint for k in gpg_factory.fillers(FILLERS)]
    fingerprints.append(bob.fingerprint)
    return path, fingerprints


@pytest.fixture(scope="module")
def fresh_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    factory = AgentFactory(tmp_path_factory.mktemp("keys-agents"))
    try:
        yield factory(workers=0)
    finally:
        factory.stop_all()


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="atr-test-imp-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def events(agent: AgentProcess, kind: EventKind, project: str) -> list[dict[str, Any]]:
    with agent.client(agent.admin_token) as c:
        page = c.get("/events", params={"since": 0, "limit": 1000, "project": project}).json()
    return [e for e in page["events"] if e["kind"] == kind.value]


def test_import_json_is_exact_and_idempotent(
    fresh_agent: AgentProcess,
    keys_file: tuple[Path, list[str]],
    gpg_factory: GpgFactory,
    tmp_path: Path,
) -> None:
    path, fingerprints = keys_file
    expected = {"imported": fingerprints, "skipped": EXPECTED_SKIPPED}
    done = atr(
        fresh_agent,
        fresh_agent.pmc_token,
        "keys",
        "import",
        "acme-lib",
        str(path),
        "--json",
        tmp=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
    assert len(fingerprints) == len(KINDS) + FILLERS + 1 == 41

    listed = atr(
        fresh_agent, fresh_agent.pmc_token, "keys", "list", "acme-lib", "--json", tmp=tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    keys = {k["fingerprint"]: k for k in json.loads(listed.stdout)}
    assert set(keys) == set(fingerprints)
    for kind in KINDS:
        assert keys[gpg_factory.key(kind).fingerprint]["flags"] == EXPECTED_FLAGS.get(kind, []), (
            kind
        )
    assert keys[gpg_factory.key("revoked").fingerprint]["state"] == "revoked"
    assert keys[gpg_factory.key("expired").fingerprint]["state"] == "expired"
    assert keys[user_key("bob").fingerprint]["owner"] == "bob"
    assert keys[gpg_factory.key("rsa4096").fingerprint]["owner"] is None
    assert {k["added_by"] for k in keys.values()} == {"alice"}

    # The same file again: the same answer, and nothing stored changes.
    again = atr(
        fresh_agent,
        fresh_agent.pmc_token,
        "keys",
        "import",
        "acme-lib",
        str(path),
        "--json",
        tmp=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == expected
    relisted = json.loads(
        atr(
            fresh_agent, fresh_agent.pmc_token, "keys", "list", "acme-lib", "--json", tmp=tmp_path
        ).stdout
    )
    assert {k["fingerprint"]: k for k in relisted} == keys
    imports = events(fresh_agent, EventKind.KEYS_IMPORTED, "acme-lib")
    assert [len(e["data"]["added"]) for e in imports] == [41, 0]
    assert imports[1]["data"]["updated"] == [] and imports[1]["data"]["unchanged"] == 41
    assert imports[0]["data"]["skipped"] == EXPECTED_SKIPPED
    revoked = events(fresh_agent, EventKind.KEY_REVOKED, "acme-lib")
    assert [e["data"]["fingerprint"] for e in revoked] == [gpg_factory.key("revoked").fingerprint]

    # Text output names every key and block.
    text = atr(
        fresh_agent, fresh_agent.pmc_token, "keys", "import", "acme-lib", str(path), tmp=tmp_path
    )
    assert text.returncode == 0
    assert text.stdout.splitlines()[0] == "imported 41 key(s) into acme-lib; skipped 5 block(s)"
    assert "  skipped   block 4: a PGP 2.x era key" in text.stdout


def test_generated_keys_file_imports_every_key(
    fresh_agent: AgentProcess,
    keys_file: tuple[Path, list[str]],
    gpg_factory: GpgFactory,
    tmp_path: Path,
    gpg_home: Path,
) -> None:
    _, fingerprints = keys_file
    out = tmp_path / "KEYS.generated"
    # Public: no token at all.
    done = atr(fresh_agent, None, "keys", "file", "acme-lib", "-o", str(out), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    imported = subprocess.run(
        [GPG, "--homedir", str(gpg_home), "--batch", "--import", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert f"Total number processed: {len(fingerprints)}" in imported.stderr, imported.stderr
    listing = subprocess.run(
        [GPG, "--homedir", str(gpg_home), "--batch", "--with-colons", "--list-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pubs = [line.split(":") for line in listing.splitlines() if line.startswith("pub:")]
    assert len(pubs) == len(fingerprints)
    validity: dict[str, str] = {}
    current = None
    for line in listing.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            current = fields[1]
        elif fields[0] == "fpr" and current is not None:
            validity[fields[9]] = current
            current = None
        elif fields[0] == "sub":
            current = None
    assert validity[gpg_factory.key("revoked").fingerprint] == "r"
    assert validity[gpg_factory.key("expired").fingerprint] == "e"
    # Keys imported together share their time: KEYS lists them by fingerprint.
    order = [
        line.strip()
        for line in text.splitlines()
        if line.startswith("      ") and len(line.strip()) == 40
    ]
    assert order == sorted(fingerprints)


def test_committer_cannot_import(
    fresh_agent: AgentProcess, keys_file: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = keys_file
    done = atr(
        fresh_agent,
        fresh_agent.committer_token,
        "keys",
        "import",
        "acme-lib",
        str(path),
        "--json",
        tmp=tmp_path,
    )
    assert done.returncode == ExitCode.AUTH
    assert "needs the 'pmc' role on project 'acme-lib'" in done.stderr
    missing = atr(
        fresh_agent,
        fresh_agent.pmc_token,
        "keys",
        "import",
        "acme-lib",
        str(tmp_path / "nope"),
        tmp=tmp_path,
    )
    assert missing.returncode == ExitCode.USAGE
    assert "does not exist" in missing.stderr


def test_operator_import_and_list(
    agent_factory: AgentFactory, keys_file: tuple[Path, list[str]]
) -> None:
    path, fingerprints = keys_file
    agent = agent_factory(workers=0)
    done = agent.cli("keys", "import", "globex-app", str(path), "--json")
    assert json.loads(done.stdout) == {"imported": fingerprints, "skipped": EXPECTED_SKIPPED}
    listed = agent.cli("keys", "list", "globex-app")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["FINGERPRINT", "STATE", "KEY", "USER", "ID", "OWNER", "FLAGS"]
    assert len(lines) == 1 + len(fingerprints)
    # bob is no committer of globex: his key is kept, without an owner.
    with agent.client(agent.other.token) as carol:
        keys = {k["fingerprint"]: k for k in carol.get("/projects/globex-app/keys").json()}
    assert keys[user_key("bob").fingerprint]["owner"] is None
    assert keys[user_key("bob").fingerprint]["added_by"] == "atr-agent"
    imports = events(agent, EventKind.KEYS_IMPORTED, "globex-app")
    assert imports and imports[0]["actor"] == "atr-agent"
    bad = agent.cli("keys", "import", "no-such-project", str(path), check=False)
    assert bad.returncode == 2 and "no project 'no-such-project'" in bad.stderr


def test_add_list_and_revoke_as_text(
    fresh_agent: AgentProcess, key_maker: KeyMaker, tmp_path: Path
) -> None:
    key = key_maker.make(key_maker.unique("Bob Text", "bob@example.org"), "rsa2048")
    key_file = tmp_path / "bob.asc"
    key_file.write_text(key.public)
    token = fresh_agent.committer_token
    added = atr(fresh_agent, token, "keys", "add", "acme-lib", str(key_file), tmp=tmp_path)
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    assert lines[0] == f"key {key.fingerprint} is in the KEYS of acme-lib"
    assert lines[1] == f"{key.fingerprint}  valid"
    assert f"  uid:      {key.user_id}" in lines
    assert any(line.startswith("  owner:    bob; added ") for line in lines)

    listed = atr(fresh_agent, token, "keys", "list", "acme-lib", tmp=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == [
        "fingerprint",
        "state",
        "key",
        "user",
        "id",
        "owner",
        "flags",
    ]
    row = next(line for line in listed.stdout.splitlines() if line.startswith(key.fingerprint))
    assert row.split()[1:4] == ["valid", "RSA", "2048"] and row.split()[-1] == "bob"

    cert = tmp_path / "bob.rev"
    cert.write_text(key_maker.revocation_certificate(key))
    revoked = atr(fresh_agent, token, "keys", "revoke", "acme-lib", str(cert), tmp=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    lines = revoked.stdout.splitlines()
    assert lines[0] == f"key {key.fingerprint} of acme-lib is revoked"
    assert any(line.startswith("  revoked:  ") and "(no reason given)" in line for line in lines)
    assert lines[-1] == "no release of the project carries a signature by it"

    # Errors: a missing file, and a key of nobody in the project (400 → exit 2).
    gone = atr(
        fresh_agent, token, "keys", "add", "acme-lib", str(tmp_path / "missing.asc"), tmp=tmp_path
    )
    assert gone.returncode == ExitCode.USAGE and "does not exist" in gone.stderr
    stranger = key_maker.make(key_maker.unique("Nobody", "nobody@example.org"))
    key_file.write_text(stranger.public)
    refused = atr(fresh_agent, token, "keys", "add", "acme-lib", str(key_file), tmp=tmp_path)
    assert refused.returncode == ExitCode.USAGE
    assert "belongs to no committer of project 'acme-lib'" in refused.stderr
    assert "hint: rule: " in refused.stderr
