"""Clear-signed messages interoperate with GnuPG both ways (shared/openpgp/cleartext.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from shared.errors import OpenPGPError
from shared.openpgp import generate_key, key_info, public_armor
from shared.openpgp.cleartext import clear_sign, normalize_text, verify_cleartext
from shared.openpgp.gnupg import SignatureStatus
from shared.openpgp.keys import protect
from tests.support.gpg import gpg_factory, kill_agent

__all__ = ["gpg_factory"]

BALLOT = json.dumps({"project": "acme-lib", "value": "+1", "comment": "- looks good"}, indent=2)


@pytest.fixture(scope="module")
def alice():
    return generate_key("Alice Example", "alice@example.org", bits=2048)


@pytest.fixture(scope="module")
def mallory():
    return generate_key("Mallory", "mallory@example.org", bits=2048)


@pytest.fixture
def gpg_home():
    home = Path(tempfile.mkdtemp(prefix="atr-ct-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_pgpy_cleartext_verifies_with_gpg_itself(alice, gpg_home, tmp_path):
    signed = clear_sign(alice, BALLOT)
    subprocess.run(
        ["gpg", "--homedir", str(gpg_home), "--batch", "--import"],
        input=public_armor(alice).encode(),
        check=True,
        capture_output=True,
    )
    path = tmp_path / "ballot.asc"
    path.write_text(signed)
    proc = subprocess.run(
        ["gpg", "--homedir", str(gpg_home), "--batch", "--status-fd", "1", "--verify", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[GNUPG:] GOODSIG" in proc.stdout
    assert key_info(alice).fingerprint in proc.stdout


def test_verify_returns_the_signer_and_the_exact_text(alice):
    result = verify_cleartext(clear_sign(alice, BALLOT), [public_armor(alice)])
    assert result.valid
    assert result.status is SignatureStatus.GOOD
    assert result.signer == key_info(alice).fingerprint
    assert result.text == BALLOT
    assert json.loads(result.text)["comment"] == "- looks good"  # dash-escaping undone


def test_text_with_trailing_blanks_and_crlf_is_normalized(alice):
    text = "line one  \r\n- dash\t\r\n-- \r\nünïcode ✓"
    result = verify_cleartext(clear_sign(alice, text), [public_armor(alice)])
    assert result.valid
    assert result.text == normalize_text(text) == "line one\n- dash\n--\nünïcode ✓"


def test_gpg_clearsign_is_accepted(gpg_factory):
    key = gpg_factory.key("rsa4096")
    signed = gpg_factory.gpg(
        "--clearsign", "--local-user", key.fingerprint, stdin=(BALLOT + "\n").encode()
    )
    result = verify_cleartext(signed, [key.public])
    assert result.valid
    assert result.signer == key.fingerprint
    # gpg --clearsign does not sign the input's final line end (it ends the text).
    assert result.text == BALLOT


def test_ed25519_gpg_clearsign_is_accepted(gpg_factory):
    key = gpg_factory.key("ed25519")
    signed = gpg_factory.gpg("--clearsign", "--local-user", key.fingerprint, stdin=b"+1\n")
    result = verify_cleartext(signed, [key.public])
    assert result.valid and result.text == "+1"


def test_tampered_text_is_bad(alice):
    signed = clear_sign(alice, BALLOT).replace('"+1"', '"-1"')
    result = verify_cleartext(signed, [public_armor(alice)])
    assert not result.valid
    assert result.status is SignatureStatus.BAD


def test_signature_by_an_unknown_key(alice, mallory):
    result = verify_cleartext(clear_sign(mallory, BALLOT), [public_armor(alice)])
    assert result.status is SignatureStatus.NO_PUBLIC_KEY
    assert result.signer is None
    assert result.signature.fingerprint == key_info(mallory).fingerprint  # the issuer, unverified


def test_revoked_key_fails(gpg_factory):
    key = gpg_factory.key("revoked")
    signed = gpg_factory.gpg("--clearsign", "--local-user", key.fingerprint, stdin=b"+1\n")
    result = verify_cleartext(signed, [key.public])
    assert not result.valid
    assert result.status is SignatureStatus.REVOKED_KEY


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: "+1 from me\n" + s, "must start with"),
        (lambda s: s + "\nand -1 too\n", "must end with"),
        (lambda s: s + "\n" + s, "exactly one signed text"),
        (lambda s: "hello", "not a clear-signed"),
    ],
)
def test_malformed_messages_are_refused(alice, mangle, message):
    with pytest.raises(OpenPGPError, match=message):
        verify_cleartext(mangle(clear_sign(alice, BALLOT)), [public_armor(alice)])


def test_missing_signature_block_is_refused(alice):
    signed = clear_sign(alice, BALLOT)
    cut = signed[: signed.index("-----BEGIN PGP SIGNATURE-----")] + "-----END PGP SIGNATURE-----\n"
    with pytest.raises(OpenPGPError):
        verify_cleartext(cut, [public_armor(alice)])


def test_protected_key_needs_its_passphrase():
    key = generate_key("Carol", "carol@example.org", bits=2048)
    protect(key, "s3cret")
    with pytest.raises(OpenPGPError, match="passphrase is needed"):
        clear_sign(key, "x")
    with pytest.raises(OpenPGPError, match="wrong passphrase"):
        clear_sign(key, "x", passphrase="nope")
    result = verify_cleartext(clear_sign(key, "x", passphrase="s3cret"), [public_armor(key)])
    assert result.valid and result.text == "x"


def test_public_key_cannot_sign(alice):
    with pytest.raises(OpenPGPError, match="public key cannot sign"):
        clear_sign(alice.pubkey, "x")
