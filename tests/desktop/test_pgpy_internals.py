"""pgpy's private internals, behind ``desktop.pgpy_internals``, on keys GnuPG made.

Each test goes through an internal that a pgpy release could move: the key flags of a
primary key and its subkeys, the secret material of a key GnuPG protected with a
passphrase (unlocked through the streaming S2K derivation), and that derivation
itself against pgpy's own. A signature made with the material is checked by
``gpg --verify``, so a changed internal fails here, not in a release manager's hands.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from desktop import pgpy_internals
from desktop.sigpacket import StreamSigner, signing_key
from shared.errors import OpenPGPError
from shared.openpgp.keys import load_key
from tests.desktop.gpg_home import GPG, gpg_verify, scratch_home

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pgpy.constants import HashAlgorithm, KeyFlags, String2KeyType, SymmetricKeyAlgorithm
    from pgpy.packet.fields import String2Key

PASSPHRASE = "gnupg protected this"
ROOT = Path(__file__).resolve().parents[2]


def _gpg(home: Path, *args: str) -> str:
    proc = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", PASSPHRASE, *args],
        capture_output=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"gpg {' '.join(args)} failed:\n{proc.stderr.decode()}")
    return proc.stdout.decode()


def _gnupg_key(home: Path, uid: str, algorithm: str) -> tuple[str, str, str]:
    """A key GnuPG generated with a signing primary and an encryption subkey, protected with
    :data:`PASSPHRASE`: (secret armor as GnuPG exports it, public armor, fingerprint)."""
    _gpg(home, "--quick-gen-key", uid, algorithm, "sign,cert", "never")
    listing = _gpg(home, "--with-colons", "--list-secret-keys", uid)
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    encryption = "cv25519" if algorithm == "ed25519" else algorithm
    _gpg(home, "--quick-add-key", fingerprint, encryption, "encr", "never")
    secret = _gpg(home, "--armor", "--export-secret-keys", fingerprint)
    public = _gpg(home, "--armor", "--export", fingerprint)
    return secret, public, fingerprint


@pytest.fixture(scope="module")
def gnupg_keys() -> dict[str, tuple[str, str, str]]:
    with scratch_home() as home:
        return {
            "rsa3072": _gnupg_key(home, "Rsa Rm <rsa@example.org>", "rsa3072"),
            "ed25519": _gnupg_key(home, "Ed Rm <ed@example.org>", "ed25519"),
        }


def test_the_installed_pgpy_is_the_series_the_internals_were_checked_with() -> None:
    pin = next(
        dep
        for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        if dep.lower().startswith("pgpy")
    )
    assert pin == "pgpy>=0.6.0,<0.7"  # change TESTED_PGPY and this test together with the pin
    assert pgpy_internals.pgpy_version().startswith(pgpy_internals.TESTED_PGPY)
    assert pgpy_internals.install_streaming_s2k()
    assert pgpy_internals.streaming_s2k_installed()


@pytest.mark.parametrize("algorithm", ["rsa3072", "ed25519"])
def test_key_flags_of_a_gnupg_key_and_its_subkeys(
    gnupg_keys: dict[str, tuple[str, str, str]], algorithm: str
) -> None:
    secret, _public, fingerprint = gnupg_keys[algorithm]
    key = load_key(secret)
    assert key.is_protected
    assert pgpy_internals.key_flags(key) == {KeyFlags.Sign, KeyFlags.Certify}
    (sub,) = key.subkeys.values()
    assert pgpy_internals.key_flags(sub) == {
        KeyFlags.EncryptCommunications,
        KeyFlags.EncryptStorage,
    }
    assert str(signing_key(key).fingerprint).replace(" ", "") == fingerprint


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("rsa3072", rsa.RSAPrivateKey), ("ed25519", ed25519.Ed25519PrivateKey)],
)
def test_the_secret_material_of_a_protected_gnupg_key_signs_what_gpg_verifies(
    gnupg_keys: dict[str, tuple[str, str, str]], algorithm: str, kind: type, tmp_path: Path
) -> None:
    secret, public, _fingerprint = gnupg_keys[algorithm]
    key = load_key(secret)
    with pytest.raises(OpenPGPError, match="protected"):
        pgpy_internals.private_key(key)
    with pytest.raises(OpenPGPError, match="public key"):
        pgpy_internals.private_key(key.pubkey)
    data = tmp_path / "artifact.tar.gz"
    data.write_bytes(os.urandom(200_000))
    signer = StreamSigner(key)
    signer.update(data.read_bytes())
    with key.unlock(PASSPHRASE) as unlocked:  # through the streaming S2K derivation
        material = pgpy_internals.private_key(unlocked)
        assert isinstance(material, kind)
        signature = signer.finish(unlocked)
    asc = tmp_path / "artifact.tar.gz.asc"
    asc.write_text(signature)
    assert "[GNUPG:] GOODSIG" in gpg_verify(public, data, asc)


def test_the_s2k_of_a_gnupg_key_derives_the_same_key_both_ways(
    gnupg_keys: dict[str, tuple[str, str, str]],
) -> None:
    secret, _public, _fingerprint = gnupg_keys["rsa3072"]
    key = load_key(secret)
    s2k = key._key.keymaterial.s2k  # the field GnuPG wrote: iterated and salted
    assert s2k.specifier == String2KeyType.Iterated
    assert pgpy_internals.derive_key(s2k, PASSPHRASE) == pgpy_internals.original_derive_key(
        s2k, PASSPHRASE
    )


@pytest.mark.parametrize(
    ("specifier", "count", "halg", "cipher", "passphrase"),
    [
        (String2KeyType.Iterated, 0xFF, HashAlgorithm.SHA256, SymmetricKeyAlgorithm.AES256, "p"),
        (String2KeyType.Iterated, 0x10, HashAlgorithm.SHA1, SymmetricKeyAlgorithm.AES128, "long"),
        (
            String2KeyType.Iterated,
            0x00,
            HashAlgorithm.SHA512,
            SymmetricKeyAlgorithm.AES256,
            "x" * 300,
        ),
        (String2KeyType.Salted, 0, HashAlgorithm.SHA256, SymmetricKeyAlgorithm.AES256, "salted"),
        (String2KeyType.Simple, 0, HashAlgorithm.SHA1, SymmetricKeyAlgorithm.AES256, "simple ünï"),
    ],
)
def test_streaming_s2k_derives_the_same_keys_as_pgpy(
    specifier: String2KeyType,
    count: int,
    halg: HashAlgorithm,
    cipher: SymmetricKeyAlgorithm,
    passphrase: str,
) -> None:
    field = String2Key()
    field.usage = 254
    field.encalg = cipher
    field.specifier = specifier
    field.halg = halg
    field.salt = bytearray(os.urandom(8))
    field.count = count
    assert pgpy_internals.derive_key(field, passphrase) == pgpy_internals.original_derive_key(
        field, passphrase
    )
