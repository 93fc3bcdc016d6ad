"""Authentication: login by signed challenge, token lookup, and the role dependencies.

Desktop users log in by signing a one-time challenge with their OpenPGP key:

1. ``POST /auth/challenge {user}`` stores a random challenge text (user, agent URL,
   nonce, expiry) in ``login_challenges``;
2. ``POST /auth/login {challenge_id, signature}`` marks the challenge used (a
   conditional UPDATE, so two logins with one challenge cannot both pass), then
   verifies the ASCII-armored detached signature of the exact challenge bytes with
   GnuPG against the user's registered keys only (GnuPG refuses revoked and
   expired keys), and issues a session token.

Tokens are ``atr_`` + 43 URL-safe characters; only their SHA-256 is stored.
:func:`current_principal` turns ``Authorization: Bearer <token>`` into a
:class:`agent.store.Principal` (401 without or with unusable credentials);
:func:`require` adds a role check (403, naming the role needed).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from agent.api.deps import AgentState, get_state
from agent.db import models
from agent.engine.events import append_event
from agent.store import (
    Principal,
    Unauthenticated,
    get_project,
    hash_token,
    issue_token,
    principal_for_user,
    require_role,
    user_to_wire,
)
from shared.openpgp import SignatureStatus, verify_detached
from shared.protocol import (
    ChallengeRequest,
    ChallengeResponse,
    EventKind,
    LoginRequest,
    LoginResponse,
    Role,
)

LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``last_used_at`` is written at most once a minute per token."""

_BAD_KEY_MESSAGES = {
    SignatureStatus.REVOKED_KEY: "the signing key is revoked",
    SignatureStatus.EXPIRED_KEY: "the signing key has expired",
    SignatureStatus.EXPIRED_SIGNATURE: "the signature has expired",
    SignatureStatus.BAD: "the signature does not match the challenge text",
    SignatureStatus.NO_PUBLIC_KEY: "the signature was not made with any key registered for",
}


# --- tokens -------------------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated(
            "the Authorization header must be 'Bearer <token>'",
            hint="create a token with 'atr-agent token create' or log in",
        )
    return value.strip()


def authenticate_token(state: AgentState, token: str) -> Principal:
    """The principal of ``token``; :class:`Unauthenticated` if unknown, expired or revoked."""
    digest = hash_token(token)
    now = datetime.now(UTC)
    with state.read() as session:
        row = session.scalar(
            select(models.ApiToken)
            .where(models.ApiToken.token_hash == digest)
            .options(selectinload(models.ApiToken.user))
        )
        if row is None or not secrets.compare_digest(row.token_hash, digest):
            raise Unauthenticated("the token is not known to this agent", hint="log in again")
        if row.revoked_at is not None:
            raise Unauthenticated(
                f"the token was revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC",
                hint="create a new token or log in again",
            )
        if row.expires_at <= now:
            raise Unauthenticated(
                f"the token expired at {row.expires_at:%Y-%m-%d %H:%M:%S} UTC",
                hint="create a new token or log in again",
            )
        user = row.user
        principal = principal_for_user(user, token=row)
        stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
        token_id = row.id
    if stale:
        with state.transaction() as session:
            session.execute(
                update(models.ApiToken)
                .where(models.ApiToken.id == token_id)
                .values(last_used_at=now)
            )
    return principal


def current_principal(
    request: Request, state: Annotated[AgentState, Depends(get_state)]
) -> Principal:
    """FastAPI dependency: the request's principal, or 401."""
    token = _bearer(request)
    if token is None:
        raise Unauthenticated(
            "this request needs credentials: send 'Authorization: Bearer <token>'",
            hint="log in with your OpenPGP key, or create a token with 'atr-agent token create'",
        )
    return authenticate_token(state, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(role: Role, *, project_param: str | None = None) -> Callable[..., Principal]:
    """A dependency that yields the principal if it holds ``role`` (on the project named by
    the path parameter ``project_param``, if given): 401 without credentials, else 403."""

    def dependency(
        request: Request,
        principal: CurrentPrincipal,
        state: Annotated[AgentState, Depends(get_state)],
    ) -> Principal:
        if project_param is None:
            require_role(principal, role, what="this request")
            return principal
        key = request.path_params[project_param]
        with state.read() as session:
            project = get_project(session, key)
        require_role(principal, role, what="this request", project=key, committee=project.committee)
        return principal

    return dependency


# --- login --------------------------------------------------------------------------------------


def _challenge_text(
    *, user: str, agent_url: str, nonce: str, issued: datetime, expires: datetime
) -> str:
    return (
        "ATR agent login challenge\n"
        f"user: {user}\n"
        f"agent: {agent_url}\n"
        f"nonce: {nonce}\n"
        f"issued: {issued.isoformat(timespec='seconds')}\n"
        f"expires: {expires.isoformat(timespec='seconds')}\n"
    )


def create_challenge(state: AgentState, body: ChallengeRequest) -> ChallengeResponse:
    """Store a new one-time challenge for ``body.user`` and return its text."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=state.settings.challenge_ttl_seconds)
    with state.transaction() as session:
        user = session.scalar(select(models.User).where(models.User.name == body.user))
        if user is None or not user.keys:
            raise Unauthenticated(
                f"user '{body.user}' cannot log in: unknown user or no registered key",
                hint="ask an admin to register your OpenPGP public key",
            )
        text = _challenge_text(
            user=user.name,
            agent_url=state.settings.effective_public_url,
            nonce=secrets.token_hex(16),
            issued=now,
            expires=expires,
        )
        row = models.LoginChallenge(
            id=secrets.token_urlsafe(18),
            user_name=user.name,
            challenge=text,
            created_at=now,
            expires_at=expires,
        )
        session.add(row)
    return ChallengeResponse(challenge_id=row.id, challenge=text, expires_at=expires)


def _consume_challenge(session: Session, challenge_id: str, now: datetime) -> models.LoginChallenge:
    row = session.get(models.LoginChallenge, challenge_id)
    if row is None:
        raise Unauthenticated("unknown login challenge", hint="ask for a new challenge")
    if row.used_at is not None:
        raise Unauthenticated(
            "this login challenge was already used; each challenge is good for one login",
            hint="ask for a new challenge",
        )
    if row.expires_at <= now:
        raise Unauthenticated(
            f"this login challenge expired at {row.expires_at:%H:%M:%S} UTC",
            hint="ask for a new challenge and sign it at once",
        )
    done = session.execute(
        update(models.LoginChallenge)
        .where(models.LoginChallenge.id == challenge_id, models.LoginChallenge.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(done, "rowcount", 1) != 1:
        raise Unauthenticated("this login challenge was already used", hint="ask for a new one")
    return row


def _check_signature(challenge: str, signature: str, user: models.User) -> str:
    """The fingerprint of the user's key that signed ``challenge``; else Unauthenticated."""
    fingerprints = {k.fingerprint for k in user.keys}
    results = verify_detached(challenge.encode(), signature, [k.armored for k in user.keys])
    if not results:
        raise Unauthenticated(
            "the signature could not be read; send an ASCII-armored detached OpenPGP signature"
        )
    for result in results:
        signer = result.primary_fingerprint or result.fingerprint
        if result.valid and signer in fingerprints:
            return signer
    status = results[0].status
    reason = _BAD_KEY_MESSAGES.get(status, f"the signature does not verify ({status})")
    if status is SignatureStatus.NO_PUBLIC_KEY:
        reason = f"{reason} user '{user.name}'"
    raise Unauthenticated(f"login refused: {reason}", hint="sign the challenge with your own key")


def login(state: AgentState, body: LoginRequest) -> LoginResponse:
    """Check the signed challenge and issue a session token (see the module docstring)."""
    now = datetime.now(UTC)
    with state.transaction() as session:
        challenge = _consume_challenge(session, body.challenge_id, now)
        text, user_name = challenge.challenge, challenge.user_name
    with state.read() as session:
        user = session.scalar(
            select(models.User)
            .where(models.User.name == user_name)
            .options(selectinload(models.User.keys))
        )
        if user is None:
            raise Unauthenticated(f"user '{user_name}' no longer exists")
        fingerprint = _check_signature(text, body.signature, user)
    expires = now + timedelta(hours=state.settings.session_token_hours)
    with state.transaction() as session:
        user = session.scalar(select(models.User).where(models.User.name == user_name))
        if user is None:
            raise Unauthenticated(f"user '{user_name}' no longer exists")
        role = Role.ADMIN if user.is_admin else Role.PMC
        secret, row = issue_token(
            session,
            user=user,
            role=role,
            project=None,
            label="desktop login",
            expires_at=expires,
            kind="session",
            actor=user.name,
        )
        append_event(
            session,
            EventKind.USER_LOGGED_IN,
            actor=user.name,
            data={"user": user.name, "fingerprint": fingerprint, "token_id": row.id},
        )
        wire_user = user_to_wire(user)
    return LoginResponse(token=secret, expires_at=expires, user=wire_user)
