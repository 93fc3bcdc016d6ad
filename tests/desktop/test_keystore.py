"""The keystore: generate, import, protect, passphrases, the OS keyring, file permissions."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring
import pytest

from desktop.errors import (
    KeyNotFound,
    KeyringUnavailable,
    KeystoreError,
    PassphraseRequired,
    WrongPassphrase,
)
from desktop.keystore import KEYRING_SERVICE, Keystore
from shared.challenge import Challenge, Purpose
from shared.errors import ValidationError
from shared.openpgp import verify_detached
from shared.openpgp.keys import generate_key, key_info, load_key, protect
from tests.desktop.conftest import BrokenKeyring, MemoryKeyring
from tests.support.keys import fresh_key, user_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _verifies(signature: str, data: bytes, public: str, tmp_path: Path) -> bool:
    """GnuPG (as the agent verifies) accepts the signature."""
    results = verify_detached(data, signature, [public])
    return bool(results) and all(r.valid for r in results)


def test_generate_rsa_4096_protected_and_private(keystore: Keystore, tmp_path: Path) -> None:
    key = keystore.generate(name="Alice Doe", email="alice@apache.org", passphrase="s3cret")

    assert key.info.algorithm == "RSA"
    assert key.info.bits == 4096
    assert key.info.user_ids == ("Alice Doe <alice@apache.org>",)
    assert key.protected
    assert key.path is not None and key.path.name == f"{key.fingerprint}.asc"
    assert _mode(key.path) == 0o600
    assert _mode(key.path.parent) == 0o700
    stored = load_key(key.path.read_text())
    assert stored.is_protected and not stored.is_public
    assert [k.fingerprint for k in keystore.list_keys()] == [key.fingerprint]
    # no temporary file is left beside the key
    assert sorted(p.name for p in key.path.parent.iterdir()) == [key.path.name]

    signature = keystore.sign(key.fingerprint, b"release bytes", passphrase="s3cret")
    public = keystore.export_public(key.fingerprint)
    assert "PUBLIC KEY BLOCK" in public and "PRIVATE" not in public
    assert _verifies(signature, b"release bytes", public, tmp_path)
    assert not _verifies(signature, b"other bytes", public, tmp_path)


def test_wrong_passphrase_is_a_clear_error(keystore: Keystore) -> None:
    key = keystore.generate(name="Bob", email="bob@apache.org", passphrase="right horse", bits=2048)
    with pytest.raises(WrongPassphrase) as raised:
        keystore.sign(key.fingerprint, b"x", passphrase="wrong horse")
    assert "passphrase does not unlock" in raised.value.diagnostics()
    with pytest.raises(WrongPassphrase):
        keystore.check_passphrase(key.fingerprint, "wrong horse")
    keystore.check_passphrase(key.fingerprint, "right horse")
    with pytest.raises(PassphraseRequired):
        keystore.sign(key.fingerprint, b"x")


def test_generate_refuses_bad_input(keystore: Keystore) -> None:
    with pytest.raises(ValidationError, match="passphrase"):
        keystore.generate(name="A", email="a@example.org", passphrase="", bits=2048)
    with pytest.raises(ValidationError, match="email"):
        keystore.generate(name="A", email="not-an-address", passphrase="p", bits=2048)
    with pytest.raises(ValidationError, match="at least 2048"):
        keystore.generate(name="A", email="a@example.org", passphrase="p", bits=1024)
    assert keystore.list_keys() == []


def test_import_unprotected_key_gets_protected(keystore: Keystore, tmp_path: Path) -> None:
    pair = fresh_key("carol")
    source = pair.write_secret(tmp_path / "carol-secret.asc")

    key = keystore.import_file(source, passphrase="new pass")

    assert key.fingerprint == pair.fingerprint and key.protected
    assert key.path is not None and _mode(key.path) == 0o600
    assert load_key(key.path.read_text()).is_protected
    with pytest.raises(WrongPassphrase):
        keystore.sign(key.fingerprint, b"x", passphrase="old pass")
    signature = keystore.sign(key.fingerprint, b"x", passphrase="new pass")
    assert _verifies(signature, b"x", pair.public_armor, tmp_path)


def test_import_protected_key_needs_its_passphrase(keystore: Keystore) -> None:
    secret = generate_key("Dan", "dan@example.org", bits=2048)
    protect(secret, "dans pass")
    armored = str(secret)

    with pytest.raises(WrongPassphrase):
        keystore.import_armored(armored, passphrase="guess")
    assert keystore.list_keys() == []
    key = keystore.import_armored(armored, passphrase="dans pass")
    assert key.fingerprint == key_info(secret).fingerprint
    keystore.check_passphrase(key.fingerprint, "dans pass")


def test_import_refuses_public_keys_and_garbage(keystore: Keystore, tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="public key") as raised:
        keystore.import_armored(user_key("alice").public_armor, passphrase="p")
    assert "export-secret-keys" in raised.value.diagnostics()
    with pytest.raises(KeystoreError, match="no such key file"):
        keystore.import_file(tmp_path / "missing.asc", passphrase="p")
    junk = tmp_path / "junk.asc"
    junk.write_text("not a key at all")
    with pytest.raises(Exception, match="OpenPGP key"):
        keystore.import_file(junk, passphrase="p")
    assert keystore.list_keys() == []


def test_remember_passphrase_in_keyring_signs_without_asking(
    keystore: Keystore, memory_keyring: MemoryKeyring
) -> None:
    key = keystore.generate(name="Erin", email="erin@apache.org", passphrase="pw", bits=2048)
    assert keystore.needs_passphrase(key.fingerprint)
    assert keystore.remembered_passphrase(key.fingerprint) is None

    with pytest.raises(WrongPassphrase):
        keystore.remember_passphrase(key.fingerprint, "not it")
    assert memory_keyring.passwords == {}

    keystore.remember_passphrase(key.fingerprint, "pw")
    assert keyring.get_password(KEYRING_SERVICE, f"openpgp:{key.fingerprint}") == "pw"
    assert not keystore.needs_passphrase(key.fingerprint)
    keystore.sign(key.fingerprint, b"no prompt")  # uses the remembered passphrase

    keystore.forget_passphrase(key.fingerprint)
    assert memory_keyring.passwords == {}
    with pytest.raises(PassphraseRequired):
        keystore.sign(key.fingerprint, b"x")
    keystore.forget_passphrase(key.fingerprint)  # forgetting twice is fine


def test_without_a_keyring_remembering_fails_clearly(keystore: Keystore) -> None:
    key = keystore.generate(name="Finn", email="finn@apache.org", passphrase="pw", bits=2048)
    keyring.set_keyring(BrokenKeyring())
    with pytest.raises(KeyringUnavailable) as raised:
        keystore.remember_passphrase(key.fingerprint, "pw")
    assert "leave 'remember' unchecked" in raised.value.diagnostics()
    assert keystore.remembered_passphrase(key.fingerprint) is None
    assert keystore.needs_passphrase(key.fingerprint)


def test_transient_key_is_used_but_not_stored(keystore: Keystore, tmp_path: Path) -> None:
    pair = fresh_key("gina")
    source = pair.write_secret(tmp_path / "demo-key.asc")

    key = keystore.load_transient(source)

    assert key.transient and key.source == source and not key.protected
    assert not keystore.directory.exists() or list(keystore.directory.iterdir()) == []
    assert [k.fingerprint for k in keystore.list_keys()] == [pair.fingerprint]
    challenge = Challenge(
        purpose=Purpose.LOGIN,
        user="gina",
        agent="http://127.0.0.1:8765",
        nonce="ab" * 16,
        issued=datetime.now(UTC),
        expires=datetime.now(UTC) + timedelta(minutes=5),
    )
    signature = keystore.signer(key.fingerprint)(challenge)
    assert _verifies(signature, challenge.render().encode(), pair.public_armor, tmp_path)
    # a fresh keystore (the next run) does not know it
    assert Keystore(keystore.directory).list_keys() == []


def test_unknown_key_and_delete(keystore: Keystore) -> None:
    with pytest.raises(KeyNotFound):
        keystore.get("0" * 40)
    with pytest.raises(KeyNotFound):
        keystore.signer("not a fingerprint")
    key = keystore.generate(name="Hal", email="hal@apache.org", passphrase="pw", bits=2048)
    keystore.remember_passphrase(key.fingerprint, "pw")
    keystore.delete(key.fingerprint)
    assert keystore.list_keys() == []
    assert keystore.remembered_passphrase(key.fingerprint) is None


def test_export_public_to_file(keystore: Keystore, tmp_path: Path) -> None:
    key = keystore.generate(name="Ivy", email="ivy@apache.org", passphrase="pw", bits=2048)
    out = tmp_path / "ivy.pub.asc"
    keystore.export_public_to(key.fingerprint, out)
    assert key_info(out.read_text()).fingerprint == key.fingerprint
    assert load_key(out.read_text()).is_public
