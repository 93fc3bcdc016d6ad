"""A token never creates a token with more reach than itself: project, role and lifetime.

The whole matrix (creating token by token asked for) against agent.store on a real SQLite
database. Each row says what is expected in words, not by re-running the rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent import store
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.store import Forbidden, Principal, Store
from shared.errors import ValidationError
from shared.protocol import (
    CommitteeCreate,
    Membership,
    ProjectCreate,
    Role,
    TokenCreate,
    UserCreate,
)
from tests.support.keys import user_key

MAX_DAYS = 366
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    path: Path = tmp_path_factory.mktemp("reach") / "agent.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, Principal.operator()).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_committee(CommitteeCreate(name="globex"))
        for key, committee in (
            ("acme-lib", "acme"),
            ("acme-web", "acme"),
            ("globex-app", "globex"),
        ):
            admin.create_project(ProjectCreate(key=key, committee=committee))
        for name, is_admin, memberships in (
            ("alice", False, [Membership(committee="acme", role=Role.PMC)]),
            ("bob", False, [Membership(committee="acme", role=Role.COMMITTER)]),
            ("root", True, []),
        ):
            admin.create_user(
                UserCreate(
                    name=name,
                    email=f"{name}@example.org",
                    public_key=user_key(name).public_armor,
                    is_admin=is_admin,
                    memberships=memberships,
                )
            )
    yield factory
    engine.dispose()


@dataclass(frozen=True)
class Creator:
    """The token that asks for a new one."""

    user: str
    role: Role
    project: str | None
    days_left: float


ALICE_PMC = Creator("alice", Role.PMC, None, 90)
ALICE_SCOPED = Creator("alice", Role.PMC, "acme-lib", 90)
ALICE_COMMITTER = Creator("alice", Role.COMMITTER, None, 90)
ALICE_SESSION = Creator("alice", Role.PMC, None, 0.5)  # a 12-hour desktop login
BOB = Creator("bob", Role.COMMITTER, None, 90)
BOB_SCOPED = Creator("bob", Role.COMMITTER, "acme-lib", 90)
ROOT = Creator("root", Role.ADMIN, None, 300)
ROOT_SCOPED = Creator("root", Role.ADMIN, "acme-lib", 300)


def principal(factory: sessionmaker[Session], creator: Creator) -> Principal:
    with factory() as session:
        user = session.scalars(select(models.User).where(models.User.name == creator.user)).one()
        token = models.ApiToken(
            id=1,
            role=creator.role.value,
            project=creator.project,
            expires_at=NOW + timedelta(days=creator.days_left),
        )
        return store.principal_for_user(user, token=token)


OK = None
# (creator, project asked, role asked, days asked (None: default)) → None (allowed) or the
# error class and a word of its message
CASES: list[tuple[Creator, str | None, Role, int | None, tuple[type, str] | None]] = [
    # project: a limited token creates tokens for its own project only
    (ALICE_PMC, None, Role.PMC, 30, OK),
    (ALICE_PMC, "acme-web", Role.PMC, 30, OK),
    (ALICE_SCOPED, "acme-lib", Role.PMC, 30, OK),
    (ALICE_SCOPED, None, Role.COMMITTER, 30, (Forbidden, "limited to project 'acme-lib'")),
    (ALICE_SCOPED, "acme-web", Role.COMMITTER, 30, (Forbidden, "limited to project 'acme-lib'")),
    (BOB_SCOPED, None, Role.COMMITTER, 30, (Forbidden, "every project")),
    (BOB_SCOPED, "acme-lib", Role.COMMITTER, 30, OK),
    (ROOT_SCOPED, None, Role.ADMIN, 30, (Forbidden, "limited to project")),
    (ROOT_SCOPED, "acme-lib", Role.ADMIN, 30, (Forbidden, "needs a token with that role")),
    (ROOT_SCOPED, "acme-lib", Role.PMC, 30, OK),
    # role: no higher than the creating token's, nor than the user's own
    (ALICE_COMMITTER, None, Role.PMC, 30, (Forbidden, "needs a token with that role")),
    (ALICE_COMMITTER, None, Role.COMMITTER, 30, OK),
    (ALICE_PMC, None, Role.ADMIN, 30, (ValidationError, "holds the role 'pmc'")),
    (ALICE_PMC, "globex-app", Role.COMMITTER, 30, (ValidationError, "'public'")),
    (BOB, "acme-lib", Role.PMC, 30, (ValidationError, "holds the role 'committer'")),
    (ROOT, None, Role.ADMIN, 30, OK),
    # lifetime: never beyond the creating token, never beyond the operator's ceiling
    (ALICE_SESSION, None, Role.PMC, 1, (Forbidden, "cannot outlive it")),
    (ALICE_SESSION, None, Role.PMC, 3650, (ValidationError, "at most 366 days")),
    (ALICE_SESSION, None, Role.PMC, None, OK),  # default: until the session ends
    (ALICE_PMC, None, Role.PMC, 91, (Forbidden, "cannot outlive it")),
    (ALICE_PMC, None, Role.PMC, None, OK),
    (ROOT, None, Role.ADMIN, 299, OK),
    (ROOT, None, Role.ADMIN, 301, (Forbidden, "cannot outlive it")),
    (ROOT, None, Role.ADMIN, 400, (ValidationError, "at most 366 days")),
]


@pytest.mark.parametrize(("creator", "project", "role", "days", "expected"), CASES)
def test_token_reach(
    factory: sessionmaker[Session],
    creator: Creator,
    project: str | None,
    role: Role,
    days: int | None,
    expected: tuple[type, str] | None,
) -> None:
    body = TokenCreate(project=project, role=role, expires_in_days=days)
    creating = principal(factory, creator)
    if expected is not None:
        error, words = expected
        with pytest.raises(error, match=words), transaction(factory) as session:
            Store(session, creating).as_user().create_token(body, max_days=MAX_DAYS)
        return
    with transaction(factory) as session:
        created = Store(session, creating).as_user().create_token(body, max_days=MAX_DAYS)
    info = created.info
    assert info.project == project and info.role is role
    parent_expires = NOW + timedelta(days=creator.days_left)
    assert info.expires_at <= parent_expires
    if days is None:  # the default: 90 days or the creator's end, whichever is sooner
        wanted = min(datetime.now(UTC) + timedelta(days=90), parent_expires)
        assert abs((info.expires_at - wanted).total_seconds()) < 60


def test_an_admin_creating_for_another_user_is_bounded_the_same_way(
    factory: sessionmaker[Session],
) -> None:
    scoped = principal(factory, ROOT_SCOPED)
    with pytest.raises(Forbidden), transaction(factory) as session:
        # a limited token never administers, so it cannot create tokens for others at all
        Store(session, scoped).as_admin()
    root = principal(factory, ROOT)
    with pytest.raises(Forbidden, match="cannot outlive"), transaction(factory) as session:
        Store(session, root).as_admin().create_token(
            TokenCreate(user="bob", expires_in_days=365), max_days=MAX_DAYS
        )
    with transaction(factory) as session:
        made = (
            Store(session, root)
            .as_admin()
            .create_token(
                TokenCreate(user="bob", project="acme-lib", expires_in_days=30), max_days=MAX_DAYS
            )
        )
    assert made.info.user == "bob" and made.info.project == "acme-lib"
