"""Provenance that anyone can check offline: in-toto Statements in DSSE envelopes, the agent's
published keys, and the verification of a downloaded release (``atr verify``).

The agent writes the attestations (:mod:`agent.provenance`); this package holds what both
sides agree on, with no agent, database or Qt in it:

* :mod:`shared.provenance.statement` — Statement v1, predicate types, subjects, canonical bytes;
* :mod:`shared.provenance.dsse` — sign and verify envelopes (``securesystemslib``), bundles;
* :mod:`shared.provenance.keys` — the published key file: keys with their standing;
* :mod:`shared.provenance.verify` — :func:`~shared.provenance.verify.verify_release`.
"""

from shared.provenance.dsse import (
    AttestationInvalid,
    VerifiedEnvelope,
    bundle_text,
    read_bundle,
    sign_statement,
    verify_envelope,
)
from shared.provenance.keys import (
    PublishedKey,
    fingerprint_of,
    parse_published_keys,
    render_published_keys,
)
from shared.provenance.statement import (
    BUNDLE_SUFFIX,
    PAYLOAD_TYPE,
    PREDICATE_TYPES,
    STATEMENT_TYPE,
    file_digests,
    statement,
    subject,
)

__all__ = [
    "BUNDLE_SUFFIX",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPES",
    "STATEMENT_TYPE",
    "AttestationInvalid",
    "PublishedKey",
    "VerifiedEnvelope",
    "bundle_text",
    "file_digests",
    "fingerprint_of",
    "parse_published_keys",
    "read_bundle",
    "render_published_keys",
    "sign_statement",
    "statement",
    "subject",
    "verify_envelope",
]
