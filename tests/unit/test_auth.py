"""agent.auth without a server: token lookup, expiry, revocation, challenges (real GnuPG)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from starlette.requests import Request

from agent import auth, store
from agent.api.deps import AgentState
from agent.api.errors import error_status
from agent.config import Settings
from agent.db import models
from agent.store import Principal, RateLimited, Store, Unauthenticated, WriteCollision
from shared.challenge import parse_challenge
from shared.protocol import (
    ChallengeRequest,
    CommitteeCreate,
    LoginRequest,
    Membership,
    ProjectCreate,
    Role,
    TokenCreate,
    UserCreate,
)
from tests.support.keys import user_key


@pytest.fixture
def state(tmp_path: Path) -> Iterator[AgentState]:
    settings = Settings(data_dir=tmp_path, public_url="https://agent.example.org:9000/")
    state = AgentState.open(settings)
    with state.write(Principal.operator()) as s:
        admin = s.as_admin()
        admin.create_committee(CommitteeCreate(name="acme"))
        admin.create_project(ProjectCreate(key="acme-lib", committee="acme"))
        admin.create_user(
            UserCreate(
                name="alice",
                email="alice@example.org",
                public_key=user_key("alice").public_armor,
                memberships=[Membership(committee="acme", role=Role.PMC)],
            )
        )
    yield state
    state.close()


def token_for(state: AgentState, user: str = "alice", **kwargs: object) -> tuple[str, int]:
    with state.write(Principal.operator()) as s:
        created = s.as_admin().create_token(TokenCreate(user=user, **kwargs), max_days=366)  # type: ignore[arg-type]
    return created.token, created.info.id


def set_token(state: AgentState, token_id: int, **values: object) -> None:
    with state.transaction() as session:
        session.execute(
            update(models.ApiToken).where(models.ApiToken.id == token_id).values(**values)
        )


def test_token_format_and_hash() -> None:
    token = store.generate_token()
    assert token.startswith("atr_") and len(token) == 47
    assert store.hash_token(token) == store.hash_token(token)
    assert len(store.hash_token(token)) == 64 and store.hash_token(token) != token


def test_a_token_gives_its_users_principal(state: AgentState) -> None:
    token, _ = token_for(state, role=Role.COMMITTER, project="acme-lib")
    principal = auth.authenticate_token(state, token)
    assert principal.name == "alice" and not principal.is_admin
    assert principal.token_role is Role.COMMITTER and principal.token_project == "acme-lib"
    assert principal.memberships == {"acme": Role.PMC}
    assert principal.role_for("acme-lib", "acme") is Role.COMMITTER


def test_unknown_revoked_and_expired_tokens(state: AgentState) -> None:
    with pytest.raises(Unauthenticated, match="not known"):
        auth.authenticate_token(state, store.generate_token())
    token, token_id = token_for(state)
    set_token(state, token_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="expired at"):
        auth.authenticate_token(state, token)
    token, token_id = token_for(state)
    with state.write(Principal.operator()) as s:
        s.as_admin().revoke_token(token_id)
    with pytest.raises(Unauthenticated, match="revoked at") as err:
        auth.authenticate_token(state, token)
    assert err.value.hint


def test_last_used_is_written_at_most_once_a_minute(state: AgentState) -> None:
    token, token_id = token_for(state)

    def last_used() -> datetime | None:
        with state.read() as session:
            row = session.get(models.ApiToken, token_id)
            assert row is not None
            return row.last_used_at

    assert last_used() is None
    auth.authenticate_token(state, token)
    first = last_used()
    assert first is not None
    auth.authenticate_token(state, token)
    assert last_used() == first
    set_token(state, token_id, last_used_at=datetime.now(UTC) - timedelta(minutes=2))
    auth.authenticate_token(state, token)
    later = last_used()
    assert later is not None and later > first - timedelta(minutes=1)


def test_challenge_text_and_single_use(state: AgentState) -> None:
    ch = auth.create_challenge(state, ChallengeRequest(user="alice"))
    assert "user: alice\n" in ch.challenge
    assert "agent: https://agent.example.org:9000\n" in ch.challenge
    other = auth.create_challenge(state, ChallengeRequest(user="alice"))
    assert other.challenge != ch.challenge and other.challenge_id != ch.challenge_id
    signature = user_key("alice").sign_challenge(parse_challenge(ch.challenge))
    answer = auth.login(state, LoginRequest(challenge_id=ch.challenge_id, signature=signature))
    assert answer.user.name == "alice"
    principal = auth.authenticate_token(state, answer.token)
    assert principal.token_role is Role.PMC and principal.token_project is None
    with state.read() as session:
        row = session.scalar(
            select(models.ApiToken).where(
                models.ApiToken.token_hash == store.hash_token(answer.token)
            )
        )
        assert row is not None and row.kind == "session"
        used = session.get(models.LoginChallenge, ch.challenge_id)
        assert used is not None and used.used_at is not None
    with pytest.raises(Unauthenticated, match="already used"):
        auth.login(state, LoginRequest(challenge_id=ch.challenge_id, signature=signature))


def test_an_unknown_user_gets_a_challenge_like_anyone_and_cannot_log_in(
    state: AgentState,
) -> None:
    ch = auth.create_challenge(state, ChallengeRequest(user="nobody"))
    signature = user_key("alice").sign_challenge(parse_challenge(ch.challenge))
    with pytest.raises(Unauthenticated, match="not made with a key registered for user 'nobody'"):
        auth.login(state, LoginRequest(challenge_id=ch.challenge_id, signature=signature))


def test_challenges_are_rate_limited_per_user_and_purged(state: AgentState) -> None:
    limit = state.settings.challenge_limit_per_minute
    for _ in range(limit):
        auth.create_challenge(state, ChallengeRequest(user="carol"), client="10.0.0.1")
    with pytest.raises(RateLimited, match="carol") as caught:
        auth.create_challenge(state, ChallengeRequest(user="carol"), client="10.0.0.2")
    assert caught.value.retry_after > 0 and error_status(caught.value)[0] == 429
    auth.create_challenge(state, ChallengeRequest(user="dave"), client="10.0.0.2")  # others may
    # a challenge expired longer than CHALLENGE_KEEP is deleted when the next one is made
    old = datetime.now(UTC) - auth.CHALLENGE_KEEP - timedelta(minutes=5)
    with state.transaction() as session:
        session.execute(
            update(models.LoginChallenge)
            .where(models.LoginChallenge.user_name == "carol")
            .values(created_at=old, expires_at=old)
        )
    auth.create_challenge(state, ChallengeRequest(user="carol"), client="10.0.0.3")
    with state.read() as session:
        left = session.scalars(
            select(models.LoginChallenge).where(models.LoginChallenge.user_name == "carol")
        ).all()
    assert len(left) == 1


def test_one_address_asking_for_many_users_is_limited(state: AgentState) -> None:
    limit = state.settings.challenge_limit_per_minute
    with pytest.raises(RateLimited, match=r"10\.9\.9\.9"):
        for number in range(limit * 3 + 1):
            auth.create_challenge(state, ChallengeRequest(user=f"u{number}"), client="10.9.9.9")


def test_admin_logs_in_with_the_admin_role(state: AgentState) -> None:
    with state.write(Principal.operator()) as s:
        s.as_admin().create_user(
            UserCreate(
                name="root",
                email="root@example.org",
                public_key=user_key("root").public_armor,
                is_admin=True,
            )
        )
    ch = auth.create_challenge(state, ChallengeRequest(user="root"))
    answer = auth.login(
        state,
        LoginRequest(
            challenge_id=ch.challenge_id,
            signature=user_key("root").sign_challenge(parse_challenge(ch.challenge)),
        ),
    )
    principal = auth.authenticate_token(state, answer.token)
    assert principal.token_role is Role.ADMIN and principal.admin_role is Role.ADMIN
    with state.read() as session:
        Store(session, principal).as_admin()


def test_require_dependency(state: AgentState) -> None:
    alice = auth.authenticate_token(state, token_for(state, role=Role.PMC)[0])
    request = Request({"type": "http", "path_params": {"key": "acme-lib"}, "headers": []})
    assert auth.require(Role.PMC, project_param="key")(request, alice, state) is alice
    with pytest.raises(store.Forbidden, match="'admin'"):
        auth.require(Role.ADMIN)(request, alice, state)
    bob = auth.authenticate_token(state, token_for(state, role=Role.COMMITTER)[0])
    with pytest.raises(store.Forbidden, match="'pmc' role on project 'acme-lib'"):
        auth.require(Role.PMC, project_param="key")(request, bob, state)
    missing = Request({"type": "http", "path_params": {"key": "nope"}, "headers": []})
    with pytest.raises(store.NotFound):
        auth.require(Role.COMMITTER, project_param="key")(missing, alice, state)


def test_a_unique_key_collision_is_a_retryable_conflict(state: AgentState) -> None:
    """What two writers racing on PostgreSQL meet at flush or commit: a 409, nothing written."""
    with state.transaction() as session:
        session.add(models.Blob(sha256="a" * 64, sha512="b" * 128, size=1))
    with pytest.raises(WriteCollision, match="collided") as caught, state.transaction() as session:
        session.add(models.Committee(name="globex", display_name="Globex"))
        session.add(models.Blob(sha256="a" * 64, sha512="b" * 128, size=1))
    assert error_status(caught.value)[0] == 409
    assert caught.value.hint == "retry the request"
    with state.read() as session:
        assert (
            session.scalar(select(models.Committee).where(models.Committee.name == "globex"))
            is None
        )  # the whole transaction was rolled back
