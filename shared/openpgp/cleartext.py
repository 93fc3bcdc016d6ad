"""Clear-signed messages: made with a pgpy key (the desktop), verified with GnuPG (the agent).

A clear-signed message (RFC 4880 §7) carries a readable text and an armored
signature of it, as ``gpg --clearsign`` makes. Ballots are clear-signed JSON.

* :func:`clear_sign` signs a text with a pgpy key, in the form GnuPG accepts.
  Trailing spaces and tabs of each line are not covered by a cleartext
  signature, so they are removed first, and line ends become ``\\n``.
* :func:`verify_cleartext` checks a clear-signed message with ``gpg --decrypt``
  in a throwaway home holding only the given public keys, and returns the
  signature's result with the text exactly as GnuPG recovered and verified it
  (dash-escaping undone). The text comes from GnuPG's output, never from
  parsing the armor here, so what is returned is what the signature covers.

Only one signed message with one signature is accepted: anything before or
after the armor, a second message or a second signature is refused with an
:class:`~shared.errors.OpenPGPError` before GnuPG runs.
"""

from __future__ import annotations

import re
import subprocess
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import OpenPGPError
from shared.openpgp.gnupg import (
    GPG,
    Keyring,
    SignatureResult,
    SignatureStatus,
    parse_status,
)

if TYPE_CHECKING:  # pgpy is imported by clear_sign: the agent only verifies, with GnuPG
    import pgpy

__all__ = ["CleartextVerification", "clear_sign", "normalize_text", "verify_cleartext"]

BEGIN_MESSAGE = "-----BEGIN PGP SIGNED MESSAGE-----"
BEGIN_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
END_SIGNATURE = "-----END PGP SIGNATURE-----"
MAX_SIGNED_BYTES = 1 << 20
"""Clear-signed messages are short texts (ballots); larger input is refused."""
_TIMEOUT = 60
_ARMOR_LINE = re.compile(r"^-----(BEGIN|END) PGP [A-Z ]+-----$")


def normalize_text(text: str) -> str:
    """``text`` as a cleartext signature covers it: ``\\n`` line ends, no trailing blanks."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip(" \t") for line in lines)


def clear_sign(key: pgpy.PGPKey, text: str, *, passphrase: str | None = None) -> str:
    """The clear-signed message of ``text`` (normalized, see :func:`normalize_text`), SHA-512.

    GnuPG's ``gpg --verify`` accepts it; :func:`verify_cleartext` returns the
    normalized text.
    """
    if key.is_public:
        raise OpenPGPError("a public key cannot sign; load the secret key")
    body = normalize_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgpy  # noqa: PLC0415 - see the module's imports
        from pgpy.constants import HashAlgorithm  # noqa: PLC0415

        message = pgpy.PGPMessage.new(body, cleartext=True)
        if key.is_protected:
            if passphrase is None:
                raise OpenPGPError("the key is protected; a passphrase is needed to sign")
            try:
                with key.unlock(passphrase):
                    signature = key.sign(message, hash=HashAlgorithm.SHA512)
            except pgpy.errors.PGPDecryptionError as exc:
                raise OpenPGPError("wrong passphrase for the key") from exc
        else:
            signature = key.sign(message, hash=HashAlgorithm.SHA512)
        message |= signature
    return str(message)


@dataclass(frozen=True, slots=True)
class CleartextVerification:
    """The outcome of :func:`verify_cleartext`.

    ``text`` is what GnuPG recovered from the message; trust it only when
    :attr:`valid` is true.
    """

    signature: SignatureResult
    text: str

    @property
    def valid(self) -> bool:
        """A good signature by one of the keys given."""
        return self.signature.valid

    @property
    def status(self) -> SignatureStatus:
        return self.signature.status

    @property
    def signer(self) -> str | None:
        """The primary key fingerprint of the signer, when the signature is good (else None;
        ``signature.fingerprint`` may then name the key the signature claims, unverified)."""
        if not self.valid:
            return None
        return self.signature.primary_fingerprint or self.signature.fingerprint


def _check_shape(signed: str) -> str:
    """The message without surrounding blank space; refuses anything that is not exactly one
    clear-signed message with one signature block."""
    if len(signed.encode("utf-8", "surrogateescape")) > MAX_SIGNED_BYTES:
        raise OpenPGPError(f"the signed message is larger than {MAX_SIGNED_BYTES} bytes")
    stripped = signed.strip()
    if not stripped.startswith(BEGIN_MESSAGE):
        raise OpenPGPError(
            f"this is not a clear-signed OpenPGP message: it must start with '{BEGIN_MESSAGE}'",
            hint="sign the text with 'gpg --clearsign' or the desktop",
        )
    if not stripped.endswith(END_SIGNATURE):
        raise OpenPGPError(
            f"the clear-signed message must end with '{END_SIGNATURE}'; "
            "nothing may follow the signature"
        )
    armor = [line.rstrip() for line in stripped.splitlines() if _ARMOR_LINE.match(line.rstrip())]
    if armor != [BEGIN_MESSAGE, BEGIN_SIGNATURE, END_SIGNATURE]:
        raise OpenPGPError(
            "the clear-signed message must hold exactly one signed text and one signature block",
            hint="send one ballot per message",
        )
    return stripped + "\n"


def verify_cleartext(signed: str, public_keys: Iterable[str]) -> CleartextVerification:
    """Verify a clear-signed message against ``public_keys`` only.

    Raises :class:`OpenPGPError` if the message is malformed or holds no single
    signature GnuPG can read; otherwise returns the signature's status and the
    signed text (the final line end GnuPG adds to its output is removed).
    """
    message = _check_shape(signed)
    with Keyring.open(public_keys) as ring:
        try:
            proc = subprocess.run(
                [
                    GPG,
                    "--homedir",
                    str(ring.home),
                    "--batch",
                    "--no-autostart",
                    "--no-auto-key-retrieve",
                    "--trust-model",
                    "always",
                    "--status-fd",
                    "2",
                    "--logger-fd",
                    "2",
                    "--output",
                    "-",
                    "--decrypt",
                ],
                input=message.encode("utf-8"),
                capture_output=True,
                check=False,
                timeout=_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OpenPGPError(
                f"cannot run GnuPG to verify a clear-signed message: {exc}",
                hint="install GnuPG 2.2 or later, or point ATR_GPG at its gpg program",
            ) from exc
    results = parse_status(proc.stderr.decode("utf-8", "replace"))
    if not results:
        raise OpenPGPError("GnuPG found no signature it could read in the clear-signed message")
    if len(results) > 1:
        raise OpenPGPError(
            f"the clear-signed message carries {len(results)} signatures; exactly one is accepted"
        )
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OpenPGPError("the signed text is not UTF-8") from exc
    if text.endswith("\n"):
        text = text[:-1]
    return CleartextVerification(signature=results[0], text=text)
