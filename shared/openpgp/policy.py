"""The ASF's rules for release signing keys, as one reusable policy.

* RSA keys of at least 2048 bits (4096 recommended: smaller ones get advice);
* no DSA (nor ElGamal, which cannot sign);
* elliptic-curve keys on a known curve (Ed25519/Ed448, NIST P-256/384/521, Brainpool);
* not revoked, not expired;
* a key signs releases if its primary key passes and a key able to sign (the primary or a
  subkey) passes too (:func:`release_problems`, over a key as GnuPG lists it).

:func:`evaluate` describes the problems of one key (a primary key or a signing
subkey) given as :class:`KeyMaterial`; the signatures check turns fatal ones into
blockers, and the agent's key management can refuse a key with the same words.
:func:`material_from_key_info` adapts a pgpy :class:`~shared.openpgp.keys.KeyInfo`
(which cannot tell revocation: pass ``revoked`` from GnuPG when it matters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # shared.openpgp.keys imports pgpy, which the checks do not need
    from shared.openpgp.gnupg import GpgKey, GpgSubkey
    from shared.openpgp.keys import KeyInfo

__all__ = [
    "MIN_RSA_BITS",
    "RECOMMENDED_RSA_BITS",
    "KeyMaterial",
    "KeyProblem",
    "algorithm_name",
    "evaluate",
    "is_acceptable",
    "material_from_key_info",
    "release_problems",
]

MIN_RSA_BITS = 2048
RECOMMENDED_RSA_BITS = 4096

# OpenPGP public-key algorithm ids (RFC 4880 9.1, RFC 9580 9.1).
_ALGORITHMS = {
    1: "RSA",
    2: "RSA",
    3: "RSA",
    16: "ElGamal",
    17: "DSA",
    18: "ECDH",
    19: "ECDSA",
    20: "ElGamal",
    22: "EdDSA",
    25: "X25519",
    26: "X448",
    27: "Ed25519",
    28: "Ed448",
}

_SIGNING_CURVES = frozenset(
    {
        "ed25519",
        "ed448",
        "nistp256",
        "nistp384",
        "nistp521",
        "brainpoolp256r1",
        "brainpoolp384r1",
        "brainpoolp512r1",
    }
)
_ECC_SIGNING = frozenset({"ECDSA", "EdDSA"})
_ECC_FIXED = frozenset({"Ed25519", "Ed448"})
_NEVER_SIGNING = frozenset({"ElGamal", "ECDH", "X25519", "X448"})


def algorithm_name(algorithm_id: int) -> str:
    """The name of an OpenPGP public-key algorithm id: ``1`` → ``RSA``, 99 → ``algorithm 99``."""
    return _ALGORITHMS.get(algorithm_id, f"algorithm {algorithm_id}")


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """What the policy looks at in a key."""

    algorithm: str
    """``RSA``, ``DSA``, ``ElGamal``, ``ECDSA``, ``ECDH``, ``EdDSA``, ``Ed25519``, ``Ed448``…"""
    bits: int | None
    curve: str | None = None
    revoked: bool = False
    expires_at: datetime | None = None
    expired: bool | None = None
    """GnuPG's own verdict when known; otherwise ``expires_at`` is compared with now."""

    @classmethod
    def of_listed(cls, key: GpgSubkey) -> KeyMaterial:
        """The policy's view of a primary key or subkey that GnuPG listed."""
        return cls(
            algorithm=algorithm_name(key.algorithm),
            bits=key.bits,
            curve=key.curve,
            revoked=key.revoked,
            expires_at=key.expires,
            expired=key.expired,
        )

    @property
    def description(self) -> str:
        """``RSA 4096``, ``EdDSA ed25519``: how people name a key's kind."""
        if self.curve:
            return f"{self.algorithm} {self.curve}"
        return f"{self.algorithm} {self.bits}" if self.bits else self.algorithm


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """One way a key falls short. ``fatal``: signatures by it are refused; else advice."""

    code: str
    """``revoked``, ``expired``, ``rsa_too_small``, ``rsa_below_recommended``, ``dsa``,
    ``cannot_sign``, ``unknown_curve``, ``unknown_algorithm``."""
    message: str
    fatal: bool


def _rsa_problem(key: KeyMaterial) -> KeyProblem | None:
    kind = key.description
    if key.bits is None or key.bits < MIN_RSA_BITS:
        message = f"{kind} bits is under the minimum of {MIN_RSA_BITS} bits for RSA"
        return KeyProblem("rsa_too_small", message, True)
    if key.bits < RECOMMENDED_RSA_BITS:
        message = f"{kind} is accepted; {RECOMMENDED_RSA_BITS} bits are recommended for new keys"
        return KeyProblem("rsa_below_recommended", message, False)
    return None


def _algorithm_problem(key: KeyMaterial) -> KeyProblem | None:
    kind = key.description
    problem: KeyProblem | None = None
    if key.algorithm == "RSA":
        problem = _rsa_problem(key)
    elif key.algorithm == "DSA":
        problem = KeyProblem("dsa", f"{kind}: DSA keys are not accepted for releases", True)
    elif key.algorithm in _NEVER_SIGNING:
        problem = KeyProblem("cannot_sign", f"{kind} is an encryption-only algorithm", True)
    elif key.algorithm in _ECC_SIGNING:
        if (key.curve or "").lower() not in _SIGNING_CURVES:
            message = f"{kind}: not a curve accepted for releases"
            problem = KeyProblem("unknown_curve", message, True)
    elif key.algorithm not in _ECC_FIXED:
        message = f"{kind}: not an algorithm accepted for releases"
        problem = KeyProblem("unknown_algorithm", message, True)
    return problem


def evaluate(key: KeyMaterial, *, now: datetime | None = None) -> list[KeyProblem]:
    """Every problem of ``key``, fatal ones first (an empty list: the key is fine)."""
    problems: list[KeyProblem] = []
    if key.revoked:
        problems.append(KeyProblem("revoked", "the key is revoked", True))
    expired = key.expired
    if expired is None and key.expires_at is not None:
        expired = key.expires_at <= (now or datetime.now(UTC))
    if expired:
        when = f" on {key.expires_at:%Y-%m-%d}" if key.expires_at else ""
        problems.append(KeyProblem("expired", f"the key expired{when}", True))
    algorithm = _algorithm_problem(key)
    if algorithm is not None:
        problems.append(algorithm)
    problems.sort(key=lambda p: not p.fatal)
    return problems


def is_acceptable(key: KeyMaterial, *, now: datetime | None = None) -> bool:
    """True when no fatal problem stands against ``key``."""
    return not any(p.fatal for p in evaluate(key, now=now))


def material_from_key_info(info: KeyInfo, *, revoked: bool = False) -> KeyMaterial:
    """The policy's view of a pgpy-described key."""
    curve = None
    bits = info.bits
    if info.algorithm in ("EdDSA", "ECDSA", "ECDH"):
        curve = {255: "ed25519", 256: "nistp256", 384: "nistp384", 521: "nistp521"}.get(bits or 0)
        if info.algorithm == "EdDSA" and bits in (255, 256):
            curve = "ed25519"
    return KeyMaterial(
        algorithm=info.algorithm,
        bits=bits,
        curve=curve,
        revoked=revoked,
        expires_at=info.expires_at,
    )


def release_problems(key: GpgKey) -> list[KeyProblem]:
    """Why ``key`` cannot make release signatures (an empty list: it can).

    The primary key must pass the policy (a revoked or expired primary key ends every
    subkey); then at least one key able to sign — the primary or a subkey — must pass.
    """
    primary = [p for p in evaluate(KeyMaterial.of_listed(key.primary)) if p.fatal]
    if primary:
        return primary
    signers = [k for k in (key.primary, *key.subkeys) if k.can_sign]
    if not signers:
        return [KeyProblem("cannot_sign", "neither the key nor a subkey of it can sign", True)]
    problems: list[KeyProblem] = []
    for signer in signers:
        fatal = [p for p in evaluate(KeyMaterial.of_listed(signer)) if p.fatal]
        if not fatal:
            return []
        problems.extend(p for p in fatal if p.code not in {q.code for q in problems})
    if signers != [key.primary]:
        problems = [
            KeyProblem(p.code, f"signing subkey: {p.message}", p.fatal)
            if p.code not in ("revoked", "expired")
            else p
            for p in problems
        ]
    return problems
