"""agent.provenance.signers without Apple's tools: the remote signing host's protocol (an
httpx MockTransport stands in for the host), and the rcodesign command line (a stand-in
script checks what a real rcodesign would be given: the PKCS#12 identity opens with the
one-time password, the file to sign, the notarization key). A real rcodesign is not run
here (docs/provenance.md says what is and is not tested)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from agent.provenance import certs, signers


def test_the_remote_host_gets_the_file_and_returns_it_signed(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def host(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer t0ken":
            return httpx.Response(401, text=f"bad token {request.headers['Authorization']}")
        return httpx.Response(200, content=request.content + b"+signed")

    source = tmp_path / "acme.dmg"
    source.write_bytes(b"disk image")
    target = tmp_path / "out.dmg"
    client = httpx.Client(transport=httpx.MockTransport(host))
    signers.apple_remote(source, target, url="https://mac.example/sign", token="t0ken",
                         notarize=True, http=client)  # fmt: skip
    assert target.read_bytes() == b"disk image+signed"
    assert seen[0].url.params["name"] == "acme.dmg" and seen[0].url.params["notarize"] == "1"
    with pytest.raises(signers.SigningFailed, match=r"answered 401: bad token Bearer \*\*\*$"):
        signers.apple_remote(source, target, url="https://mac.example/sign", token="wrong",
                             notarize=False, http=client)  # fmt: skip


FAKE = """#!{python}
import json, sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import pkcs12
args = sys.argv[1:]
log = Path({log!r})
calls = json.loads(log.read_text()) if log.exists() else []
if args[0] == "sign":
    p12 = Path(args[args.index("--p12-file") + 1]).read_bytes()
    password = Path(args[args.index("--p12-password-file") + 1]).read_text().encode()
    key, cert, _ = pkcs12.load_key_and_certificates(p12, password)
    assert key is not None and cert is not None
    target = Path(args[-1])
    target.write_bytes(target.read_bytes() + b"+codesigned")
    calls.append({{"sign": args[-1], "subject": cert.subject.rfc4514_string()}})
elif args[0] == "notary-submit":
    key = json.loads(Path(args[args.index("--api-key-file") + 1]).read_text())
    assert "--staple" in args
    target = Path(args[-1])
    target.write_bytes(target.read_bytes() + b"+stapled")
    calls.append({{"notarize": args[-1], "issuer": key["issuer_id"]}})
log.write_text(json.dumps(calls))
"""


def test_rcodesign_is_given_an_identity_it_can_open(tmp_path: Path) -> None:
    tool = tmp_path / "rcodesign"
    log = tmp_path / "calls.json"
    tool.write_text(FAKE.format(python=sys.executable, log=str(log)))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = certs.self_signed_certificate(key, "CN=Developer ID Application: Acme", days=5)
    source = tmp_path / "Acme.app.zip"
    source.write_bytes(b"app")
    target = tmp_path / "signed.zip"
    signers.apple_rcodesign(
        source, target, tool=str(tool), key=key,
        certificate_pem=cert.public_bytes(Encoding.PEM).decode(), workdir=tmp_path,
        api_key_json=json.dumps({"issuer_id": "abc", "key_id": "K", "private_key": "…"}),
    )  # fmt: skip
    assert target.read_bytes() == b"app+codesigned+stapled"
    calls = json.loads(log.read_text())
    assert calls[0]["subject"] == "CN=Developer ID Application: Acme"
    assert calls[1]["issuer"] == "abc"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("codesign-")) == []
