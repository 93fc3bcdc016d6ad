"""The OS signing tools, each behind one function: Authenticode with ``osslsigncode``, Apple
code signing and notarization with ``rcodesign`` or a remote signing host.

The private key reaches a tool only as a file in a folder of this process's temporary area
(mode 0700), the key itself encrypted with a one-time password that the tool reads from its
standard input; both are gone when the call returns. Tool output is never logged whole: a
failure is reported with the tool's last lines, the one-time password removed.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from shared.errors import AtrError

if TYPE_CHECKING:  # httpx loads when a remote macOS host is used
    import httpx

__all__ = [
    "SigningFailed",
    "apple_rcodesign",
    "apple_remote",
    "authenticode",
    "authenticode_verify",
    "tool_path",
]

TIMEOUT = 1800


class SigningFailed(AtrError):
    """A signing tool refused or failed; the message carries its own words."""


def tool_path(name: str) -> str | None:
    """The tool's path if it is installed (``name`` may be a path)."""
    return shutil.which(name)


@contextmanager
def _private_dir(parent: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="codesign-", dir=parent))
    folder.chmod(0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(args: list[str], *, stdin: str, what: str, secret: str) -> str:
    try:
        proc = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        raise SigningFailed(f"cannot run {args[0]}: it is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise SigningFailed(f"{what} did not finish in {TIMEOUT} s") from exc
    output = (proc.stdout + "\n" + proc.stderr).replace(secret, "***") if secret else proc.stdout
    if proc.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip()][-6:]
        raise SigningFailed(f"{what} failed (exit {proc.returncode}): {' / '.join(lines)}")
    return output


def _pem_chain(certificate_pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(certificate_pem.encode())


def authenticode(
    source: Path,
    target: Path,
    *,
    tool: str,
    key: PrivateKeyTypes,
    certificate_pem: str,
    workdir: Path,
    description: str = "",
    url: str = "",
    timestamp_url: str | None = None,
) -> str:
    """Sign the PE or MSI file ``source`` into ``target`` (SHA-256, the certificate chain
    embedded, an RFC 3161 timestamp when ``timestamp_url`` is given). Returns the tool's
    output."""
    password = secrets.token_urlsafe(24)
    with _private_dir(workdir) as folder:
        key_file = folder / "key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(password.encode()),
            )
        )
        certs_file = folder / "certs.pem"
        certs_file.write_text(certificate_pem)
        args = [tool, "sign", "-certs", str(certs_file), "-key", str(key_file)]
        args += ["-readpass", "-", "-h", "sha256"]
        if description:
            args += ["-n", description]
        if url:
            args += ["-i", url]
        if timestamp_url:
            args += ["-ts", timestamp_url]
        args += ["-in", str(source), "-out", str(target)]
        return _run(args, stdin=password, what=f"osslsigncode sign {source.name}", secret=password)


def authenticode_verify(path: Path, *, tool: str, certificate_pem: str, workdir: Path) -> str:
    """``osslsigncode verify`` of ``path`` against the chain given (whose top must be its root)."""
    with _private_dir(workdir) as folder:
        ca_file = folder / "ca.pem"
        ca_file.write_text(certificate_pem)
        return _run(
            [tool, "verify", "-CAfile", str(ca_file), "-in", str(path)],
            stdin="",
            what=f"osslsigncode verify {path.name}",
            secret="",
        )


def chain_is_rooted(certificate_pem: str) -> bool:
    """Whether the chain ends in a self-signed certificate (so it can verify by itself)."""
    chain = _pem_chain(certificate_pem)
    return bool(chain) and chain[-1].issuer == chain[-1].subject


def apple_rcodesign(
    source: Path,
    target: Path,
    *,
    tool: str,
    key: PrivateKeyTypes,
    certificate_pem: str,
    workdir: Path,
    api_key_json: str | None,
) -> str:
    """Sign ``source`` into ``target`` with rcodesign (a PKCS#12 of the key and its Developer
    ID certificate), then notarize and staple it when an App Store Connect API key is given."""
    password = secrets.token_urlsafe(24)
    chain = _pem_chain(certificate_pem)
    if not chain:
        raise SigningFailed("the code-signing key has no certificate")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise SigningFailed(
            f"Apple code signing takes an RSA or ECDSA key, not {type(key).__name__}"
        )
    with _private_dir(workdir) as folder:
        p12 = folder / "identity.p12"
        p12.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"atr", key, chain[0], chain[1:] or None,
                serialization.BestAvailableEncryption(password.encode()),
            )
        )  # fmt: skip
        password_file = folder / "password"
        password_file.write_text(password)
        shutil.copyfile(source, target)
        output = _run(
            [tool, "sign", "--p12-file", str(p12), "--p12-password-file", str(password_file),
             "--code-signature-flags", "runtime", str(target)],
            stdin="", what=f"rcodesign sign {source.name}", secret=password,
        )  # fmt: skip
        if api_key_json:
            api_key = folder / "api-key.json"
            api_key.write_text(api_key_json)
            output += _run(
                [tool, "notary-submit", "--api-key-file", str(api_key), "--staple", str(target)],
                stdin="", what=f"rcodesign notary-submit {source.name}", secret=password,
            )  # fmt: skip
        return output


def apple_remote(
    source: Path, target: Path, *, url: str, token: str | None, notarize: bool,
    http: httpx.Client | None = None,
) -> str:  # fmt: skip
    """Sign ``source`` on the operator's remote macOS signing host: ``POST url?name=…&notarize=…``
    with the file as the body (and ``Authorization: Bearer`` the vault credential); the answer
    is the signed file (200). Anything else is a failure with the host's words."""
    import httpx  # noqa: PLC0415 - see the module's imports

    client = http or httpx.Client(timeout=TIMEOUT)
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with source.open("rb") as body:
            response = client.post(
                url,
                params={"name": source.name, "notarize": "1" if notarize else "0"},
                content=body.read(),
                headers=headers,
            )
    except httpx.HTTPError as exc:
        raise SigningFailed(f"the macOS signing host {url} cannot be reached: {exc}") from exc
    finally:
        if http is None:
            client.close()
    if response.status_code != 200:
        text = " ".join(response.text.split())[:300]
        if token:
            text = text.replace(token, "***")
        raise SigningFailed(f"the macOS signing host answered {response.status_code}: {text}")
    target.write_bytes(response.content)
    return f"signed by {url} ({len(response.content):,} bytes)"
