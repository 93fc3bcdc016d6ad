"""agent.keys.material and agent.keys.generate with real GnuPG: reading keys, KEYS files and
revocations block by block, and the generated KEYS file imported back by ``gpg``."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pgpy.constants import RevocationReason, SignatureType

from agent.keys.generate import StoredKey, listing, render_keys_file
from agent.keys.material import read_key, read_keys_file, read_revocation
from shared.errors import ValidationError
from shared.openpgp.gnupg import GpgKey, GpgSubkey, Keyring, parse_revocations
from shared.protocol.keys import SkippedBlock
from tests.support.gpg import GPG, KINDS, GpgFactory, gpg_factory, kill_agent
from tests.support.keymaker import KeyMaker, key_maker
from tests.support.keys import fresh_key

__all__ = ["gpg_factory", "key_maker"]  # session fixtures

EXPECTED_FLAGS = {
    "rsa4096": [],
    "rsa2048": [],
    "rsa1024": ["weak"],
    "ed25519": [],
    "dsa": ["dsa"],
    "expired": ["expired"],
    "revoked": ["revoked"],
    "subkey": [],
    "weak_subkey": ["weak"],
    "outsider": [],
}


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="atr-test-imp-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        subprocess.run(["rm", "-rf", str(home)], check=False)


def gpg_import(home: Path, text: str) -> dict[str, str]:
    """Import ``text`` with the real ``gpg``; primary fingerprint → validity letter."""
    subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--import"],
        input=text.encode(),
        capture_output=True,
        check=False,
    )
    out = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--with-colons", "--list-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, str] = {}
    validity = ""
    expect_fpr = False
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            validity, expect_fpr = fields[1], True
        elif fields[0] == "sub":
            expect_fpr = False
        elif fields[0] == "fpr" and expect_fpr:
            found[fields[9]] = validity
            expect_fpr = False
    return found


def test_keys_file_block_by_block(gpg_factory: GpgFactory) -> None:
    text = gpg_factory.keys_file(list(KINDS), fillers=30, broken=True)
    read = read_keys_file(text)
    expected = [gpg_factory.key(k).fingerprint for k in KINDS]
    expected += [k.fingerprint for k in gpg_factory.fillers(30)]
    assert [k.fingerprint for k in read.keys] == expected
    assert list(read.skipped) == [
        SkippedBlock(
            block=1, reason="GnuPG cannot read the key in it (damaged or unsupported key)"
        ),
        SkippedBlock(
            block=4,
            reason="a PGP 2.x era key (version 3 key packet) that no current OpenPGP library reads",
        ),
        SkippedBlock(block=6, reason="the armor is not valid base64 (Only base64 data is allowed)"),
        SkippedBlock(block=44, reason="the armor checksum does not match: the block is damaged"),
        SkippedBlock(block=45, reason="the block has no END line: it is truncated"),
    ]
    flags = {k.fingerprint: k.flags for k in read.keys}
    for kind, wanted in EXPECTED_FLAGS.items():
        assert flags[gpg_factory.key(kind).fingerprint] == wanted, kind
    revoked = next(k for k in read.keys if k.fingerprint == gpg_factory.key("revoked").fingerprint)
    assert revoked.revocation is not None and revoked.revocation.created is not None
    subkey = next(k for k in read.keys if k.fingerprint == gpg_factory.key("subkey").fingerprint)
    assert gpg_factory.key("subkey").signing_fingerprint in subkey.key_ids


def test_keys_file_without_blocks_is_refused() -> None:
    with pytest.raises(ValidationError, match="no ASCII-armored key block"):
        read_keys_file("just some text\n")


def test_same_key_twice_is_read_once(gpg_factory: GpgFactory) -> None:
    key = gpg_factory.key("ed25519")
    read = read_keys_file(key.public + "\n" + key.public)
    assert [k.fingerprint for k in read.keys] == [key.fingerprint]
    assert read.skipped == ()


def test_one_key_read_and_refusals(gpg_factory: GpgFactory) -> None:
    key = gpg_factory.key("rsa2048")
    facts = read_key(key.public)
    assert (facts.fingerprint, facts.algorithm, facts.bits) == (key.fingerprint, "RSA", 2048)
    assert facts.emails == ("rsa2048@example.org",)
    assert facts.problems == ()
    assert "-----BEGIN PGP PUBLIC KEY BLOCK-----" in facts.armored
    with pytest.raises(ValidationError, match="2 keys"):
        read_key(key.public + gpg_factory.key("ed25519").public)
    with pytest.raises(ValidationError, match="no ASCII-armored OpenPGP public key"):
        read_key("hello")
    with pytest.raises(ValidationError, match="SECRET key"):
        read_key(fresh_key("sam").secret_armor)
    with pytest.raises(ValidationError, match="checksum does not match"):
        from tests.support.gpg import damaged_block  # noqa: PLC0415

        read_key(damaged_block(key.public))


def test_merging_keeps_the_stored_revocation(gpg_factory: GpgFactory) -> None:
    revoked = gpg_factory.key("revoked")
    plain = read_key(revoked.public).armored
    again = read_key(plain, existing={revoked.fingerprint: revoked.public})
    assert again.revoked


def test_revocation_certificate_guarded_as_gnupg_stores_it(key_maker: KeyMaker) -> None:
    key = key_maker.make(key_maker.unique("Rita", "rita@example.org"))
    other = key_maker.make(key_maker.unique("Otto", "otto@example.org"))
    cert = key_maker.revocation_certificate(key)
    assert ":-----BEGIN PGP PUBLIC KEY BLOCK-----" in cert
    stored = {key.fingerprint: key.public, other.fingerprint: other.public}
    facts = read_revocation(cert, stored)
    assert facts.fingerprint == key.fingerprint
    assert facts.revoked and facts.flags == ["revoked"]
    with Keyring.open([facts.armored]) as ring:
        assert ring.keys[key.fingerprint].primary.revoked
    # Applied once, the same certificate revokes nothing more.
    with pytest.raises(ValidationError, match="does not revoke any key"):
        read_revocation(cert, {key.fingerprint: facts.armored, other.fingerprint: other.public})
    # A certificate for a key that is not the project's.
    with pytest.raises(ValidationError, match="does not revoke any key"):
        read_revocation(cert, {other.fingerprint: other.public})
    with pytest.raises(ValidationError, match="no ASCII-armored revocation"):
        read_revocation("revoke it please", stored)


def test_revocation_reason_from_the_signature() -> None:
    pair = fresh_key("rex")
    public = pair.public_armor  # first: pgpy adds the revocation to the key it caches
    facts = read_revocation(pair.revoked_public_armor(), {pair.fingerprint: public})
    assert facts.revocation is not None
    assert facts.revocation.reason == "key compromised: test: key compromised"


def test_bare_revocation_signature() -> None:
    # pgpy armors a lone revocation signature as a PGP SIGNATURE; GnuPG imports it relabelled.
    pair = fresh_key("sig")
    public = pair.public_armor
    signature = pair.key.revoke(
        pair.key,
        sigtype=SignatureType.KeyRevocation,
        reason=RevocationReason.Retired,
        comment="done",
    )
    text = str(signature)
    assert text.startswith("-----BEGIN PGP SIGNATURE-----")
    facts = read_revocation(text, {pair.fingerprint: public})
    assert facts.revocation is not None and facts.revocation.reason == "key retired: done"


def test_parse_revocations_takes_the_primary_keys_newest() -> None:
    colons = "\n".join(
        [
            "pub:r:255:22:08C0170BC8370240:1795940268:::-:::sc:::::ed25519:::0:",
            "fpr:::::::::BCDCC9B6F67229BEF1B93CAB08C0170BC8370240:",
            "rev:::22:08C0170BC8370240:1600000000::::T:20x,01::X:::8:::::old:",
            "rev:::22:08C0170BC8370240:1700000000::::T:20x,03::X:::8:::::retired\\x3a bye:",
            "uid:r::::1795940268::1ECF::T <t@example.org>::::::::::0:",
            "sub:r:255:18:AAAA:1795940268::::::e:::::cv25519::",
            "rev:::22:08C0170BC8370240:1800000000::::T:28x,00::X:::8:",
        ]
    )
    found = parse_revocations(colons)
    assert found is not None
    assert found.created == datetime.fromtimestamp(1700000000, UTC)
    assert (found.reason_code, found.reason) == (3, "key retired: retired: bye")
    assert parse_revocations("pub:-:255:22:X:1:::-:::sc::::::") is None


def test_generated_keys_file_imports_every_key(gpg_factory: GpgFactory, gpg_home: Path) -> None:
    kinds = ["rsa2048", "ed25519", "dsa", "expired", "revoked", "subkey", "rsa1024"]
    read = read_keys_file(gpg_factory.keys_file(kinds))
    now = datetime.now(UTC)
    stored = [
        StoredKey(
            fingerprint=k.fingerprint,
            armored=k.armored,
            added_at=now,
            revoked_at=k.revocation.created if k.revocation else None,
        )
        for k in read.keys
    ]
    text = render_keys_file("acme-lib", "Acme Library", stored)
    assert text.startswith("This file holds the OpenPGP public keys")
    assert "gpg --import KEYS" in text
    assert "never removed" in text
    assert render_keys_file("acme-lib", "Acme Library", stored) == text  # cached, same text
    imported = gpg_import(gpg_home, text)
    assert set(imported) == {k.fingerprint for k in read.keys}
    assert imported[gpg_factory.key("revoked").fingerprint] == "r"
    assert imported[gpg_factory.key("expired").fingerprint] == "e"
    rsa = gpg_factory.key("rsa2048")
    lines = text.splitlines()
    at = lines.index(f"      {rsa.fingerprint}")
    assert lines[at - 1].startswith("pub   rsa2048 ") and lines[at - 1].endswith(" [SC]")
    assert lines[at + 1] == f"uid           {rsa.user_id}"
    revoked = gpg_factory.key("revoked").fingerprint
    at = lines.index(f"      {revoked}")
    assert "[revoked: " in lines[at - 1]
    expired = gpg_factory.key("expired").fingerprint
    at = lines.index(f"      {expired}")
    assert lines[at - 1].startswith("pub   ed25519 2020-01-01 [SC] [expired: 2020-01-02]")
    subkey = gpg_factory.key("subkey")
    at = lines.index(f"      {subkey.fingerprint}")
    assert lines[at - 1].endswith("[C]") and lines[at + 2].startswith("sub   rsa3072 ")


def test_user_ids_cannot_break_out_of_their_line() -> None:
    # GnuPG lists a newline in a user id as \x0a and parse_colons undoes it: the listing
    # above a key must not let such a user id start an armored block of its own.
    primary = GpgSubkey(
        fingerprint="A" * 40,
        algorithm=22,
        bits=255,
        curve="ed25519",
        created=datetime(2024, 5, 1, tzinfo=UTC),
        expires=None,
        validity="-",
        capabilities="scSC",
    )
    key = GpgKey(primary, (), ("Mallory\n-----BEGIN PGP PUBLIC KEY BLOCK-----\r",))
    lines = listing(key)
    assert lines == [
        "pub   ed25519 2024-05-01 [SC]",
        f"      {'A' * 40}",
        "uid           Mallory\\x0a-----BEGIN PGP PUBLIC KEY BLOCK-----\\x0d",
    ]
