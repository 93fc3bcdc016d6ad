"""Authentication: login by signed challenge, token lookup, and the role dependencies.

Desktop users log in by signing a one-time challenge with their OpenPGP key:

1. ``POST /auth/challenge {user, purpose}`` stores a one-time challenge text in the
   format of :mod:`shared.challenge` (purpose, user, this agent's public URL, nonce,
   issue and expiry time; for purpose ``token`` the API token asked for). The answer is
   the same for unknown users; a user name gets at most ``challenge_limit_per_minute``
   challenges a minute (a client address three times that), else 429;
2. ``POST /auth/login {challenge_id, signature}`` (purpose ``login``) or ``POST
   /auth/token`` (purpose ``token``) marks the challenge used (a conditional UPDATE, so
   two logins with one challenge cannot both pass), checks that it still names this
   agent, then verifies the detached signature of the exact challenge text with GnuPG
   against the user's registered, unrevoked keys only (GnuPG refuses revoked and
   expired keys too). The signature must be a text signature (class 0x01) carrying the
   notation ``purpose@atr.apache.org`` with the challenge's purpose, so that no other
   signature of the user's (an artifact's) can be replayed as a login, and no login
   signature passes for an artifact's. A login gets a session token; a token challenge
   the API token it describes, bounded by the user's role and ``max_token_days``.

Tokens are ``atr_`` + 43 URL-safe characters; only their SHA-256 is stored.
:func:`current_principal` turns ``Authorization: Bearer <token>`` into a
:class:`agent.store.Principal` (401 without or with unusable credentials);
:func:`require` adds a role check (403, naming the role needed).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from agent.api.deps import AgentState, get_state
from agent.db import models
from agent.engine.events import append_event
from agent.store import (
    Principal,
    RateLimited,
    Unauthenticated,
    get_project,
    hash_token,
    issue_signed_token,
    issue_token,
    principal_for_user,
    require_role,
    user_to_wire,
)
from shared.challenge import NOTATION_NAME, Challenge, Purpose, TokenTerms, parse_challenge
from shared.errors import ValidationError
from shared.openpgp import SignatureResult, SignatureStatus, verify_detached
from shared.protocol import (
    ChallengeRequest,
    ChallengeResponse,
    EventKind,
    LoginRequest,
    LoginResponse,
    Role,
    TokenCreated,
    TokenRequest,
)

LAST_USED_RESOLUTION = timedelta(seconds=60)
"""``last_used_at`` is written at most once a minute per token."""

_BAD_KEY_MESSAGES = {
    SignatureStatus.REVOKED_KEY: "the signing key is revoked",
    SignatureStatus.EXPIRED_KEY: "the signing key has expired",
    SignatureStatus.EXPIRED_SIGNATURE: "the signature has expired",
    SignatureStatus.BAD: "the signature does not match the challenge text",
    SignatureStatus.NO_PUBLIC_KEY: "the signature was not made with a key registered for",
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


def request_principal(request: Request, state: AgentState) -> Principal:
    """The request's principal, or 401; looked up once per request (the access guard and
    the handler share it)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = _bearer(request)
    if token is None:
        raise Unauthenticated(
            "this request needs credentials: send 'Authorization: Bearer <token>'",
            hint="log in with your OpenPGP key, or create a token with 'atr-agent token create'",
        )
    principal = authenticate_token(state, token)
    request.state.principal = principal
    return principal


def current_principal(
    request: Request, state: Annotated[AgentState, Depends(get_state)]
) -> Principal:
    """FastAPI dependency: the request's principal, or 401."""
    return request_principal(request, state)


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


# --- login ---------------------------------------------------------------------------------------


CHALLENGE_KEEP = timedelta(hours=1)
"""Used or expired challenges are deleted this long after they expire."""
_RATE_WINDOW = timedelta(minutes=1)
_UNKNOWN_SIGNER = "the signature was not made with a key registered for"


def _token_terms(body: ChallengeRequest, now: datetime) -> TokenTerms | None:
    if body.purpose == Purpose.LOGIN.value:
        if body.token is not None:
            raise ValidationError("'token' is for a challenge of purpose 'token' only")
        return None
    wanted = body.token or TokenRequest()
    return TokenTerms(
        project=wanted.project,
        role=wanted.role.value,
        expires=now + timedelta(days=wanted.expires_in_days),
        label=wanted.label,
    )


def create_challenge(
    state: AgentState, body: ChallengeRequest, *, client: str = "unknown"
) -> ChallengeResponse:
    """Store a new one-time challenge for ``body.user`` and return its text.

    The answer is the same whether or not the user exists or has a key (a login for an
    unknown user fails later, with the message a wrong key gets). At most
    ``challenge_limit_per_minute`` challenges per user name, and three times that per
    client address, are handed out a minute (429 with ``Retry-After`` beyond); rows
    expired for :data:`CHALLENGE_KEEP` are deleted as new ones are made.
    """
    now = datetime.now(UTC)
    limit = state.settings.challenge_limit_per_minute
    state.challenge_limiter.check(client, limit * 3, time.monotonic())
    expires = now + timedelta(seconds=state.settings.challenge_ttl_seconds)
    challenge = Challenge(
        purpose=Purpose(body.purpose),
        user=body.user,
        agent=state.settings.effective_public_url,
        nonce=secrets.token_hex(16),
        issued=now.replace(microsecond=0),
        expires=expires.replace(microsecond=0),
        token=_token_terms(body, now),
    )
    if body.purpose == Purpose.TOKEN.value and challenge.token is not None:
        max_days = state.settings.max_token_days
        if challenge.token.expires - now > timedelta(days=max_days):
            raise ValidationError(
                f"a token may be valid for at most {max_days} days on this agent",
                hint="ask for fewer days (the operator sets the ceiling: max_token_days)",
            )
    with state.transaction() as session:
        session.execute(
            delete(models.LoginChallenge).where(
                models.LoginChallenge.expires_at < now - CHALLENGE_KEEP
            )
        )
        recent = session.scalar(
            select(func.count())
            .select_from(models.LoginChallenge)
            .where(
                models.LoginChallenge.user_name == body.user,
                models.LoginChallenge.created_at > now - _RATE_WINDOW,
            )
        )
        if (recent or 0) >= limit:
            raise RateLimited(
                f"too many login challenges for user '{body.user}' in the last minute",
                retry_after=int(_RATE_WINDOW.total_seconds()),
                hint="wait a minute, then log in again",
            )
        row = models.LoginChallenge(
            id=secrets.token_urlsafe(18),
            user_name=body.user,
            challenge=challenge.render(),
            created_at=now,
            expires_at=challenge.expires,
        )
        session.add(row)
    return ChallengeResponse(
        challenge_id=row.id, challenge=row.challenge, expires_at=challenge.expires
    )


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


def _check_signature(challenge: Challenge, text: str, signature: str, user: models.User) -> str:
    """The fingerprint of the user's key that signed ``text`` for the challenge's purpose;
    else :class:`Unauthenticated`. Revoked keys are refused before GnuPG is asked."""
    usable = [k for k in user.keys if k.revoked_at is None]
    revoked = [k for k in user.keys if k.revoked_at is not None]
    fingerprints = {k.fingerprint for k in usable}
    results = verify_detached(text.encode(), signature, [k.armored for k in user.keys])
    if not results:
        raise Unauthenticated(
            "the signature could not be read; send an ASCII-armored detached OpenPGP signature"
        )
    for result in results:
        signer = result.primary_fingerprint or result.fingerprint
        if result.valid and signer in fingerprints:
            _check_marks(result, challenge)
            return signer
        gone = next((k for k in revoked if k.fingerprint == signer), None)
        if gone is not None:
            raise Unauthenticated(
                f"login refused: the key {gone.fingerprint} was revoked"
                + (f" ({gone.revocation_reason})" if gone.revocation_reason else ""),
                hint="log in with another registered key, or ask an admin to register a new one",
            )
    status = results[0].status
    reason = _BAD_KEY_MESSAGES.get(status, f"the signature does not verify ({status})")
    if status is SignatureStatus.NO_PUBLIC_KEY:
        reason = f"{reason} user '{user.name}'"
    raise Unauthenticated(f"login refused: {reason}", hint="sign the challenge with your own key")


def _check_marks(result: SignatureResult, challenge: Challenge) -> None:
    """A challenge signature is a text signature marked with its purpose (shared.challenge)."""
    if result.sig_class != "01":
        raise Unauthenticated(
            "login refused: the challenge must be signed as text (a detached text signature, "
            f"class 01), not as class {result.sig_class or '?'}",
            hint="update the client: it signs challenges as text with a purpose notation",
        )
    purpose = result.notations.get(NOTATION_NAME)
    if purpose != challenge.purpose.value:
        raise Unauthenticated(
            f"login refused: the signature's notation {NOTATION_NAME} is {purpose!r}, "
            f"not {challenge.purpose.value!r}",
            hint="update the client: it marks a challenge signature with its purpose",
        )


def _signed_challenge(
    state: AgentState, body: LoginRequest, purpose: Purpose
) -> tuple[Challenge, str, str]:
    """Consume the challenge, check it against this agent and the signature: (the challenge,
    the user name, the fingerprint that signed)."""
    now = datetime.now(UTC)
    with state.transaction() as session:
        row = _consume_challenge(session, body.challenge_id, now)
        text, user_name = row.challenge, row.user_name
    challenge = parse_challenge(text)
    if challenge.purpose is not purpose:
        raise Unauthenticated(
            f"this challenge is for a {challenge.purpose}, not a {purpose}",
            hint=f"ask for a challenge of purpose '{purpose}'",
        )
    if challenge.agent != state.settings.effective_public_url:
        raise Unauthenticated(
            f"this challenge names the agent {challenge.agent}; this agent is now "
            f"{state.settings.effective_public_url}",
            hint="ask for a new challenge",
        )
    with state.read() as session:
        user = session.scalar(
            select(models.User)
            .where(models.User.name == user_name)
            .options(selectinload(models.User.keys))
        )
        if user is None or not user.keys:  # the same answer as a wrong key: no user probing
            raise Unauthenticated(
                f"login refused: {_UNKNOWN_SIGNER} user '{user_name}'",
                hint="sign the challenge with your own key",
            )
        fingerprint = _check_signature(challenge, text, body.signature, user)
    return challenge, user_name, fingerprint


def login(state: AgentState, body: LoginRequest) -> LoginResponse:
    """Check the signed login challenge and issue a session token."""
    _, user_name, fingerprint = _signed_challenge(state, body, Purpose.LOGIN)
    now = datetime.now(UTC)
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


def create_signed_token(state: AgentState, body: LoginRequest) -> TokenCreated:
    """Issue the API token a signed ``token`` challenge asks for: the user's fresh signature
    stands for the user, so it is bounded by the user's role and the operator's lifetime
    ceiling (checked when the challenge was made), not by any other token."""
    challenge, user_name, fingerprint = _signed_challenge(state, body, Purpose.TOKEN)
    terms = challenge.token
    if terms is None:  # pragma: no cover - parse_challenge requires it for this purpose
        raise Unauthenticated("the challenge names no token")
    if terms.expires <= datetime.now(UTC):
        raise Unauthenticated("the token the challenge asks for has expired already")
    with state.transaction() as session:
        user = session.scalar(select(models.User).where(models.User.name == user_name))
        if user is None:
            raise Unauthenticated(f"user '{user_name}' no longer exists")
        return issue_signed_token(
            session,
            user,
            project=terms.project,
            role=Role(terms.role),
            label=terms.label,
            expires_at=terms.expires,
            fingerprint=fingerprint,
        )
