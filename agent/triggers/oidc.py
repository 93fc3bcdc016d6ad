"""Trusted publishing: a workflow's OIDC token exchanged for a short-lived upload token.

The way PyPI does it: a GitHub Actions job asks its OIDC provider for a token (a JWT) with
the audience this agent expects (``oidc_audience``), and posts it to
``POST /api/v1/oidc/exchange``. The agent

1. refuses an issuer that is not in ``oidc_issuers`` — before fetching anything, so a
   token cannot make the agent fetch keys from an address of the sender's choice;
2. verifies the signature with the issuer's keys (its OpenID configuration's ``jwks_uri``,
   cached ``oidc_jwks_seconds`` and fetched again for an unknown key id), the audience, and
   ``exp`` / ``iat`` / ``nbf`` (30 s of clock leeway), with PyJWT;
3. finds the trusted-publisher rules for the token's ``repository``; the rule's workflow
   file must be the one ``workflow_ref`` names in that repository, its environment (if
   any) the token's ``environment``, and the token's ``ref`` must match one of its refs;
4. takes each token once (its ``jti``): a replayed OIDC token is refused;
5. answers an API token of the project's publisher user, committer role, limited to that
   project, living ``oidc_token_minutes``; the grant keeps the claims, and a revision
   uploaded with the token records them as its build facts (:mod:`agent.triggers.builds`).

Refusals are 401 (the token itself: issuer, audience, signature, expiry) or 403 (a valid
token no rule allows), each naming what was wrong.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.store import Forbidden, Unauthenticated, issue_token
from agent.triggers.common import (
    DeliveryRecorded,
    TriggerRefused,
    Unavailable,
    record_delivery,
    ref_allowed,
)
from agent.triggers.publishers import publisher_user, rules_for_repository
from shared.errors import AtrError
from shared.protocol import Role
from shared.protocol.triggers import GITHUB_ISSUER, OidcToken

if TYPE_CHECKING:  # PyJWT and httpx load with the first token to verify, not at agent start
    import jwt

__all__ = ["ALGORITHMS", "IssuerKeys", "exchange", "verified_claims", "verify_token"]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
LEEWAY_SECONDS = 30
_REFETCH_SECONDS = 10.0
"""An unknown key id makes the keys be fetched again, at most this often per issuer."""
_KEPT_CLAIMS = (
    "iss",
    "aud",
    "sub",
    "jti",
    "repository",
    "repository_id",
    "repository_owner",
    "ref",
    "ref_type",
    "sha",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "job_workflow_ref",
    "job_workflow_sha",
    "run_id",
    "run_number",
    "run_attempt",
    "runner_environment",
    "environment",
    "event_name",
    "actor",
)


class OidcRefused(AtrError):
    """Internal: a reason to refuse, turned into a 401 by :func:`verified_claims`."""


@dataclass
class _Keys:
    fetched: float
    keys: jwt.PyJWKSet


class IssuerKeys:
    """The signing keys of trusted issuers, fetched by OpenID discovery and cached."""

    def __init__(self, *, ttl: float, timeout: float = 10.0) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[str, _Keys] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, issuer: str) -> threading.Lock:
        """One lock per issuer: a slow issuer holds up only the exchanges of its own tokens
        (and one fetch of its keys serves every request that waited for it)."""
        with self._locks_lock:
            return self._locks.setdefault(issuer, threading.Lock())

    def _fetch(self, issuer: str) -> jwt.PyJWKSet:
        import httpx  # noqa: PLC0415 - see the module's imports
        import jwt  # noqa: PLC0415

        try:
            config = httpx.get(
                f"{issuer}/.well-known/openid-configuration", timeout=self.timeout
            ).raise_for_status()
            uri = config.json()["jwks_uri"]
            if not isinstance(uri, str) or urlsplit(uri).scheme not in ("https", "http"):
                raise OidcRefused(f"the issuer {issuer} names no usable jwks_uri")
            jwks = httpx.get(uri, timeout=self.timeout).raise_for_status().json()
            return jwt.PyJWKSet.from_dict(jwks)
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKSetError) as exc:
            raise Unavailable(
                f"cannot read the signing keys of the OIDC issuer {issuer}: {exc}",
                hint="the issuer is unreachable or answers something else; try again later",
            ) from exc

    def key(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        with self._lock(issuer):
            cached = self._cache.get(issuer)
            now = time.monotonic()
            if cached is None or now - cached.fetched > self.ttl:
                cached = self._cache[issuer] = _Keys(now, self._fetch(issuer))
            found = _find(cached.keys, kid)
            if found is None and now - cached.fetched > _REFETCH_SECONDS:
                cached = self._cache[issuer] = _Keys(now, self._fetch(issuer))
                found = _find(cached.keys, kid)
        if found is None:
            raise OidcRefused(f"the token's key {kid!r} is not one of {issuer}'s signing keys")
        return found


def _find(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    for key in keys.keys:
        if kid is None or key.key_id == kid:
            return key
    return None


_KEYS: IssuerKeys | None = None
_KEYS_LOCK = threading.Lock()


def issuer_keys(settings: Settings) -> IssuerKeys:
    """The process's cache of issuer keys."""
    global _KEYS  # noqa: PLW0603 - one cache per process
    with _KEYS_LOCK:
        if _KEYS is None or _KEYS.ttl != settings.oidc_jwks_seconds:
            _KEYS = IssuerKeys(ttl=settings.oidc_jwks_seconds)
        return _KEYS


def verify_token(token: str, settings: Settings, keys: IssuerKeys) -> dict[str, Any]:
    """The verified claims of ``token``; :class:`OidcRefused` naming what is wrong."""
    import jwt  # noqa: PLC0415 - see the module's imports

    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OidcRefused(f"not a JWT: {exc}") from exc
    issuer = str(unverified.get("iss", "")).rstrip("/")
    trusted = [i.rstrip("/") for i in settings.oidc_issuers]
    if issuer not in trusted:
        raise OidcRefused(
            f"the token's issuer {issuer or '(none)'!r} is not trusted by this agent "
            f"(trusted: {', '.join(trusted) or 'none'})"
        )
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise OidcRefused(f"the token is signed with {algorithm!r}, not one of {ALGORITHMS}")
    key = keys.key(issuer, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=settings.oidc_audience,
            issuer=str(unverified.get("iss")),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "repository", "ref", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OidcRefused("the OIDC token has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise OidcRefused(
            f"the OIDC token is for audience {unverified.get('aud')!r}, not "
            f"{settings.oidc_audience!r}"
        ) from exc
    except jwt.ImmatureSignatureError as exc:
        raise OidcRefused("the OIDC token is not valid yet (iat or nbf in the future)") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise OidcRefused(f"the OIDC token has no {exc.claim!r} claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise OidcRefused("the OIDC token's signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise OidcRefused(f"the OIDC token does not verify: {exc}") from exc
    return claims


def _workflow_file(claims: dict[str, Any]) -> tuple[str, str] | None:
    """(repository, workflow file) of ``workflow_ref``:
    ``owner/repo/.github/workflows/release.yml@refs/tags/v1`` → ``(owner/repo, release.yml)``."""
    ref = str(claims.get("workflow_ref") or claims.get("job_workflow_ref") or "")
    path = ref.split("@", 1)[0]
    repo, sep, name = path.partition("/.github/workflows/")
    if not sep or "/" in name:
        return None
    return repo, name


def run_url(claims: dict[str, Any]) -> str | None:
    """The workflow run's web address (GitHub: github.com; GitHub Enterprise: its host)."""
    if not claims.get("run_id"):
        return None
    issuer = str(claims.get("iss", ""))
    if issuer.rstrip("/") == GITHUB_ISSUER:
        server = "https://github.com"
    else:
        parts = urlsplit(issuer)
        server = f"{parts.scheme}://{parts.netloc}"
    url = f"{server}/{claims['repository']}/actions/runs/{claims['run_id']}"
    if claims.get("run_attempt"):
        url += f"/attempts/{claims['run_attempt']}"
    return url


def _match(session: Session, claims: dict[str, Any]) -> models.TrustedPublisherRow:
    repository = str(claims["repository"])
    rules = rules_for_repository(session, str(claims["iss"]), repository)
    if not rules:
        raise Forbidden(
            f"no project trusts the repository {repository!r} to publish",
            hint="a PMC member adds a trusted-publisher rule (atr triggers publisher-add)",
        )
    workflow = _workflow_file(claims)
    ref = str(claims["ref"])
    reasons: list[str] = []
    for rule in rules:
        if workflow is None or workflow[0].lower() != repository.lower():
            reasons.append("the token names no workflow file of the repository")
            continue
        if workflow[1] != rule.workflow:
            reasons.append(f"rule {rule.id} is for {rule.workflow}, not {workflow[1]}")
            continue
        if rule.environment is not None and claims.get("environment") != rule.environment:
            reasons.append(
                f"rule {rule.id} needs environment {rule.environment!r}, the run has "
                f"{claims.get('environment')!r}"
            )
            continue
        if not ref_allowed(ref, list(rule.refs)):
            reasons.append(
                f"the ref {ref!r} is not allowed by rule {rule.id} (allowed: "
                f"{', '.join(rule.refs)})"
            )
            continue
        return rule
    raise Forbidden(
        f"no trusted-publisher rule allows this run of {repository}: " + "; ".join(reasons),
        hint="check the workflow file name, the ref (tag or branch) and the environment",
    )


def verified_claims(settings: Settings, token: str) -> dict[str, Any]:
    """The claims of ``token`` once verified (401 naming what is wrong). May fetch the
    issuer's keys: call it outside any database transaction."""
    try:
        return verify_token(token, settings, issuer_keys(settings))
    except OidcRefused as exc:
        raise Unauthenticated(
            exc.message,
            hint="mint the token with the agent's audience "
            f"({settings.oidc_audience}) in a workflow of a trusted issuer",
        ) from exc


def exchange(session: Session, settings: Settings, claims: dict[str, Any]) -> OidcToken:
    """Hand out the upload token for verified ``claims`` (see the module docstring)."""
    try:
        rule = _match(session, claims)
    except Forbidden as exc:
        projects = {
            r.project.key
            for r in rules_for_repository(session, str(claims["iss"]), str(claims["repository"]))
        }
        raise TriggerRefused(
            exc,
            source="github-oidc",
            delivery=str(claims.get("jti", "")),
            project=projects.pop() if len(projects) == 1 else None,
            data={
                "repository": claims.get("repository"),
                "ref": claims.get("ref"),
                "workflow_ref": claims.get("workflow_ref"),
                "run_url": run_url(claims),
            },
        ) from exc
    project = rule.project
    kept = {k: claims[k] for k in _KEPT_CLAIMS if k in claims}
    url = run_url(claims)
    if url:
        kept["run_url"] = url
    jti = str(claims["jti"])
    user = publisher_user(session, project, actor=f"publisher.{project.key}")
    try:
        delivery = record_delivery(
            session,
            source="github-oidc",
            delivery=jti,
            identity=None,
            project=project.key,
            version=None,
            detail=f"{claims['repository']} {claims['ref']} via rule {rule.id}",
            data={
                "run_url": url,
                "repository": claims["repository"],
                "ref": claims["ref"],
                "sha": claims.get("sha"),
                "rule": rule.id,
            },
            actor=user.name,
        )
    except DeliveryRecorded as exc:
        raise Unauthenticated(
            "this OIDC token was exchanged before; each token buys one upload token",
            hint="ask the OIDC provider for a new token",
        ) from exc
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=settings.oidc_token_minutes)
    secret, row = issue_token(
        session,
        user=user,
        role=Role.COMMITTER,
        project=project.key,
        label=f"trusted publisher rule {rule.id}: {url or claims['repository']}"[:200],
        expires_at=expires,
        kind="api",
        actor=user.name,
    )
    session.add(
        models.OidcGrant(
            token_id=row.id, publisher_id=rule.id, project=project.key, jti=jti, claims=kept
        )
    )
    delivery.task_id = None
    session.flush()
    return OidcToken(
        token=secret, project=project.key, expires_at=expires, publisher=rule.id, run_url=url
    )


def grants_of(session: Session, project: str) -> list[models.OidcGrant]:
    return list(
        session.scalars(
            select(models.OidcGrant)
            .where(models.OidcGrant.project == project)
            .order_by(models.OidcGrant.created_at)
        )
    )
