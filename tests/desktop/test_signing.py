"""Signing artifacts on the desktop: streamed pgpy signatures and the GnuPG backend,
each checked by a real ``gpg --verify``; ``.sha512`` files checked by ``sha512sum -c``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import tracemalloc
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.errors import DesktopError, KeystoreError, PassphraseRequired, WrongPassphrase
from desktop.gnupg_backend import parse_secret_listing
from desktop.keystore import Keystore, StoredKey
from desktop.signing import CHUNK, SigningCancelled, is_signature_or_checksum
from shared.challenge import Challenge, Purpose
from shared.openpgp.keys import load_key
from tests.desktop.gpg_home import (
    gpg_key_validity,
    gpg_verify,
    gpg_verify_cleartext,
    user_gnupg_home,
)
from tests.support.keys import fresh_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import (
        EllipticCurveOID,
        HashAlgorithm,
        KeyFlags,
        PubKeyAlgorithm,
    )

PASSPHRASE = "artifact signing passphrase"


def _artifact(folder: Path, name: str, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 4 * CHUNK)
            out.write(os.urandom(n))
            left -= n
    return path


def _stored_key(keystore: Keystore) -> StoredKey:
    return keystore.import_armored(fresh_key("rm").secret_armor, passphrase=PASSPHRASE)


def _sha512sum_ok(checksum: Path) -> None:
    proc = subprocess.run(
        ["sha512sum", "--check", "--strict", checksum.name],
        cwd=checksum.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith(": OK")


def test_pgpy_signature_and_checksum_pass_gpg_and_sha512sum(
    keystore: Keystore, tmp_path: Path
) -> None:
    key = _stored_key(keystore)
    artifact = _artifact(tmp_path / "dist", "apache-acme-1.0-src.tar.gz", 3 * CHUNK + 4321)
    seen: list[tuple[int, int]] = []

    signed = keystore.sign_file(
        key.fingerprint, artifact, passphrase=PASSPHRASE, progress=lambda d, t: seen.append((d, t))
    )

    assert signed.signature == artifact.with_name(artifact.name + ".asc")
    assert signed.checksum == artifact.with_name(artifact.name + ".sha512")
    assert signed.fingerprint == key.fingerprint
    text = signed.signature.read_text()
    assert text.startswith("-----BEGIN PGP SIGNATURE-----")
    status = gpg_verify(keystore.export_public(key.fingerprint), artifact, signed.signature)
    assert f"VALIDSIG {key.fingerprint}" in status
    assert " 10 00 " in status.split("VALIDSIG", 1)[1]  # hash algorithm 10: SHA-512, binary sig
    expected = hashlib.sha512(artifact.read_bytes()).hexdigest()
    assert signed.sha512 == expected
    assert signed.checksum.read_text() == f"{expected}  {artifact.name}\n"
    _sha512sum_ok(signed.checksum)
    size = artifact.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    artifact.write_bytes(artifact.read_bytes()[:-1] + b"!")  # one byte changed: gpg refuses
    with pytest.raises(AssertionError, match=r"BAD signature|BADSIG"):
        gpg_verify(keystore.export_public(key.fingerprint), artifact, signed.signature)


def test_streaming_50_mb_keeps_python_memory_flat(keystore: Keystore, tmp_path: Path) -> None:
    key = _stored_key(keystore)
    keystore.remember_passphrase(key.fingerprint, PASSPHRASE)
    artifact = _artifact(tmp_path, "big.tar.gz", 50 * 1024 * 1024)

    tracemalloc.start()
    try:
        signed = keystore.sign_file(key.fingerprint, artifact)  # the remembered passphrase
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024, f"signing allocated {peak} bytes at its peak"
    gpg_verify(keystore.export_public(key.fingerprint), artifact, signed.signature)
    _sha512sum_ok(signed.checksum)


def test_wrong_or_missing_passphrase_fails_before_reading(
    keystore: Keystore, tmp_path: Path
) -> None:
    key = _stored_key(keystore)
    artifact = _artifact(tmp_path / "dist", "a.zip", 1000)
    read: list[int] = []
    with pytest.raises(WrongPassphrase):
        keystore.sign_file(
            key.fingerprint, artifact, passphrase="nope", progress=lambda d, t: read.append(d)
        )
    with pytest.raises(PassphraseRequired):
        keystore.sign_file(key.fingerprint, artifact, progress=lambda d, t: read.append(d))
    assert read == []
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["a.zip"]


def test_cancel_leaves_nothing_written(keystore: Keystore, tmp_path: Path) -> None:
    key = _stored_key(keystore)
    artifact = _artifact(tmp_path / "dist", "a.tar.gz", 5 * CHUNK)
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 2 * CHUNK:
            cancel.set()

    with pytest.raises(SigningCancelled):
        keystore.sign_file(
            key.fingerprint, artifact, passphrase=PASSPHRASE, progress=progress, cancel=cancel
        )
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["a.tar.gz"]


def test_out_dir_and_unwritable_folder(keystore: Keystore, tmp_path: Path) -> None:
    key = _stored_key(keystore)
    artifact = _artifact(tmp_path / "in", "a.tar.gz", 1000)
    out = tmp_path / "out"
    out.mkdir()
    signed = keystore.sign_file(key.fingerprint, artifact, passphrase=PASSPHRASE, out_dir=out)
    assert {p.name for p in out.iterdir()} == {"a.tar.gz.asc", "a.tar.gz.sha512"}
    gpg_verify(keystore.export_public(key.fingerprint), artifact, signed.signature)

    missing = tmp_path / "missing.tar.gz"
    with pytest.raises(DesktopError, match="cannot read"):
        keystore.sign_file(key.fingerprint, missing, passphrase=PASSPHRASE)


def _ecc_key(algorithm: PubKeyAlgorithm, curve: EllipticCurveOID) -> pgpy.PGPKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = pgpy.PGPKey.new(algorithm, curve)
        key.add_uid(
            pgpy.PGPUID.new("Ecc User", email="ecc@example.org"),
            usage={KeyFlags.Sign, KeyFlags.Certify},
            hashes=[HashAlgorithm.SHA512],
        )
    return key


@pytest.mark.parametrize(
    ("algorithm", "curve"),
    [
        (PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519),
        (PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256),
    ],
)
def test_streamed_ecc_signatures_verify(
    keystore: Keystore, tmp_path: Path, algorithm: PubKeyAlgorithm, curve: EllipticCurveOID
) -> None:
    key = keystore.import_armored(str(_ecc_key(algorithm, curve)), passphrase=PASSPHRASE)
    artifact = _artifact(tmp_path, "a.tar.gz", CHUNK + 17)
    signed = keystore.sign_file(key.fingerprint, artifact, passphrase=PASSPHRASE)
    gpg_verify(keystore.export_public(key.fingerprint), artifact, signed.signature)


def test_clearsign_and_revocation_with_pgpy(keystore: Keystore) -> None:
    key = _stored_key(keystore)
    ballot = '{"project":"acme-lib","value":"+1"}'
    signed = keystore.clearsign(key.fingerprint, ballot, passphrase=PASSPHRASE)
    public = keystore.export_public(key.fingerprint)
    assert "GOODSIG" in gpg_verify_cleartext(public, signed)
    assert ballot in signed

    with pytest.raises(WrongPassphrase):
        keystore.revoke(key.fingerprint, reason="compromised", passphrase="wrong")
    assert not keystore.get(key.fingerprint).revoked
    revoked = keystore.revoke(
        key.fingerprint, reason="compromised", comment="laptop stolen", passphrase=PASSPHRASE
    )
    assert gpg_key_validity(revoked) == "r"
    assert keystore.get(key.fingerprint).revoked
    assert keystore.revocation(key.fingerprint) == revoked
    assert [k.revoked for k in keystore.list_keys()] == [True]


def test_export_secret_is_always_protected(keystore: Keystore, tmp_path: Path) -> None:
    key = _stored_key(keystore)
    exported = tmp_path / "secret.asc"
    keystore.export_secret_to(key.fingerprint, exported)
    assert exported.stat().st_mode & 0o077 == 0
    again = load_key(exported.read_text())
    assert again.is_protected and not again.is_public

    loose = tmp_path / "loose.asc"
    loose.write_text(fresh_key("loose").secret_armor)
    transient = keystore.load_transient(loose)
    with pytest.raises(PassphraseRequired):
        keystore.export_secret(transient.fingerprint)
    armored = keystore.export_secret(transient.fingerprint, passphrase="new one")
    protected = load_key(armored)
    assert protected.is_protected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with protected.unlock("new one"):
            assert protected.is_unlocked
    assert not load_key(loose.read_text()).is_protected  # the file the user gave is untouched


# --- the GnuPG backend -----------------------------------------------------------------------


def test_gnupg_backend_signs_streams_clearsigns_and_revokes(
    keystore: Keystore, tmp_path: Path
) -> None:
    with user_gnupg_home() as (home, fingerprint):
        offered = keystore.gnupg_keys(home)
        assert [k.fingerprint for k in offered] == [fingerprint]
        key = keystore.add_gnupg_key(fingerprint, home=home)
        assert key.backend == "gnupg" and key.backend_label == "GnuPG"
        assert key.info.user_ids == ("Dana Doe <dana@example.org>",)
        assert key.info.algorithm == "RSA" and key.info.bits == 3072
        assert [k.fingerprint for k in keystore.list_keys()] == [fingerprint]
        assert not keystore.needs_passphrase(fingerprint)
        # the reference holds no secret
        assert "PRIVATE" not in (keystore.directory / f"{fingerprint}.gnupg.json").read_text()
        public = keystore.export_public(fingerprint)

        artifact = _artifact(tmp_path, "apache-acme-1.0-src.zip", 3 * CHUNK + 99)
        seen: list[int] = []
        signed = keystore.sign_file(fingerprint, artifact, progress=lambda d, t: seen.append(d))
        assert f"VALIDSIG {fingerprint}" in gpg_verify(public, artifact, signed.signature)
        _sha512sum_ok(signed.checksum)
        assert seen[-1] == artifact.stat().st_size

        challenge = b"login challenge 123"
        (tmp_path / "challenge").write_bytes(challenge)
        (tmp_path / "challenge.asc").write_text(keystore.sign(fingerprint, challenge))
        gpg_verify(public, tmp_path / "challenge", tmp_path / "challenge.asc")
        login = Challenge(
            purpose=Purpose.LOGIN,
            user="alice",
            agent="https://agent.example.org",
            nonce="cd" * 16,
            issued=datetime.now(UTC),
            expires=datetime.now(UTC) + timedelta(minutes=5),
        )
        (tmp_path / "login").write_text(login.render())
        (tmp_path / "login.asc").write_text(keystore.sign_challenge(fingerprint, login))
        status = gpg_verify(public, tmp_path / "login", tmp_path / "login.asc")
        assert "NOTATION_NAME purpose@atr.apache.org" in status and "NOTATION_DATA login" in status
        assert f"VALIDSIG {fingerprint}" in status and " 01 " in status.split("VALIDSIG")[1]

        assert "GOODSIG" in gpg_verify_cleartext(public, keystore.clearsign(fingerprint, "ballot"))

        with pytest.raises(KeystoreError, match="GnuPG"):
            keystore.export_secret(fingerprint)
        with pytest.raises(KeystoreError, match="GnuPG"):
            keystore.remember_passphrase(fingerprint, "x")

        revoked = keystore.revoke(fingerprint, reason="superseded", comment="new key\nsee KEYS")
        assert gpg_key_validity(revoked) == "r"
        assert keystore.get(fingerprint).revoked

        keystore.delete(fingerprint)  # only the reference goes; GnuPG keeps the key
        assert keystore.list_keys() == []
        assert [k.fingerprint for k in keystore.gnupg_keys(home)] == [fingerprint]


def test_gnupg_backend_errors_are_clear(keystore: Keystore, tmp_path: Path) -> None:
    with user_gnupg_home() as (home, fingerprint):
        with pytest.raises(Exception, match="GnuPG holds no secret key"):
            keystore.add_gnupg_key("0" * 40, home=home)
        key = keystore.add_gnupg_key(fingerprint, home=home)
    # the home is gone now (as if the user moved it): signing says what GnuPG said
    artifact = _artifact(tmp_path / "dist", "a.tar.gz", 1000)
    with pytest.raises(Exception, match="GnuPG"):
        keystore.sign_file(key.fingerprint, artifact)
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["a.tar.gz"]


def test_secret_listing_keeps_card_keys_and_drops_stubs() -> None:
    listing = "\n".join(
        [
            "sec:u:4096:1:AAAAAAAAAAAAAAAA:1600000000:::u:::scESC:::D2760001240103040006123456780000:::23::0:",
            "fpr:::::::::" + "A" * 40 + ":",
            "uid:u::::1600000000::HASH::Card User <card@example.org>::::::::::0:",
            "sec:u:255:22:BBBBBBBBBBBBBBBB:1600000000:1900000000::u:::scSC:::#:::ed25519::0:",
            "fpr:::::::::" + "B" * 40 + ":",
            "uid:u::::1600000000::HASH::Stub Only <stub@example.org>::::::::::0:",
            "sec:u:255:22:CCCCCCCCCCCCCCCC:1600000000:::u:::cSC:::#:::ed25519::0:",
            "fpr:::::::::" + "C" * 40 + ":",
            "uid:u::::1600000000::HASH::Sub\\x3a Key <sub@example.org>::::::::::0:",
            "ssb:u:3072:1:DDDDDDDDDDDDDDDD:1600000000::::::s:::+:::23:",
            "fpr:::::::::" + "D" * 40 + ":",
        ]
    )
    keys = parse_secret_listing(listing)
    assert [k.info.fingerprint for k in keys] == ["A" * 40, "C" * 40]
    card, sub = keys
    assert card.card == "D2760001240103040006123456780000"
    assert card.info.bits == 4096 and card.info.algorithm == "RSA"
    assert sub.card is None and sub.info.user_ids == ("Sub: Key <sub@example.org>",)
    assert sub.can_sign


def test_signature_and_checksum_names_are_recognised() -> None:
    for name in ("a.tar.gz.asc", "a.zip.sha512", "A.SHA256", "a.sig", "x.md5"):
        assert is_signature_or_checksum(name)
    assert not is_signature_or_checksum("apache-acme-1.0-src.tar.gz")
