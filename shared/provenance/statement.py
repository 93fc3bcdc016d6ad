"""in-toto Statements (v1): their type URIs, their subjects, and their canonical bytes.

A Statement binds a predicate (what is claimed) to subjects (the files it is claimed of, by
name and digests)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "apache-acme-1.0-src.tar.gz", "digest": {"sha256": "…", "sha512": "…"}}],
     "predicateType": "https://in-toto.io/attestation/release/v0.2",
     "predicate": {…}}

The predicate types the agent writes:

================  ===================================================  =========================
kind              predicate type                                       written when
================  ===================================================  =========================
``release``       ``https://in-toto.io/attestation/release/v0.2``      the vote passes
``vote``          ``https://atr.apache.org/attestation/vote/v1``       the vote passes
``slsa``          ``https://slsa.dev/provenance/v1``                   the vote passes, if a
                                                                       trusted CI build was
                                                                       recorded for the revision
``distribution``  ``https://atr.apache.org/attestation/distribution/v1``  the distribution is
                                                                       verified
``codesign``      ``https://atr.apache.org/attestation/codesign/v1``   the agent signed files
                                                                       (Authenticode, Apple)
================  ===================================================  =========================

The release predicate is in-toto's registered one (``purl``, ``packageId``), extended with the
release's facts (consumers ignore fields they do not know, as the in-toto spec says).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.errors import ValidationError

__all__ = [
    "BUNDLE_SUFFIX",
    "KIND_BY_TYPE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPES",
    "STATEMENT_TYPE",
    "canonical_bytes",
    "file_digests",
    "parse_statement",
    "statement",
    "subject",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The DSSE ``payloadType`` of an in-toto Statement."""
BUNDLE_SUFFIX = ".intoto.jsonl"
"""A bundle: one DSSE envelope (JSON) per line."""

PREDICATE_TYPES: dict[str, str] = {
    "release": "https://in-toto.io/attestation/release/v0.2",
    "vote": "https://atr.apache.org/attestation/vote/v1",
    "slsa": "https://slsa.dev/provenance/v1",
    "distribution": "https://atr.apache.org/attestation/distribution/v1",
    "codesign": "https://atr.apache.org/attestation/codesign/v1",
}
KIND_BY_TYPE = {uri: kind for kind, uri in PREDICATE_TYPES.items()}

_CHUNK = 1 << 20


def file_digests(path: Path) -> dict[str, str]:
    """The SHA-256 and SHA-512 of a file (hex), read once as a stream."""
    sha256 = hashlib.sha256()
    sha512 = hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha256.update(chunk)
            sha512.update(chunk)
    return {"sha256": sha256.hexdigest(), "sha512": sha512.hexdigest()}


def subject(name: str, *, sha256: str, sha512: str) -> dict[str, Any]:
    """One subject: a file's name as it appears on disk, and its digests."""
    return {"name": name, "digest": {"sha256": sha256.lower(), "sha512": sha512.lower()}}


def statement(
    kind: str, subjects: Iterable[Mapping[str, Any]], predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """A Statement of ``kind`` (a key of :data:`PREDICATE_TYPES`) about ``subjects``."""
    listed = sorted((dict(s) for s in subjects), key=lambda s: str(s["name"]))
    if not listed:
        raise ValidationError(f"a {kind} attestation needs at least one subject")
    return {
        "_type": STATEMENT_TYPE,
        "subject": listed,
        "predicateType": PREDICATE_TYPES[kind],
        "predicate": dict(predicate),
    }


def canonical_bytes(value: Mapping[str, Any]) -> bytes:
    """The bytes a Statement is signed as: JSON, sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_statement(payload: bytes) -> dict[str, Any]:
    """A Statement from a DSSE payload; :class:`ValidationError` if it is not one."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"the payload is not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get("_type") != STATEMENT_TYPE:
        raise ValidationError(f"the payload is not an in-toto Statement ({STATEMENT_TYPE})")
    subjects = value.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise ValidationError("the Statement has no subject")
    for item in subjects:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("digest"), dict)
            or not item["digest"]
        ):
            raise ValidationError("a subject of the Statement has no name or no digest")
    if not isinstance(value.get("predicateType"), str) or not isinstance(
        value.get("predicate"), dict
    ):
        raise ValidationError("the Statement has no predicateType or predicate")
    return value
