"""What the candidate and download pages say about provenance: where the attestations are
and which agent keys sign them (public parts only)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from agent.db import models

__all__ = [
    "AGENT_KEYS_PATH",
    "AttestationKey",
    "attestation_keys",
    "candidate_links",
    "session_has_attestations",
]

AGENT_KEYS_PATH = "/.well-known/atr/automation-keys.pem"


@dataclass(frozen=True, slots=True)
class AttestationKey:
    fingerprint: str
    state: str
    algorithm: str

    @property
    def spaced(self) -> str:
        return " ".join(self.fingerprint[i : i + 8] for i in range(0, len(self.fingerprint), 8))


def attestation_keys(session: Session) -> list[AttestationKey]:
    """The attestation keys anyone may verify with: active first, then retired."""
    rows = session.scalars(
        select(models.AutomationKey)
        .where(
            models.AutomationKey.use == "attestation",
            models.AutomationKey.state.in_(("active", "retired")),
        )
        .order_by(models.AutomationKey.state, models.AutomationKey.created_at.desc())
    )
    return [AttestationKey(r.fingerprint, r.state, r.algorithm) for r in rows]


def session_has_attestations(release: models.Release) -> bool:
    session = object_session(release)
    if session is None:  # pragma: no cover - rows come from a session
        return False
    query = select(models.Attestation.id).where(models.Attestation.release_id == release.id)
    return session.scalar(query.limit(1)) is not None


def candidate_links(session: Session, base_url: str, release: models.Release) -> dict[str, str]:
    """The candidate page's provenance links once the vote passed and attestations exist
    (the page's ``extra``): the bundle, the agent's keys, how many attestations."""
    count = len(
        list(
            session.scalars(
                select(models.Attestation.id).where(models.Attestation.release_id == release.id)
            )
        )
    )
    if not count:
        return {}
    return {
        "attestations_url": f"{base_url}/projects/{quote(release.project.key)}"
        f"/attestations/{quote(release.version)}",
        "attestations_count": str(count),
        "agent_keys_url": base_url + AGENT_KEYS_PATH,
    }
