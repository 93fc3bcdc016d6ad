"""The SBOM of each artifact, naming the release, its signers and the vote outcome.

The checks made a CycloneDX SBOM of each artifact of the revision (``revision_sboms``).
When the vote passes, the agent adds CycloneDX properties to its ``metadata`` — the release
(project, version, revision), every OpenPGP signer of the artifact, the vote's outcome,
tally and thread, and the attestation bundle's name — raises the BOM's ``version`` (the
same ``serialNumber``, a new revision of the document, as CycloneDX asks) and validates
the result against the CycloneDX schema. The new SBOM goes to the dist repository with the
release as ``<artifact>.cdx.json`` (or ``<artifact>.atr.cdx.json`` when the release
manager uploaded an SBOM of that name themselves).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.errors import ValidationError
from shared.sbom.validate import validate_cyclonedx

__all__ = ["PROPERTY_PREFIX", "release_sbom"]

PROPERTY_PREFIX = "atr:"


def release_sbom(
    text: str,
    *,
    project: str,
    version: str,
    revision: int,
    signers: Sequence[tuple[str, str]],
    vote: dict[str, Any],
    bundle_name: str,
    public_url: str,
) -> str:
    """The SBOM ``text`` with the release's properties (see the module docstring)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the stored SBOM is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise ValidationError("the stored SBOM is not a CycloneDX document")
    metadata = data.setdefault("metadata", {})
    kept = [
        p
        for p in metadata.get("properties", [])
        if not str(p.get("name", "")).startswith(PROPERTY_PREFIX)
    ]
    added = [
        ("atr:release:project", project),
        ("atr:release:version", version),
        ("atr:release:revision", str(revision)),
        ("atr:release:page", f"{public_url}/projects/{project}/downloads/"),
    ]
    added += [("atr:release:signer", f"{fpr} {uid}".strip()) for fpr, uid in signers]
    added += [
        ("atr:vote:outcome", str(vote.get("outcome", ""))),
        ("atr:vote:binding", _counts(vote.get("binding"))),
        ("atr:vote:non-binding", _counts(vote.get("non_binding"))),
    ]
    if vote.get("thread"):
        added.append(("atr:vote:thread", str(vote["thread"])))
    if vote.get("decided_at"):
        added.append(("atr:vote:decided", str(vote["decided_at"])))
    added.append(("atr:attestations", bundle_name))
    metadata["properties"] = kept + [{"name": n, "value": v} for n, v in added if v]
    data["version"] = int(data.get("version", 1)) + 1
    out = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    problems = validate_cyclonedx(out)
    if problems:
        raise ValidationError(f"the release SBOM is not valid CycloneDX: {problems[0]}")
    return out


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict):
        return ""
    return ", ".join(f"{value}: {counts.get(value, 0)}" for value in ("+1", "0", "-1"))
