"""OpenPGP test keys: RSA-2048 pgpy keys generated once per test session, with signing helpers.

    from tests.support.keys import user_key

    alice = user_key("alice")            # the same KeyPair every call in this session
    alice.public_armor                   # register it with the agent
    alice.sign(b"challenge text")        # ASCII-armored detached signature
    alice.write_public(tmp_path / "alice.asc")

RSA-2048 keeps generation fast; real keys should be 4096 bits.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import RevocationReason, SignatureType

from shared.challenge import Challenge
from shared.openpgp import generate_key, key_info, public_armor, sign_challenge, sign_detached

TEST_KEY_BITS = 2048


@dataclass(frozen=True)
class KeyPair:
    """A test user's key: the secret pgpy key and what tests need from it."""

    name: str
    email: str
    key: pgpy.PGPKey

    @property
    def public_armor(self) -> str:
        """The ASCII-armored public key."""
        return public_armor(self.key)

    @property
    def secret_armor(self) -> str:
        """The ASCII-armored, unprotected secret key."""
        return str(self.key)

    @property
    def fingerprint(self) -> str:
        """40 upper-case hex characters."""
        return key_info(self.key).fingerprint

    def sign(self, data: bytes | str) -> str:
        """An ASCII-armored detached signature of ``data`` (str is UTF-8 encoded)."""
        raw = data.encode() if isinstance(data, str) else data
        return sign_detached(self.key, raw)

    def sign_challenge(self, challenge: Challenge) -> str:
        """The login (or token) signature of a checked challenge, as the desktop makes it."""
        return sign_challenge(self.key, challenge.render(), purpose=challenge.purpose.value)

    def write_public(self, path: Path) -> Path:
        """Write the public key to ``path``; returns ``path``."""
        path.write_text(self.public_armor)
        return path

    def write_secret(self, path: Path) -> Path:
        """Write the unprotected secret key to ``path`` (mode 0600); returns ``path``."""
        path.touch(mode=0o600)
        path.write_text(self.secret_armor)
        return path

    def revoked_public_armor(self) -> str:
        """The public key with a key revocation signature attached (reason: compromised)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            revocation = self.key.revoke(
                self.key,
                sigtype=SignatureType.KeyRevocation,
                reason=RevocationReason.Compromised,
                comment="test: key compromised",
            )
            pub = self.key.pubkey
            pub |= revocation
        return str(pub)


@functools.cache
def user_key(name: str, email: str | None = None) -> KeyPair:
    """The session's RSA-2048 key for ``name`` (generated on first use, then reused)."""
    mail = email or f"{name}@example.org"
    return KeyPair(name=name, email=mail, key=generate_key(name.title(), mail, bits=TEST_KEY_BITS))


def fresh_key(name: str, email: str | None = None) -> KeyPair:
    """A new key every call (for tests that must not share a key with others)."""
    mail = email or f"{name}@example.org"
    return KeyPair(name=name, email=mail, key=generate_key(name.title(), mail, bits=TEST_KEY_BITS))
