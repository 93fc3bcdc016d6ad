"""GnuPG keys with the user ids a test chooses (ownership of keys depends on the email).

:mod:`tests.support.gpg` makes one key per kind with fixed user ids; the keys tests
need keys *of the seeded users* (``bob@example.org``…) of every kind::

    from tests.support.keymaker import key_maker  # noqa: F401  (session fixture)

    def test_x(key_maker):
        key = key_maker.make("Bob Weak <bob@example.org>", "rsa1024")
        key.public                                  # armored public key
        key_maker.revocation_certificate(key)       # as GnuPG stored it: ':-----BEGIN ...'
        key_maker.revoked_public(key)               # the key carrying its revocation
        key_maker.sign(key, artifact)               # artifact + '.asc'

Every user id must be unique within the test session (GnuPG refuses a second key
with the same one in batch mode); :meth:`KeyMaker.unique` appends a counter.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gpg import PAST, GpgFactory, kill_agent


@dataclass(frozen=True)
class MadeKey:
    """A key made by :class:`KeyMaker`."""

    user_id: str
    fingerprint: str
    public: str


class KeyMaker:
    """Makes keys in one GnuPG home (no passphrases)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.gpg = GpgFactory(home).gpg
        self._counter = itertools.count(1)

    def unique(self, name: str, email: str) -> str:
        """``Name N <email>``, a user id no other key of the session has."""
        return f"{name} {next(self._counter)} <{email}>"

    def make(
        self, user_id: str, algo: str = "ed25519", *, expire: str = "never", past: bool = False
    ) -> MadeKey:
        """A signing key ``algo`` (``rsa2048``, ``rsa1024``, ``ed25519``, ``dsa2048``…) with
        one user id; ``past``: made on 1 January 2020 (with ``expire="1d"``: expired)."""
        self.gpg(
            "--quick-gen-key", user_id, algo, "sign", expire, faked_time=PAST if past else None
        )
        out = self.gpg("--with-colons", "--list-keys", f"={user_id}")
        fingerprint = next(
            line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")
        )
        return MadeKey(user_id, fingerprint, self.gpg("--armor", "--export", fingerprint))

    def revocation_certificate(self, key: MadeKey) -> str:
        """The revocation certificate GnuPG wrote when it made the key (its armor guarded by
        a leading ':', as GnuPG stores it)."""
        return (self.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev").read_text()

    def revoked_public(self, key: MadeKey) -> str:
        """The public key with its revocation applied (the signing home stays unrevoked)."""
        cert = self.revocation_certificate(key).replace(":-----BEGIN", "-----BEGIN")
        other = Path(tempfile.mkdtemp(prefix="atr-test-rev-"))
        os.chmod(other, 0o700)
        try:
            helper = GpgFactory(other)
            helper.gpg("--import", stdin=key.public.encode())
            helper.gpg("--import", stdin=cert.encode())
            return helper.gpg("--armor", "--export", key.fingerprint)
        finally:
            kill_agent(other)
            shutil.rmtree(other, ignore_errors=True)

    def sign(self, key: MadeKey, data: Path, *, out: Path | None = None) -> Path:
        """An ASCII-armored detached signature of ``data`` (default: ``data`` + ``.asc``)."""
        target = out or data.with_name(data.name + ".asc")
        self.gpg(
            "--yes", "--armor", "--detach-sign", "--digest-algo", "SHA512",
            "--local-user", key.fingerprint + "!", "--output", str(target), str(data),
        )  # fmt: skip
        return target


@pytest.fixture(scope="session")
def key_maker() -> Iterator[KeyMaker]:
    """One GnuPG home for the session's chosen-user-id keys; its gpg-agent killed at the end."""
    home = Path(tempfile.mkdtemp(prefix="atr-test-km-"))  # short path: gpg-agent's socket
    os.chmod(home, 0o700)
    try:
        yield KeyMaker(home)
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
