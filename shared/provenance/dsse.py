"""DSSE envelopes of in-toto Statements, through ``securesystemslib`` (no hand-made crypto).

:func:`sign_statement` wraps a Statement in an envelope signed by a ``cryptography`` private
key (the agent's attestation key); :func:`verify_envelope` checks an envelope against
published keys and returns the Statement with the key that signed it. The DSSE ``keyid``
is the key's fingerprint (:func:`shared.provenance.keys.fingerprint_of`).

Bundles are JSON Lines: one envelope per line (:func:`read_bundle`, :func:`bundle_text`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from shared.errors import AtrError, ValidationError
from shared.provenance.keys import PublishedKey, fingerprint_of
from shared.provenance.statement import PAYLOAD_TYPE, canonical_bytes, parse_statement

if TYPE_CHECKING:  # securesystemslib loads when an envelope is first signed or read
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

__all__ = [
    "AttestationInvalid",
    "VerifiedEnvelope",
    "bundle_text",
    "read_bundle",
    "sign_statement",
    "verify_envelope",
]


class AttestationInvalid(AtrError):
    """An envelope that does not verify: tampered with, or signed by a key not given."""


def _sslib_key(public_key: PublicKeyTypes) -> SSlibKey:
    from securesystemslib.signer import SSlibKey  # noqa: PLC0415 - see the module's imports

    return SSlibKey.from_crypto(public_key, keyid=fingerprint_of(public_key))


def sign_statement(statement: Mapping[str, Any], private_key: PrivateKeyTypes) -> dict[str, Any]:
    """The DSSE envelope (as JSON data) of ``statement`` signed with ``private_key``."""
    from securesystemslib.dsse import Envelope  # noqa: PLC0415 - see the module's imports
    from securesystemslib.signer import CryptoSigner  # noqa: PLC0415

    signer = CryptoSigner(private_key, _sslib_key(private_key.public_key()))
    envelope = Envelope(canonical_bytes(statement), PAYLOAD_TYPE, {})
    envelope.sign(signer)
    return envelope.to_dict()


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    """A Statement whose envelope verified, and the key that signed it."""

    statement: dict[str, Any]
    key: PublishedKey


def _envelope(data: Mapping[str, Any]) -> Envelope:
    from securesystemslib.dsse import Envelope  # noqa: PLC0415 - see the module's imports

    try:
        # from_dict rewrites the signatures it is given: hand it a copy
        return Envelope.from_dict(copy.deepcopy(dict(data)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"not a DSSE envelope: {exc}") from exc


def verify_envelope(data: Mapping[str, Any], keys: Sequence[PublishedKey]) -> VerifiedEnvelope:
    """Verify ``data`` (an envelope) against ``keys``; its Statement and signing key.

    :class:`AttestationInvalid` when no signature verifies with a key given (the payload or
    the signature changed, or the signer is unknown); :class:`ValidationError` when the
    envelope or its payload is not what an attestation is.
    """
    from securesystemslib.exceptions import VerificationError  # noqa: PLC0415

    envelope = _envelope(data)
    if envelope.payload_type != PAYLOAD_TYPE:
        raise ValidationError(
            f"the envelope's payloadType is {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}"
        )
    if not envelope.signatures:
        raise AttestationInvalid("the envelope carries no signature")
    by_id = {k.fingerprint: k for k in keys}
    named = [keyid for keyid in envelope.signatures if keyid in by_id]
    if not named:
        ids = ", ".join(f"{k[:16]}…" for k in envelope.signatures)
        raise AttestationInvalid(
            f"the envelope is signed by key {ids}, which is not among the agent keys given",
            hint="download the agent's keys (current and retired): atr attestation key -o KEYS.pem",
        )
    for keyid in named:
        key = by_id[keyid]
        try:
            envelope.verify([_sslib_key(key.public_key)], 1)
        except VerificationError:
            continue
        return VerifiedEnvelope(statement=parse_statement(envelope.payload), key=key)
    raise AttestationInvalid(
        f"the DSSE signature does not verify with the agent key {named[0][:16]}…: the "
        "statement or the signature was changed after signing"
    )


def read_bundle(text: str, *, source: str = "the bundle") -> list[dict[str, Any]]:
    """The envelopes of a JSON Lines bundle (blank lines skipped)."""
    envelopes: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"line {number} of {source} is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValidationError(f"line {number} of {source} is not a DSSE envelope")
        envelopes.append(value)
    if not envelopes:
        raise ValidationError(f"{source} holds no attestation")
    return envelopes


def bundle_text(envelopes: Iterable[Mapping[str, Any]]) -> str:
    """A JSON Lines bundle: each envelope on one line, sorted keys."""
    return "".join(
        json.dumps(dict(e), sort_keys=True, separators=(",", ":")) + "\n" for e in envelopes
    )
