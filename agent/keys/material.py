"""Reading keys as GnuPG sees them: one key, a whole KEYS file, a revocation.

Everything here runs GnuPG in a throwaway home (:class:`shared.openpgp.gnupg.Keyring`)
and nothing touches the database. A key is described by :class:`KeyFacts`, whose
``armored`` text is GnuPG's own export of the key — every signature merged in, the
revocation included once revoked — so that what the project stores is exactly what
GnuPG imports again (the signatures check reads it).

KEYS files are split block by block by :func:`shared.openpgp.keysfile.parse_keys`;
a block no library can read, or whose key GnuPG does not import, is reported as a
:class:`SkippedBlock` and never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.errors import ValidationError
from shared.openpgp.gnupg import GpgKey, KeyRevocation, Keyring
from shared.openpgp.keysfile import parse_keys
from shared.openpgp.policy import (
    KeyProblem,
    algorithm_name,
    release_problems,
)
from shared.protocol.keys import SkippedBlock

__all__ = [
    "FLAG_BY_PROBLEM",
    "MAX_KEYS_TEXT",
    "KeyFacts",
    "KeysRead",
    "read_key",
    "read_keys_file",
    "read_revocation",
    "release_problems",
]

MAX_KEYS_TEXT = 16 * 1024 * 1024
"""The largest KEYS file or key text accepted (the ASF's largest KEYS files are about 1 MB)."""

FLAG_BY_PROBLEM = {
    "rsa_too_small": "weak",
    "revoked": "revoked",
    "expired": "expired",
    "dsa": "dsa",
    "cannot_sign": "cannot_sign",
    "unknown_curve": "unknown_curve",
    "unknown_algorithm": "unknown_algorithm",
}
"""The ``flags`` word stored for each fatal problem code of :mod:`shared.openpgp.policy`."""

_BEGIN_PUBLIC = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_BEGIN_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """One public key as GnuPG reads it, with the policy's verdict."""

    fingerprint: str
    """Primary key fingerprint: 40 upper-case hex characters."""
    armored: str
    """GnuPG's ASCII-armored export: the key with every signature, revocation included."""
    algorithm: str
    """``RSA``, ``DSA``, ``EdDSA``, ``ECDSA``… of the primary key."""
    bits: int | None
    curve: str | None
    user_ids: tuple[str, ...]
    created_at: datetime | None
    expires_at: datetime | None
    revocation: KeyRevocation | None
    """The revocation GnuPG accepted, or ``None`` if the key is not revoked."""
    problems: tuple[KeyProblem, ...]
    """Why the key cannot sign releases (empty: it can)."""
    key_ids: tuple[str, ...]
    """Fingerprints of the primary key and every subkey (signatures name one of them)."""

    @property
    def revoked(self) -> bool:
        return self.revocation is not None

    @property
    def emails(self) -> tuple[str, ...]:
        """The lower-case email addresses of the user ids."""
        out: list[str] = []
        for uid in self.user_ids:
            if "<" in uid and uid.rstrip().endswith(">"):
                mail = uid[uid.rindex("<") + 1 : uid.rstrip().rindex(">")].strip().lower()
                if mail and mail not in out:
                    out.append(mail)
        return tuple(out)

    @property
    def flags(self) -> list[str]:
        """The policy findings kept with the key: ``weak``, ``expired``, ``revoked``…"""
        flags: list[str] = []
        for problem in self.problems:
            flag = FLAG_BY_PROBLEM.get(problem.code, problem.code)
            if flag not in flags:
                flags.append(flag)
        return flags

    @property
    def label(self) -> str:
        """``Alice <alice@example.org> (FINGERPRINT)``."""
        who = self.user_ids[0] if self.user_ids else "a key without user id"
        return f"{who} ({self.fingerprint})"


def describe(ring: Keyring, key: GpgKey) -> KeyFacts:
    """The facts of ``key``, held in ``ring``."""
    primary = key.primary
    return KeyFacts(
        fingerprint=key.fingerprint,
        armored=ring.export(key.fingerprint),
        algorithm=algorithm_name(primary.algorithm),
        bits=primary.bits,
        curve=primary.curve,
        user_ids=key.user_ids,
        created_at=primary.created,
        expires_at=primary.expires,
        revocation=ring.revocation(key.fingerprint),
        problems=tuple(release_problems(key)),
        key_ids=tuple(k.fingerprint for k in (primary, *key.subkeys)),
    )


def _check_size(text: str, what: str) -> None:
    if len(text) > MAX_KEYS_TEXT:
        raise ValidationError(
            f"the {what} has {len(text):,} characters; at most {MAX_KEYS_TEXT:,} are accepted"
        )


def _merge_existing(
    ring: Keyring, fingerprints: Iterable[str], existing: Mapping[str, str]
) -> None:
    """Import the stored copies of keys that are also in ``ring``, so the export carries both
    the stored signatures (a revocation above all) and the new ones."""
    stored = [existing[f] for f in fingerprints if f in existing and f in ring.keys]
    if stored:
        ring.import_keys(stored)


@dataclass(frozen=True, slots=True)
class KeysRead:
    """What a KEYS file gave: the keys read (in file order, each once) and the blocks skipped."""

    keys: tuple[KeyFacts, ...]
    skipped: tuple[SkippedBlock, ...]


def read_keys_file(text: str, *, existing: Mapping[str, str] | None = None) -> KeysRead:
    """Every key of a KEYS file that GnuPG can read; ``existing`` (fingerprint → armored, the
    project's stored keys) is merged into keys read again."""
    _check_size(text, "KEYS file")
    parsed = parse_keys(text)
    if not parsed.blocks:
        raise ValidationError(
            "no ASCII-armored key block was found in the KEYS file",
            hint="a KEYS file holds '-----BEGIN PGP PUBLIC KEY BLOCK-----' blocks",
        )
    skipped = [SkippedBlock(block=b.number, reason=str(b.problem)) for b in parsed.skipped]
    order: list[str] = []
    with Keyring.for_blocks(parsed.usable) as ring:
        held = ring.keys
        for block in parsed.usable:
            missing = [f for f in block.fingerprints if f not in held]
            if missing:
                which = "the key" if len(block.fingerprints) == 1 else "key " + ", ".join(missing)
                skipped.append(
                    SkippedBlock(
                        block=block.number,
                        reason=f"GnuPG cannot read {which} in it (damaged or unsupported key)",
                    )
                )
            order.extend(f for f in block.fingerprints if f in held and f not in order)
        _merge_existing(ring, order, existing or {})
        keys = tuple(describe(ring, ring.keys[f]) for f in order)
    skipped.sort(key=lambda s: s.block)
    return KeysRead(keys=keys, skipped=tuple(skipped))


def read_key(armored: str, *, existing: Mapping[str, str] | None = None) -> KeyFacts:
    """Exactly one public key from ``armored`` (merged with its stored copy in ``existing``);
    :class:`ValidationError` naming the problem otherwise."""
    _check_size(armored, "key")
    parsed = parse_keys(armored)
    if not parsed.blocks:
        raise ValidationError(
            "no ASCII-armored OpenPGP public key was given",
            hint="export it with 'gpg --armor --export <fingerprint>'",
        )
    for block in parsed.blocks:
        if block.problem is not None and "secret" in block.problem:
            raise ValidationError(
                "the text holds a SECRET key; publish only the public key",
                hint="export it with 'gpg --armor --export <fingerprint>'",
            )
    fingerprints = {f for b in parsed.blocks for f in b.fingerprints}
    if len(parsed.blocks) > 1 or len(fingerprints) > 1:
        raise ValidationError(
            f"the text holds {max(len(parsed.blocks), len(fingerprints))} keys; add one key "
            "at a time",
            hint="a PMC member imports a whole KEYS file with 'atr keys import'",
        )
    block = parsed.blocks[0]
    if block.problem is not None:
        raise ValidationError(f"the key cannot be read: {block.problem}")
    with Keyring.for_blocks([block]) as ring:
        fingerprint = block.fingerprints[0]
        if fingerprint not in ring.keys:
            raise ValidationError(
                f"GnuPG cannot read key {fingerprint} (damaged, or an unsupported kind of key)"
            )
        _merge_existing(ring, [fingerprint], existing or {})
        return describe(ring, ring.keys[fingerprint])


def _unguard(text: str) -> str:
    """The revocation as GnuPG imports it. GnuPG writes revocation certificates with ':'
    before the armor's dashes so that they are not imported by accident: take it away, as
    its instructions say to. A bare revocation signature armored as a ``PGP SIGNATURE``
    (pgpy's ``str(signature)``) is labelled a public key block, which GnuPG imports (the
    armor's checksum covers the data only, not the label)."""
    lines = [line[1:] if line.startswith(":-----") else line for line in text.splitlines()]
    relabel = {
        _BEGIN_SIGNATURE: _BEGIN_PUBLIC,
        "-----END PGP SIGNATURE-----": "-----END PGP PUBLIC KEY BLOCK-----",
    }
    return "\n".join(relabel.get(line.strip(), line) for line in lines)


def read_revocation(text: str, project_keys: Mapping[str, str]) -> KeyFacts:
    """The one key of ``project_keys`` (fingerprint → armored) that ``text`` revokes.

    ``text`` is a revocation certificate (``gpg --gen-revoke``, or the one GnuPG keeps in
    ``openpgp-revocs.d``), a bare revocation signature, or the key carrying its revocation
    signature. GnuPG imports the
    project's keys and then ``text`` into a throwaway home; the revoked key is the one GnuPG
    lists as revoked afterwards (validity ``r``) and not before — GnuPG accepts only a
    revocation signature that verifies. The answer's ``armored`` carries the revocation.
    """
    _check_size(text, "revocation")
    cleaned = _unguard(text)
    if "PRIVATE KEY BLOCK-----" in cleaned:
        raise ValidationError("the text holds a SECRET key; send only the revocation")
    if _BEGIN_PUBLIC not in cleaned:
        raise ValidationError(
            "no ASCII-armored revocation certificate was given",
            hint="make one with 'gpg --armor --gen-revoke <fingerprint>', or export the "
            "revoked key with 'gpg --armor --export <fingerprint>'",
        )
    if not project_keys:
        raise ValidationError("the project has no keys to revoke")
    with Keyring.open(project_keys.values()) as ring:
        before = {f: k.primary.revoked for f, k in ring.keys.items()}
        ring.import_keys([cleaned])
        after = ring.keys
        revoked = [
            f
            for f in project_keys
            if f in after and after[f].primary.revoked and not before.get(f, False)
        ]
        if not revoked:
            already = [f for f in project_keys if before.get(f, False)]
            hint = (
                f"keys revoked already: {', '.join(already)}"
                if already
                else "check that the certificate was made for a key in the project's KEYS"
            )
            raise ValidationError(
                "the revocation does not revoke any key of the project that is not revoked "
                "already (GnuPG accepts a revocation only if its signature verifies with the key)",
                hint=hint,
            )
        if len(revoked) > 1:
            raise ValidationError(
                f"the text revokes {len(revoked)} keys ({', '.join(revoked)}); revoke one at a time"
            )
        return describe(ring, after[revoked[0]])
