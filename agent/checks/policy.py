"""A project's check policy: read it (anyone), replace it (PMC), and record the change as an event.

The stored document is validated with :class:`shared.checks.policy.Policy`
(unknown keys refused) and a few rules of the agent's own:

* every ignore rule names a registered check (a typo would silently ignore nothing)
  and has a written reason (not just spaces);
* a rule may not target the blockers of ``signatures`` or ``checksums``
  (:data:`~shared.checks.policy.UNIGNORABLE_CHECKS`); a rule on those checks
  without a status ignores their warnings and notes only.

A bad document is a :class:`~shared.errors.ValidationError` (400) naming the
field. Each change records ``project.policy_changed`` with the ignore rules
added and removed, the other fields changed, and the reason given: ignores are
events too. Ignore rules apply to stored results at once (they are applied when
results are read), and a release waiting in phase ``checks`` that the new rules
clear moves on to ``candidate``. The other fields are inputs of the checks that
read them (``POLICY_FIELDS``): a change requeues those runs of the latest revision
of every release before the vote, by itself (cached results are reused where a run
with the same inputs exists), as ``POST .../checks/rerun`` would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.gate import advance_if_clear
from agent.checks.inputs import effective_policy, policy_error
from agent.checks.service import rerun_for_project
from agent.db import models
from agent.engine.events import append_event
from agent.store import Store, project_row
from shared.checks.policy import UNIGNORABLE_CHECKS, ArchiveLimits, Policy
from shared.errors import ValidationError
from shared.lifecycle import Phase
from shared.protocol import EventKind
from shared.protocol.checks import PolicyOut, PolicyUpdate

__all__ = ["get_policy", "parse_policy", "update_policy"]

MAX_REASON = 2000


def parse_policy(document: dict[str, Any]) -> Policy:
    """Validate a policy document for storing (see the module docstring)."""
    try:
        policy = Policy.model_validate(document)
    except PydanticValidationError as exc:
        raise policy_error(exc) from exc
    from shared.checks.registry import CHECKS  # noqa: PLC0415 - imported on first use

    known = [check.CHECK_ID for check in CHECKS]
    for index, rule in enumerate(policy.ignores):
        where = f"the policy is not valid: ignores.{index}"
        if rule.check not in known:
            raise ValidationError(
                f"{where}.check: there is no check '{rule.check}'",
                hint=f"checks: {', '.join(known)}",
            )
        if not rule.reason.strip():
            raise ValidationError(
                f"{where}.reason: every ignore rule needs a written reason",
                hint="say why the result does not matter for this project",
            )
        if rule.check in UNIGNORABLE_CHECKS and rule.status == "blocker":
            raise ValidationError(
                f"{where}: blockers of '{rule.check}' can never be ignored",
                hint=f"blockers of {' and '.join(sorted(UNIGNORABLE_CHECKS))} must be fixed",
            )
    return policy


def _out(session: Session, key: str) -> PolicyOut:
    row = project_row(session, key)
    return PolicyOut(
        project=row.key,
        policy=effective_policy(row).model_dump(mode="json"),
        updated_by=row.policy_updated_by,
        updated_at=row.policy_updated_at,
    )


def get_policy(session: Session, key: str) -> PolicyOut:
    """The project's effective policy (every field, defaults included)."""
    return _out(session, key)


def _rules(policy: Policy) -> list[dict[str, Any]]:
    return [rule.model_dump(mode="json") for rule in policy.ignores]


def _diff(old: Policy, new: Policy) -> dict[str, Any]:
    before, after = _rules(old), _rules(new)
    old_fields = old.model_dump(mode="json", exclude={"ignores"})
    new_fields = new.model_dump(mode="json", exclude={"ignores"})
    return {
        "ignores_added": [r for r in after if r not in before],
        "ignores_removed": [r for r in before if r not in after],
        "changed": {
            name: {"from": old_fields[name], "to": new_fields[name]}
            for name in sorted(new_fields)
            if old_fields.get(name) != new_fields[name]
        },
    }


def check_ceiling(policy: Policy, ceiling: ArchiveLimits) -> None:
    """Refuse archive limits above the operator's ceiling (the agent's ``archive_max_*``)."""
    for name, limit in ceiling.model_dump().items():
        value = getattr(policy.archive, name)
        if value > limit:
            raise ValidationError(
                f"the policy is not valid: archive.{name}: {value:g} is above this agent's "
                f"ceiling of {limit:g}",
                hint=f"ask the agent's operator (setting archive_{name} in agent.toml), or "
                "choose a lower limit",
            )


def update_policy(
    store: Store, key: str, body: PolicyUpdate, *, ceiling: ArchiveLimits | None = None
) -> PolicyOut:
    """Replace the project's policy (PMC of the project). Records ``project.policy_changed``.
    ``ceiling``: the highest archive limits the operator allows."""
    writer = store.as_pmc(key)
    if len(body.reason) > MAX_REASON:
        raise ValidationError(f"the reason is longer than {MAX_REASON} characters")
    new = parse_policy(body.policy)
    if ceiling is not None:
        check_ceiling(new, ceiling)
    project = writer.project
    old = effective_policy(project)
    seen = new
    if project.committee.podling and not new.podling:
        seen = new.model_copy(update={"podling": True})
    diff = _diff(old, seen)
    if diff["ignores_added"] or diff["ignores_removed"] or diff["changed"]:
        project.policy = new.model_dump(mode="json", exclude_defaults=True)
        project.policy_updated_by = store.principal.name
        project.policy_updated_at = datetime.now(UTC)
        store.session.flush()
        append_event(
            store.session,
            EventKind.POLICY_CHANGED,
            actor=store.principal.name,
            project=project.key,
            data={"reason": body.reason, **diff},
        )
        if diff["changed"]:
            rerun_for_project(store.session, project, actor=store.principal.name)
        _advance_waiting(store.session, project)
    return _out(store.session, key)


def _advance_waiting(session: Session, project: models.Project) -> None:
    """Releases waiting in ``checks`` that the new ignore rules clear move on to ``candidate``."""
    waiting = session.scalars(
        select(models.Release).where(
            models.Release.project_id == project.id, models.Release.phase == Phase.CHECKS.value
        )
    )
    for release in list(waiting):
        advance_if_clear(session, release)
