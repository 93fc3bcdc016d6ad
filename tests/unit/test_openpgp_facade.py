import pytest

from shared.errors import OpenPGPError
from shared.openpgp import generate_key, key_info, public_armor, sign_detached, verify_detached
from shared.openpgp.gnupg import SignatureStatus, parse_status
from shared.openpgp.keys import load_key, protect


@pytest.fixture(scope="module")
def alice():
    return generate_key("Alice Example", "alice@example.org", bits=2048)


@pytest.fixture(scope="module")
def bob():
    return generate_key("Bob Example", "bob@example.org", bits=2048)


def test_key_info(alice):
    info = key_info(public_armor(alice))
    assert len(info.fingerprint) == 40
    assert info.fingerprint == info.fingerprint.upper()
    assert info.algorithm == "RSA"
    assert info.bits == 2048
    assert info.user_ids == ("Alice Example <alice@example.org>",)
    assert info.emails == ("alice@example.org",)


def test_signature_verifies_with_gnupg(alice):
    sig = sign_detached(alice, b"release bytes")
    [result] = verify_detached(b"release bytes", sig, [public_armor(alice)])
    assert result.status is SignatureStatus.GOOD
    assert result.primary_fingerprint == key_info(alice).fingerprint


def test_tampered_data_is_bad(alice):
    sig = sign_detached(alice, b"release bytes")
    [result] = verify_detached(b"release bytez", sig, [public_armor(alice)])
    assert result.status is SignatureStatus.BAD


def test_other_key_is_unknown(alice, bob):
    sig = sign_detached(alice, b"x")
    [result] = verify_detached(b"x", sig, [public_armor(bob)])
    assert result.status is SignatureStatus.NO_PUBLIC_KEY


def test_several_signatures_each_reported(alice, bob):
    sigs = sign_detached(alice, b"x") + sign_detached(bob, b"x")
    results = verify_detached(b"x", sigs, [public_armor(alice)])
    assert [r.status for r in results] == [SignatureStatus.GOOD, SignatureStatus.NO_PUBLIC_KEY]


def test_protected_key_needs_the_right_passphrase():
    key = generate_key("Carol", "carol@example.org", bits=2048)
    protect(key, "correct horse")
    with pytest.raises(OpenPGPError, match="passphrase is needed"):
        sign_detached(key, b"x")
    with pytest.raises(OpenPGPError, match="wrong passphrase"):
        sign_detached(key, b"x", passphrase="wrong")
    sig = sign_detached(key, b"x", passphrase="correct horse")
    assert verify_detached(b"x", sig, [public_armor(key)])[0].valid


def test_public_key_cannot_sign(alice):
    with pytest.raises(OpenPGPError, match="public key cannot sign"):
        sign_detached(load_key(public_armor(alice)), b"x")


def test_garbage_is_not_a_key():
    with pytest.raises(OpenPGPError):
        load_key("not a key")


def test_parse_status_ignores_noise():
    assert parse_status("gpg: some text\n[GNUPG:] PLAINTEXT 62\n") == []
