"""A pushed release tag (GitHub/GitBox webhook) → the source archive → a release to sign.

Against real parts: an agent with a worker, a bare git repository on disk, HMAC-signed
deliveries. The refusals: a tampered body, a missing or wrong signature, a replay of the
same push under another delivery id; a redelivery is a no-op; a moved tag is refused.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.integration.test_cli import atr
from tests.integration.trigger_support import (
    SECRET,
    bare_repository,
    deliver,
    events,
    git,
    push_payload,
    set_triggers,
    wait_event,
)
from tests.integration.vote_support import client
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def test_tag_push_builds_composes_and_asks_to_sign(agent_factory, tmp_path):
    agent = agent_factory(workers=1, config={"git_local_allowed": True})  # a bare repo on disk
    bare, commits = bare_repository(tmp_path / "git", ["v1.0.0-rc1", "v1.0.0-rc2"])
    set_triggers(
        agent,
        git_url=str(bare),
        webhook_secret="a-webhook-secret-of-some-length",
        release_manager="bob",
        tag_pattern="v{version}-rc{rc}",
    )

    # refusals before anything is read
    body = push_payload("v1.0.0-rc1", commits["v1.0.0-rc1"])
    r = deliver(agent, body, signature="sha256=" + "0" * 64)
    assert r.status_code == 401 and "does not match" in r.json()["message"]
    r = deliver(agent, body + b" ", signature=None, secret="another-secret-entirely")
    assert r.status_code == 401
    tampered = body.replace(b"bob", b"eve")
    good_sig = (
        "sha256="
        + __import__("hmac")
        .new(b"a-webhook-secret-of-some-length", body, hashlib.sha256)
        .hexdigest()
    )
    r = deliver(agent, tampered, signature=good_sig)
    assert r.status_code == 401
    # not a release tag, a branch, a ping: nothing starts
    assert (
        deliver(agent, push_payload("docs-1", commits["v1.0.0-rc1"])).json()["status"] == "ignored"
    )
    assert deliver(agent, b"{}", event="ping").json()["status"] == "ignored"

    r = deliver(agent, body, delivery="delivery-1")
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["version"] == "1.0.0"
    # a redelivery of the same delivery: a no-op
    again = deliver(agent, body, delivery="delivery-1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # a replay of the same push under another delivery id: refused
    replay = deliver(agent, body, delivery="delivery-forged")
    assert replay.status_code == 409 and "replay" in replay.json()["message"]
    (refused,) = events(agent, "trigger.refused")  # kept, though nothing started
    assert refused["data"]["delivery"] == "delivery-forged"
    assert refused["data"]["replay_of"] == "delivery-1"

    requested = wait_event(agent, "release.signatures_requested", version="1.0.0")
    assert requested[0]["data"]["release_manager"] == "bob"
    assert requested[0]["data"]["files"] == ["apache-acme-lib-1.0.0-src.tar.gz"]
    assert wait_event(agent, "checks.queued", version="1.0.0")
    with client(agent, agent.committer_token) as c:
        release = c.get(f"/projects/{PROJECT}/releases/1.0.0").json()
        assert release["created_by"] == "bob" and release["phase"] == "compose"
        revision = c.get(f"/projects/{PROJECT}/releases/1.0.0/revisions/latest").json()
        paths = sorted(f["path"] for f in revision["files"])
        assert paths == [
            "apache-acme-lib-1.0.0-src.tar.gz",
            "apache-acme-lib-1.0.0-src.tar.gz.sha512",
        ]
        build = c.get(f"/projects/{PROJECT}/releases/1.0.0/revisions/1/build").json()
        assert build["source"] == "webhook"
        assert build["facts"]["commit"] == commits["v1.0.0-rc1"]
        archive = next(f for f in revision["files"] if f["path"].endswith(".tar.gz"))
        assert build["facts"]["archive_sha512"] == archive["sha512"]
        record = build["record"]  # this agent built it: its SLSA build record
        assert record["build_type"] == "https://atr.apache.org/buildtypes/tag-archive/v1"
        assert record["commit"] == commits["v1.0.0-rc1"]
        assert record["ref"] == "refs/tags/v1.0.0-rc1"
        assert record["builder_id"].startswith("https://atr.apache.org/builders/atr-agent@")
        nxt = c.get(f"/projects/{PROJECT}/releases/1.0.0/next").json()
        assert nxt["steps"][0]["kind"] == "sign" and "bob" in nxt["steps"][0]["who"]
        waiting = c.get("/waiting").json()
        assert [(w["version"], w["step"]["kind"]) for w in waiting] == [("1.0.0", "sign")]
    (created,) = events(agent, "release.created", version="1.0.0")
    assert created["actor"] == "trigger.webhook" and created["data"]["source"] == "webhook"
    received = [e for e in events(agent, "trigger.received") if e["data"]["source"] == "webhook"]
    assert [e["data"]["delivery"] for e in received] == ["delivery-1"]
    # the CLI says the same: atr release next, atr waiting, atr triggers settings
    shown = atr(
        agent, "release", "next", PROJECT, "1.0.0", token=agent.committer_token, tmp_path=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "[waiting for the release manager (bob)] Sign 1 artifact(s)" in shown.stdout
    assert "$ atr download acme-lib 1.0.0" in shown.stdout
    mine = atr(agent, "waiting", token=agent.committer_token, tmp_path=tmp_path)
    assert "Sign 1 artifact(s) on your own machine" in mine.stdout
    alices = atr(agent, "waiting", token=agent.pmc_token, tmp_path=tmp_path)
    assert alices.stdout.strip() == "nothing waits for you"  # bob is the release manager
    conf = atr(
        agent, "triggers", "settings", PROJECT, token=agent.committer_token, tmp_path=tmp_path
    )
    assert "webhook_secret_set True" in " ".join(conf.stdout.split()) and SECRET not in conf.stdout

    # rc2: the same release, a new revision; the archive is rebuilt for that tag
    r = deliver(agent, push_payload("v1.0.0-rc2", commits["v1.0.0-rc2"]), delivery="delivery-2")
    assert r.status_code == 202, r.text
    wait_event(agent, "release.signatures_requested", version="1.0.0", count=2)

    # a push whose tag has moved since (or is forged): refused by the task
    git(
        "tag",
        "-f",
        "-a",
        "v1.0.0-rc3",
        "-m",
        "x",
        commits["v1.0.0-rc1"],
        cwd=tmp_path / "git" / "work",
    )
    git("push", "-q", "-f", str(bare), "--tags", cwd=tmp_path / "git" / "work")
    r = deliver(agent, push_payload("v1.0.0-rc3", "f" * 40), delivery="delivery-3")
    assert r.status_code == 202
    finished = wait_event(agent, "trigger.finished", count=3)
    moved = next(e for e in finished if e["data"]["delivery"] == "delivery-3")
    assert moved["data"]["state"] == "failed" and "not at ffffffffffff" in moved["data"]["detail"]


def test_no_secret_no_webhook(agent_factory):
    agent = agent_factory(workers=0)
    r = deliver(agent, push_payload("v1.0.0-rc1", "a" * 40))
    assert r.status_code == 401 and "no webhook secret" in r.json()["message"]
