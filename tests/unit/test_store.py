"""agent.store on a real SQLite database: role tiers, events of every write, revisions, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agent import store
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.store import Conflict, Forbidden, NotFound, Principal, Store
from shared.errors import TransitionError, ValidationError
from shared.lifecycle import Phase
from shared.protocol import (
    BlobInfo,
    CommitteeCreate,
    Membership,
    ProjectCreate,
    ReleaseCreate,
    RevisionCreate,
    Role,
    TaskCreate,
    TaskType,
    TokenCreate,
    TransitionRequest,
    UserCreate,
)
from tests.support.keys import user_key

OPERATOR = Principal.operator()


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = Store(session, OPERATOR).as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_committee(CommitteeCreate(name="globex"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme"))
        admin.create_project(ProjectCreate(key="globex-app", committee="globex"))
        for name, committee, role in (
            ("alice", "acme", Role.PMC),
            ("bob", "acme", Role.COMMITTER),
            ("carol", "globex", Role.PMC),
        ):
            admin.create_user(
                UserCreate(
                    name=name,
                    email=f"{name}@example.org",
                    public_key=user_key(name).public_armor,
                    memberships=[Membership(committee=committee, role=role)],
                )
            )
    yield factory
    engine.dispose()


def principal(factory: sessionmaker[Session], name: str, *, role: Role = Role.ADMIN,
              project: str | None = None) -> Principal:  # fmt: skip
    """The principal of user ``name`` through a token of ``role`` (capped by their own)."""
    with factory() as session:
        user = session.scalars(select(models.User).where(models.User.name == name)).one()
        token = models.ApiToken(id=1, role=role.value, project=project)
        return store.principal_for_user(user, token=token)


def events(factory: sessionmaker[Session], kind: str) -> list[models.Event]:
    with factory() as session:
        return list(session.scalars(select(models.Event).where(models.Event.kind == kind)))


def add_blob(factory: sessionmaker[Session], who: Principal, byte: str) -> str:
    info = BlobInfo(sha256=byte * 64, sha512=byte * 128, size=len(byte))
    with transaction(factory) as session:
        Store(session, who).as_uploader().record_blob(info)
    return info.sha256


def test_effective_role_is_the_lower_of_token_and_user() -> None:
    alice = Principal(name="alice", user_id=1, is_admin=False, token_role=Role.ADMIN,
                      memberships={"acme": Role.PMC})  # fmt: skip
    assert alice.role_for("acme-lib", "acme") is Role.PMC
    assert alice.role_for("globex-app", "globex") is Role.PUBLIC
    capped = Principal(name="alice", user_id=1, is_admin=False, token_role=Role.COMMITTER,
                       memberships={"acme": Role.PMC})  # fmt: skip
    assert capped.role_for("acme-lib", "acme") is Role.COMMITTER
    scoped = Principal(name="root", user_id=2, is_admin=True, token_role=Role.ADMIN,
                       token_project="acme-lib")  # fmt: skip
    assert scoped.role_for("acme-lib", "acme") is Role.ADMIN
    assert scoped.role_for("globex-app", "globex") is Role.PUBLIC
    assert scoped.admin_role is Role.PMC  # a project-scoped token never administers
    assert OPERATOR.admin_role is Role.ADMIN


def test_tiers_are_handed_out_by_role(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob")
    alice = principal(factory, "alice")
    carol = principal(factory, "carol")
    with factory() as session:
        with pytest.raises(Forbidden, match="'admin'"):
            Store(session, alice).as_admin()
        with pytest.raises(Forbidden, match=r"'pmc'.*'acme-lib'"):
            Store(session, bob).as_pmc("acme-lib")
        with pytest.raises(Forbidden, match=r"'committer'.*'acme-lib'.*'public'"):
            Store(session, carol).as_committer("acme-lib")
        with pytest.raises(NotFound, match="nope"):
            Store(session, bob).as_committer("nope")
        assert isinstance(Store(session, bob).as_committer("acme-lib"), store.CommitterWriter)
        assert isinstance(Store(session, alice).as_pmc("acme-lib"), store.PmcWriter)
        # A write method exists only on the tier allowed to call it.
        assert not hasattr(store.CommitterWriter, "create_project")
        assert not hasattr(store.UserWriter, "create_committee")


def test_every_admin_write_records_its_event(factory: sessionmaker[Session]) -> None:
    kinds = {
        "committee.created": 2,
        "project.created": 2,
        "user.created": 3,
        "user.key_added": 3,
        "membership.changed": 3,
    }
    for kind, count in kinds.items():
        assert len(events(factory, kind)) == count, kind
    assert all(e.actor == "atr-agent" for e in events(factory, "user.created"))


def test_a_failed_write_leaves_nothing(factory: sessionmaker[Session]) -> None:
    with pytest.raises(NotFound), transaction(factory) as session:
        Store(session, OPERATOR).as_admin().create_user(
            UserCreate(
                name="dave",
                email="dave@example.org",
                public_key=user_key("dave").public_armor,
                memberships=[Membership(committee="no-such", role=Role.PMC)],
            )
        )
    with factory() as session:
        assert session.scalar(select(models.User).where(models.User.name == "dave")) is None
        assert session.scalar(select(func.count()).select_from(models.UserKey)) == 3
    assert len(events(factory, "user.created")) == 3


def test_releases_and_transitions(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob")
    alice = principal(factory, "alice")
    with transaction(factory) as session:
        release = (
            Store(session, bob)
            .as_committer("acme-lib")
            .create_release(ReleaseCreate(version="1.0.0"))
        )
    assert release.phase is Phase.COMPOSE and release.created_by == "bob"
    (created,) = events(factory, "release.created")
    assert created.actor == "bob" and created.data["source"] == "manual"  # a person started it
    with pytest.raises(Conflict, match="exists already"), transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").create_release(ReleaseCreate(version="1.0.0"))
    with transaction(factory) as session:
        writer = Store(session, bob).for_transition("acme-lib", "1.0.0", Phase.CHECKS)
        assert type(writer) is store.CommitterWriter
        writer.transition("1.0.0", TransitionRequest(to=Phase.CHECKS, reason="go"))
    with pytest.raises(TransitionError, match="'checks' cannot move to 'vote'"):
        with transaction(factory) as session:
            Store(session, alice).for_transition("acme-lib", "1.0.0", Phase.VOTE)
    with pytest.raises(Forbidden, match="'pmc'"), transaction(factory) as session:
        Store(session, bob).for_transition("acme-lib", "1.0.0", Phase.CANDIDATE)
    with pytest.raises(Forbidden, match="'pmc'"), transaction(factory) as session:
        # Even a committer writer in hand cannot make a PMC-only change.
        Store(session, bob).as_committer("acme-lib").transition(
            "1.0.0", TransitionRequest(to=Phase.CANDIDATE)
        )
    # (checks → candidate also needs finished checks: tests/unit/test_checks_service.py)
    with transaction(factory) as session:
        done = Store(session, alice).for_transition("acme-lib", "1.0.0", Phase.FAILED)
        assert done.transition("1.0.0", TransitionRequest(to=Phase.FAILED)).phase is Phase.FAILED
    changes = events(factory, "release.phase_changed")
    assert [(e.data["from"], e.data["to"], e.actor) for e in changes] == [
        ("compose", "checks", "bob"),
        ("checks", "failed", "alice"),
    ]


def test_revisions(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob")
    a, b, c = (add_blob(factory, bob, x) for x in "abc")
    with transaction(factory) as session:
        writer = Store(session, bob).as_committer("acme-lib")
        writer.create_release(ReleaseCreate(version="2.0"))
        one = writer.create_revision("2.0", RevisionCreate(files={"x/a": a, "b": b}))
        two = writer.create_revision(
            "2.0", RevisionCreate(base=1, files={"c": c, "b": c}, remove=["x/a"])
        )
        three = writer.create_revision("2.0", RevisionCreate())
    assert one.number == 1 and [f.path for f in one.files] == ["b", "x/a"]
    assert two.number == 2 and {f.path: f.sha256 for f in two.files} == {"b": c, "c": c}
    assert three.number == 3 and three.files == []
    unknown = "d" * 64
    with pytest.raises(ValidationError, match=unknown), transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").create_revision(
            "2.0", RevisionCreate(files={"d": unknown})
        )
    with pytest.raises(ValidationError, match="both added and removed"):
        with transaction(factory) as session:
            Store(session, bob).as_committer("acme-lib").create_revision(
                "2.0", RevisionCreate(base=2, files={"b": a}, remove=["b"])
            )
    with pytest.raises(ValidationError, match="not in the base"), transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").create_revision(
            "2.0", RevisionCreate(base=3, remove=["b"])
        )
    with factory() as session:
        assert store.get_revision(session, "acme-lib", "2.0", None).number == 3
        assert store.get_release(session, "acme-lib", "2.0").latest_revision == 3
        assert store.revision_file_blob(session, "acme-lib", "2.0", 1, "x/a").sha256 == a
    assert [e.data["number"] for e in events(factory, "revision.created")] == [1, 2, 3]
    with transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").transition(
            "2.0", TransitionRequest(to=Phase.CHECKS)
        )
    with pytest.raises(Conflict, match="only in phase 'compose'"), transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").create_revision("2.0", RevisionCreate())


def test_start_task_defaults_to_the_latest_revision(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob")
    blob = add_blob(factory, bob, "e")
    body = TaskCreate(type=TaskType.INVENTORY, project="acme-lib", version="3.0")
    with transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").create_release(ReleaseCreate(version="3.0"))
    with pytest.raises(Conflict, match="no revision"), transaction(factory) as session:
        Store(session, bob).as_committer("acme-lib").start_task(body)
    with transaction(factory) as session:
        writer = Store(session, bob).as_committer("acme-lib")
        writer.create_revision("3.0", RevisionCreate(files={"e": blob}))
        writer.create_revision("3.0", RevisionCreate(base=1))
        task = writer.start_task(body)
    assert task.revision == 2 and task.created_by == "bob" and task.state == "queued"
    queued = events(factory, "task.queued")
    assert [e.data["type"] for e in queued].count("inventory") == 1  # the rest: check tasks
    with pytest.raises(ValidationError, match="globex-app"), transaction(factory) as session:
        Store(session, principal(factory, "alice")).as_committer("acme-lib").start_task(
            TaskCreate(type=TaskType.INVENTORY, project="globex-app", version="3.0")
        )


def test_blobs_are_recorded_once(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob")
    add_blob(factory, bob, "f")
    add_blob(factory, bob, "f")
    assert len(events(factory, "blob.stored")) == 1
    with pytest.raises(Forbidden, match="'committer'"), factory() as session:
        nobody = Principal(name="x", user_id=99, is_admin=False, token_role=Role.PMC)
        Store(session, nobody).as_uploader()


def test_a_blob_row_is_added_once(factory: sessionmaker[Session]) -> None:
    blob = {"sha256": "a" * 64, "sha512": "b" * 128, "size": 3}
    with transaction(factory) as session:
        assert store.add_blob_row(session, **blob) is True
        assert store.add_blob_row(session, **blob) is False
    with transaction(factory) as session:
        assert store.add_blob_row(session, **blob) is False
        assert session.scalar(select(func.count()).select_from(models.Blob)) == 1
    assert events(factory, "blob.stored") == []  # its callers record their own event


def test_tokens(factory: sessionmaker[Session]) -> None:
    bob = principal(factory, "bob", role=Role.COMMITTER)
    with transaction(factory) as session:
        created = Store(session, bob).as_user().create_token(TokenCreate(label="ci"), max_days=366)
    assert created.token.startswith("atr_") and created.info.role is Role.COMMITTER
    with factory() as session:
        row = session.get(models.ApiToken, created.info.id)
        assert row is not None
        assert row.token_hash == store.hash_token(created.token) != created.token
    with pytest.raises(ValidationError, match="'pmc'"), transaction(factory) as session:
        Store(session, bob).as_user().create_token(TokenCreate(role=Role.PMC), max_days=366)
    with pytest.raises(Forbidden, match="'admin'"), transaction(factory) as session:
        Store(session, bob).as_user().create_token(TokenCreate(user="alice"), max_days=366)
    alice_low = principal(factory, "alice", role=Role.COMMITTER)
    with pytest.raises(Forbidden, match="needs a token with that role"):
        with transaction(factory) as session:
            Store(session, alice_low).as_user().create_token(
                TokenCreate(role=Role.PMC), max_days=366
            )
    with transaction(factory) as session:
        info = Store(session, bob).as_user().revoke_token(created.info.id)
        assert info.revoked_at is not None
    with pytest.raises(NotFound), transaction(factory) as session:
        Store(session, principal(factory, "carol")).as_user().revoke_token(created.info.id)
    assert len(events(factory, "token.created")) == 1
    assert len(events(factory, "token.revoked")) == 1
    assert store.generate_token() != store.generate_token()


def test_event_pages(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        page = store.list_events(session, since=0, limit=4)
        assert [e.id for e in page.events] == [1, 2, 3, 4] and page.next_since == 4
        assert store.list_events(session, since=4, limit=1).events[0].id == 5
        scoped = store.list_events(session, project="globex-app", limit=100)
        assert [e.kind for e in scoped.events] == ["project.created"]
        with pytest.raises(ValidationError, match="limit"):
            store.list_events(session, limit=0)
        assert store.last_event_id(session) == 13  # 2 committees, 2 projects, 3 users with 3 each
