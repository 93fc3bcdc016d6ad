"""Several agents on one PostgreSQL database decide each vote exactly once.

Two VoteService instances, each with its own engine (as two agents would have),
decide the same expired votes at the same moment. Each decision claims its vote
with ``UPDATE votes SET state=... WHERE id=... AND state='open'``: one agent wins,
the other finds nothing to do. Exactly one ``vote.decided`` event, one phase
change and one [RESULT] mail per vote.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent.config import Settings
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.mail import MailTemplates
from agent.store import Principal, Store
from agent.votes.service import VoteService
from shared.protocol import CommitteeCreate, ProjectCreate, ReleaseCreate
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

VOTES = 4


def seed(factory, *, votes: int) -> list[int]:
    """Releases in phase vote, each with an expired open vote and three binding +1."""
    ids = []
    now = datetime.now(UTC)
    with transaction(factory) as session:
        store = Store(session, Principal.operator())
        admin = store.as_admin()
        admin.create_committee(CommitteeCreate(name="acme", display_name="Apache Acme"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme", name="Acme Library"))
        committee = session.scalar(select(models.Committee).where(models.Committee.name == "acme"))
        users = []
        for name in ("alice", "dave", "erin"):
            user = models.User(name=name, email=f"{name}@example.org")
            session.add(user)
            session.flush()
            session.add(models.Membership(user_id=user.id, committee_id=committee.id, role="pmc"))
            users.append(user)
        blob = models.Blob(sha256="a" * 64, sha512="b" * 128, size=10)
        session.add(blob)
        writer = store.as_committer("acme-lib")
        for i in range(votes):
            version = f"1.0.{i}"
            writer.create_release(ReleaseCreate(version=version))
            release = session.scalar(
                select(models.Release).where(models.Release.version == version)
            )
            revision = models.Revision(release=release, number=1, created_by="bob")
            session.add(revision)
            session.flush()
            session.add(
                models.RevisionFile(revision_id=revision.id, path="a.tar.gz", blob_sha256="a" * 64)
            )
            # The phase is set here directly: this test is about deciding, not the checks gate.
            release.phase = "vote"
            vote = models.Vote(
                release_id=release.id,
                revision_id=revision.id,
                list_address="dev@acme-lib.apache.org",
                started_by="bob",
                started_at=now - timedelta(hours=73),
                ends_at=now - timedelta(minutes=1),
                state="open",
                tally={"subject": f"[VOTE] Release Acme Library {version}"},
                thread_message_id=f"<vote-{i}@example.org>",
            )
            session.add(vote)
            session.flush()
            for user in users:
                session.add(
                    models.Ballot(
                        vote_id=vote.id,
                        user_id=user.id,
                        voter=user.name,
                        value=1,
                        binding=True,
                        source="desktop",
                        cast_at=now - timedelta(hours=1),
                    )
                )
            ids.append(vote.id)
    return ids


def test_two_agents_decide_each_vote_once(postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database()
    engines = [make_engine(url) for _ in range(2)]
    try:
        migrate(engines[0])
        factories = [make_session_factory(e) for e in engines]
        vote_ids = seed(factories[0], votes=VOTES)
        settings = Settings(data_dir=tmp_path, database_url=url)
        services = [
            VoteService(
                transaction=lambda f=f: transaction(f),
                read=f,
                settings=settings,
                templates=MailTemplates(tmp_path),
            )
            for f in factories
        ]
        barrier = threading.Barrier(2)
        decided: list[list[int]] = [[], []]
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                now = datetime.now(UTC)
                due = services[i].due_votes(now)
                assert due == vote_ids
                barrier.wait()  # both agents saw every vote open and due
                decided[i] = [v for v in due if services[i].decide(v, now)]
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sorted(decided[0] + decided[1]) == vote_ids  # each vote once, by one agent

        with factories[0]() as session:

            def count(query) -> int:
                return int(session.scalar(query) or 0)

            assert (
                count(
                    select(func.count())
                    .select_from(models.Event)
                    .where(models.Event.kind == "vote.decided")
                )
                == VOTES
            )
            assert (
                count(
                    select(func.count())
                    .select_from(models.OutboxMessage)
                    .where(models.OutboxMessage.kind == "result")
                )
                == VOTES
            )
            moves = session.scalars(
                select(models.Event).where(models.Event.kind == "release.phase_changed")
            ).all()
            assert sorted((e.version, e.data["to"]) for e in moves) == sorted(
                (f"1.0.{i}", "passed") for i in range(VOTES)
            )
            states = set(session.scalars(select(models.Vote.state)))
            assert states == {"passed"}
        # a second pass finds nothing left
        assert services[0].decide_due() == [] and services[1].decide_due() == []
    finally:
        for engine in engines:
            engine.dispose()
