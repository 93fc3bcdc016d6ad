"""Registry credentials in the vault: set and listed by admins, used by channels only.

A credential is a secret (a password or token) and an optional user name, encrypted with
the vault's key (:mod:`agent.vault`) and bound to the channels that may use it: a kind
(``pypi``: every PyPI channel) or one project's channel (``acme-lib:pypi``). Nothing
returns the secret: the API lists names, user names, bindings and who changed them when;
events carry the name only. The worker that publishes decrypts it (:func:`resolve_credential`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute.channels.base import ChannelError, Secret
from agent.engine.events import append_event
from agent.store import NotFound, Principal, require_role
from agent.vault import Vault
from shared.errors import ValidationError
from shared.protocol import EventKind, Role
from shared.protocol.distribute import ChannelKind, CredentialInfo, CredentialSet

__all__ = ["delete_credential", "list_credentials", "resolve_credential", "set_credential"]

NAME_RE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_KINDS = {k.value for k in ChannelKind}


def _check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValidationError(
            f"{name!r} is not a credential name",
            hint="lower-case letters, digits, '.', '_' and '-', starting with a letter",
        )
    return name


def _check_binding(binding: str) -> str:
    project, sep, channel = binding.partition(":")
    if (not sep and binding in _KINDS) or (sep and project and channel):
        return binding
    raise ValidationError(
        f"{binding!r} is not a channel binding",
        hint=f"a channel kind ({', '.join(sorted(_KINDS))}) or PROJECT:CHANNEL",
    )


def _info(row: models.Credential) -> CredentialInfo:
    return CredentialInfo(
        name=row.name,
        username=row.username,
        channels=list(row.channels),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def set_credential(
    session: Session, settings: Settings, principal: Principal, name: str, body: CredentialSet
) -> CredentialInfo:
    """Store (or replace) credential ``name``; admin only."""
    require_role(principal, Role.ADMIN, what="storing a registry credential")
    _check_name(name)
    channels = [_check_binding(b) for b in body.channels]
    vault = Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)
    row = session.get(models.Credential, name)
    if row is None:
        row = models.Credential(name=name, ciphertext="", channels=[], updated_by="")
        session.add(row)
    row.username = body.username
    row.ciphertext = vault.encrypt(body.secret.encode(), name=name)
    row.channels = channels
    row.updated_by = principal.name
    row.updated_at = datetime.now(UTC)
    session.flush()
    append_event(
        session,
        EventKind.CREDENTIAL_SET,
        actor=principal.name,
        data={"name": name, "channels": channels},
    )
    return _info(row)


def list_credentials(session: Session, principal: Principal) -> list[CredentialInfo]:
    """Every credential, without its secret; admin only."""
    require_role(principal, Role.ADMIN, what="listing registry credentials")
    return [
        _info(r)
        for r in session.scalars(select(models.Credential).order_by(models.Credential.name))
    ]


def delete_credential(session: Session, principal: Principal, name: str) -> CredentialInfo:
    require_role(principal, Role.ADMIN, what="deleting a registry credential")
    row = session.get(models.Credential, name)
    if row is None:
        raise NotFound(f"no credential named '{name}'")
    info = _info(row)
    session.delete(row)
    append_event(session, EventKind.CREDENTIAL_DELETED, actor=principal.name, data={"name": name})
    return info


def resolve_credential(
    session: Session, settings: Settings, name: str, *, kind: str, project: str, channel: str
) -> Secret:
    """The decrypted credential ``name`` for channel ``channel`` of ``project`` (of ``kind``),
    if it is bound to it; else a :class:`ChannelError` (never retried)."""
    row = session.get(models.Credential, name)
    if row is None:
        raise ChannelError(
            f"the channel {channel!r} uses the credential {name!r}, which is not in the vault",
            retryable=False,
            hint=f"an admin stores it: atr-agent credential set {name} --channel {kind}",
        )
    if kind not in row.channels and f"{project}:{channel}" not in row.channels:
        raise ChannelError(
            f"the credential {name!r} is not bound to {kind} channels nor to {project}:{channel}",
            retryable=False,
            hint=f"bind it: atr-agent credential set {name} --channel {project}:{channel}",
        )
    vault = Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)
    secret = vault.decrypt(row.ciphertext, name=name).decode("utf-8")
    return Secret(username=row.username, secret=secret)
