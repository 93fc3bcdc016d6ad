"""The signatures check against real GnuPG keys of every kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.checks import signatures
from shared.checks.base import CheckResult, Status
from shared.openpgp.gnupg import Keyring, parse_colons
from tests.support.gpg import GpgFactory
from tests.unit.checks.util import inputs_for, run

ARTIFACT = "apache-foo-1.0-src.tar.gz"
FPR = re.compile(r"^[0-9A-F]{40}$")
IN_KEYS = [
    "rsa4096",
    "rsa2048",
    "rsa1024",
    "ed25519",
    "dsa",
    "expired",
    "revoked",
    "subkey",
    "weak_subkey",
]


@pytest.fixture(scope="module")
def keys_text(gpg_factory: GpgFactory) -> str:
    return gpg_factory.keys_file(IN_KEYS, fillers=3, broken=True)


def release(tmp_path: Path) -> Path:
    artifact = tmp_path / ARTIFACT
    artifact.write_bytes(b"release bytes " * 1000)
    return artifact


def verify(tmp_path: Path, keys_text: str) -> list[CheckResult]:
    return run(signatures, inputs_for(tmp_path, keys=[keys_text]), ARTIFACT)


@pytest.mark.parametrize("kind", ["rsa4096", "ed25519", "subkey"])
def test_good_signatures_pass_and_name_the_primary_key(
    tmp_path: Path, gpg_factory: GpgFactory, keys_text: str, kind: str
) -> None:
    gpg_factory.sign(kind, release(tmp_path))
    [result] = verify(tmp_path, keys_text)
    key = gpg_factory.key(kind)
    assert result.status is Status.PASS, result.message
    assert result.path == ARTIFACT + ".asc"
    assert result.data["fingerprints"] == [key.fingerprint]
    assert all(FPR.match(f) for f in result.data["fingerprints"])
    assert result.data["signing_key"] == key.signing_fingerprint
    assert result.data["user_ids"] == [key.user_id]
    assert result.data["hash"] == "SHA-512"


def test_subkey_signature_checks_the_subkey_size(
    tmp_path: Path, gpg_factory: GpgFactory, keys_text: str
) -> None:
    gpg_factory.sign("subkey", release(tmp_path))
    [result] = verify(tmp_path, keys_text)
    assert result.data["algorithm"] == "RSA 3072"
    assert result.data["advice"] == [
        "signing key: RSA 3072 is accepted; 4096 bits are recommended for new keys"
    ]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("rsa1024", "RSA 1024 bits is under the minimum"),
        ("dsa", "DSA keys are not accepted"),
        ("weak_subkey", "signing key: RSA 1024 bits"),
        ("expired", "signature by an expired key"),
        ("revoked", "signature by a revoked key"),
        ("outsider", "not in the project's keys"),
    ],
)
def test_refused_signatures_are_blockers(
    tmp_path: Path, gpg_factory: GpgFactory, keys_text: str, kind: str, words: str
) -> None:
    gpg_factory.sign(kind, release(tmp_path))
    [result] = verify(tmp_path, keys_text)
    assert result.status is Status.BLOCKER
    assert words in result.message
    key = gpg_factory.key(kind)
    if kind == "outsider":
        assert result.data["fingerprints"] == []
        assert result.data["signing_key"] == key.fingerprint
    else:  # cryptographically valid, refused by policy: the signer is named
        assert result.data["fingerprints"] == [key.fingerprint]


def test_several_signatures_in_one_file_are_each_reported(
    tmp_path: Path, gpg_factory: GpgFactory, keys_text: str
) -> None:
    artifact = release(tmp_path)
    gpg_factory.sign(["rsa4096", "ed25519"], artifact)
    one_armor = [r for r in verify(tmp_path, keys_text)]
    assert [r.status for r in one_armor] == [Status.PASS, Status.PASS]
    assert one_armor[0].message.startswith("signature 1 of 2: ")
    # two armored blocks appended to one file, one by a key outside KEYS
    a = gpg_factory.sign("rsa2048", artifact, out=tmp_path / "a.tmp").read_text()
    b = gpg_factory.sign("outsider", artifact, out=tmp_path / "b.tmp").read_text()
    (tmp_path / "a.tmp").unlink()
    (tmp_path / "b.tmp").unlink()
    (tmp_path / (ARTIFACT + ".asc")).write_text(a + b)
    results = verify(tmp_path, keys_text)
    assert [r.status for r in results] == [Status.PASS, Status.BLOCKER]
    assert results[0].data["fingerprints"] == [gpg_factory.key("rsa2048").fingerprint]


def test_bad_signature(tmp_path: Path, gpg_factory: GpgFactory, keys_text: str) -> None:
    artifact = release(tmp_path)
    gpg_factory.sign("ed25519", artifact)
    artifact.write_bytes(b"changed after signing")
    [result] = verify(tmp_path, keys_text)
    assert result.status is Status.BLOCKER
    assert "BAD signature" in result.message
    assert result.data["fingerprints"] == []


def test_missing_binary_and_unarmored_signatures(
    tmp_path: Path, gpg_factory: GpgFactory, keys_text: str
) -> None:
    artifact = release(tmp_path)
    [missing] = verify(tmp_path, keys_text)
    assert missing.status is Status.BLOCKER and missing.path == ARTIFACT
    sig = gpg_factory.sign("ed25519", artifact, armor=False)
    results = verify(tmp_path, keys_text)
    assert [(r.path, r.status) for r in results] == [
        (ARTIFACT + ".sig", Status.BLOCKER),
        (ARTIFACT, Status.BLOCKER),
    ]
    sig.rename(tmp_path / (ARTIFACT + ".asc"))  # binary data under the .asc name
    [unarmored] = verify(tmp_path, keys_text)
    assert "not an ASCII-armored signature" in unarmored.message


def test_asc_without_signature(tmp_path: Path, keys_text: str) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".asc")).write_text(
        "-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n"
    )
    [result] = verify(tmp_path, keys_text)
    assert result.status is Status.BLOCKER
    assert "no signature GnuPG can read" in result.message


def test_no_keys_at_all(tmp_path: Path, gpg_factory: GpgFactory) -> None:
    gpg_factory.sign("ed25519", release(tmp_path))
    [result] = run(signatures, inputs_for(tmp_path), ARTIFACT)
    assert result.status is Status.BLOCKER
    assert "not in the project's keys" in result.message


def test_keyring_lists_keys_as_gnupg_sees_them(gpg_factory: GpgFactory) -> None:
    kinds = ["revoked", "expired", "subkey", "rsa4096"]
    with Keyring.open(gpg_factory.key(k).public for k in kinds) as ring:
        keys = {k: ring.keys[gpg_factory.key(k).fingerprint] for k in kinds}
        assert keys["revoked"].primary.revoked
        assert keys["revoked"].user_ids == (gpg_factory.key("revoked").user_id,)
        assert keys["expired"].primary.expired
        assert keys["expired"].primary.curve == "ed25519"
        assert not keys["subkey"].primary.can_sign
        [sub] = keys["subkey"].subkeys
        assert (sub.algorithm, sub.bits, sub.can_sign) == (1, 3072, True)
        assert ring.key_for(sub.fingerprint) is keys["subkey"]
        assert keys["rsa4096"].primary.bits == 4096


def test_colon_listing_unescapes_user_ids() -> None:
    listing = (
        "pub:-:255:22:AAAAAAAAAAAAAAAA:1700000000:::-:::scSC:::::ed25519:::0:\n"
        "fpr:::::::::" + "A" * 40 + ":\n"
        "uid:-::::1700000000::HASH::Jos\\xc3\\xa9 \\x3a) <j@example.org>::::::::::0:\n"
    )
    [key] = parse_colons(listing)
    assert key.user_ids == ("José :) <j@example.org>",)
    assert key.primary.curve == "ed25519"
