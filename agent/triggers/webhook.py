"""GitBox / GitHub webhooks: a pushed release tag starts a release.

``POST /api/v1/triggers/webhook/{project}`` takes a GitHub-format ``push`` delivery (GitBox
sends the same). In order:

1. the HMAC-SHA256 of the raw body under the project's webhook secret must equal
   ``X-Hub-Signature-256`` (compared in constant time) — else 401, nothing is read;
2. ``ping`` is answered, other events and pushes that are not a release tag (the project's
   ``tag_pattern``) or that delete one are ignored (200, ``ignored``);
3. the delivery is recorded once: the same ``X-GitHub-Delivery`` again is a no-op (200,
   ``duplicate``); the same push (repository, tag, SHA) under another delivery id is a
   replay and refused (409) — GitHub signs no timestamp, so this is what stops a captured
   delivery from being played again;
4. a ``trigger.git`` task is queued (202): it fetches the tag from the project's
   ``git_url``, checks that the tag still points at the pushed SHA, builds the source
   archive reproducibly (:mod:`agent.triggers.gitsource`) and composes the release.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from agent.config import Settings
from agent.engine import queue
from agent.store import Conflict, Unauthenticated, project_row
from agent.triggers.common import (
    DeliveryRecorded,
    TriggerRefused,
    check_git_url,
    read_settings,
    record_delivery,
    tag_version,
    webhook_secret,
)
from shared.errors import ValidationError
from shared.protocol import TaskType
from shared.protocol.triggers import TriggerAccepted

__all__ = ["ACTOR", "handle_delivery", "signature_of"]

ACTOR = "trigger.webhook"
MAX_BODY = 25 * 1024 * 1024
"""GitHub caps payloads at 25 MB."""


def signature_of(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _verify(secret: bytes | None, key: str, headers: Mapping[str, str], body: bytes) -> None:
    if secret is None:
        raise Unauthenticated(
            f"project '{key}' takes no webhooks: it has no webhook secret",
            hint="a PMC member sets one: atr triggers settings KEY --webhook-secret …",
        )
    given = headers.get("x-hub-signature-256", "")
    if not given:
        raise Unauthenticated("the delivery has no X-Hub-Signature-256 header")
    if not hmac.compare_digest(given.encode(), signature_of(secret, body).encode()):
        raise Unauthenticated(
            "the delivery's X-Hub-Signature-256 does not match its body",
            hint="the body was changed on the way, or the webhook's secret differs from the "
            "agent's",
        )


def _ignored(delivery: str, detail: str, key: str) -> TriggerAccepted:
    return TriggerAccepted(
        status="ignored", source="webhook", delivery=delivery, detail=detail, project=key
    )


def _release_push(
    session: Session, settings: Settings, key: str, event: str, body: bytes
) -> str | tuple[str, dict[str, Any]]:
    """Why the delivery starts nothing (a sentence), or the version and facts of a pushed
    release tag."""
    if event == "ping":
        return "pong: the webhook reaches the agent"
    if event != "push":
        return f"'{event}' events start nothing"
    try:
        payload: dict[str, Any] = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the push payload is not JSON: {exc.msg}") from exc
    ref = str(payload.get("ref", ""))
    if not ref.startswith("refs/tags/"):
        return f"{ref or 'the push'} is not a tag"
    tag = ref[len("refs/tags/") :]
    if payload.get("deleted"):
        return f"tag {tag} was deleted"
    trigger = read_settings(session, key)
    found = tag_version(trigger.tag_pattern, tag)
    if found is None:
        return f"tag {tag} is not a release tag ({trigger.tag_pattern})"
    version, rc = found
    repository = payload.get("repository") or {}
    git_url = trigger.git_url or str(repository.get("clone_url") or "")
    if not git_url:
        raise ValidationError(
            f"project '{key}' has no git_url and the push names no clone_url",
            hint="set git_url in the trigger settings",
        )
    check_git_url(git_url, settings)
    pusher = payload.get("pusher") or {}
    return version, {
        "repository": str(repository.get("full_name") or repository.get("name") or ""),
        "tag": tag,
        "sha": str(payload.get("after", "")),
        "rc": rc,
        "git_url": git_url,
        "pusher": str(pusher.get("name") or pusher.get("email") or ""),
    }


def handle_delivery(
    session: Session, settings: Settings, key: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, TriggerAccepted]:
    """Verify and act on one delivery; (HTTP status, answer). Headers in lower case."""
    project_row(session, key)
    _verify(webhook_secret(session, settings, key), key, headers, body)
    event = headers.get("x-github-event", "")
    delivery = headers.get("x-github-delivery") or "sha256:" + hashlib.sha256(body).hexdigest()
    push = _release_push(session, settings, key, event, body)
    if isinstance(push, str):
        return 200, _ignored(delivery, push, key)
    version, data = push
    tag, after, ref = data["tag"], data["sha"], f"refs/tags/{data['tag']}"
    repo_name = data["repository"]
    try:
        row = record_delivery(
            session,
            source="webhook",
            delivery=delivery,
            identity=f"{repo_name}@{ref}@{after}",
            project=key,
            version=version,
            detail=f"tag {tag} pushed",
            data=data,
            actor=ACTOR,
        )
    except DeliveryRecorded as exc:
        if exc.replay:
            raise TriggerRefused(
                Conflict(
                    f"this push of {tag} ({after[:12]}) was delivered before as "
                    f"{exc.row.delivery}; a replay starts nothing",
                    hint="push a new tag for a new candidate",
                ),
                source="webhook",
                delivery=delivery,
                project=key,
                data={"replay_of": exc.row.delivery, **data},
            ) from exc
        return 200, TriggerAccepted(
            status="duplicate",
            source="webhook",
            delivery=delivery,
            detail=f"delivery {delivery} was received before ({exc.row.state}); nothing done again",
            project=key,
            version=exc.row.version,
            task_id=exc.row.task_id,
        )
    task = queue.enqueue(
        session,
        TaskType.TRIGGER_GIT,
        project=key,
        version=version,
        revision=None,
        args={"delivery": row.id, **data},
        created_by=ACTOR,
        max_attempts=3,
        timeout_seconds=1800,
    )
    row.task_id = task.id
    return 202, TriggerAccepted(
        status="accepted",
        source="webhook",
        delivery=delivery,
        detail=f"tag {tag}: fetching and building {key} {version}",
        project=key,
        version=version,
        task_id=task.id,
    )
