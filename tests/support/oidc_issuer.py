"""A local OpenID Connect issuer, like GitHub Actions' token service, with its own RSA keys.

    with OidcIssuer() as issuer:
        issuer.url                                  # http://127.0.0.1:PORT (the 'iss')
        token = issuer.token(repository="apache/acme-lib", ref="refs/tags/v1.0.0")
        issuer.request_url, issuer.request_token    # ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN

It serves ``/.well-known/openid-configuration`` and ``/.well-known/jwks`` (as
token.actions.githubusercontent.com does) and the runner's token endpoint: ``GET
/token?audience=…`` with ``Authorization: bearer <request token>`` answers ``{"value": JWT}``
with the claims of :attr:`OidcIssuer.claims` (what a workflow run's token would carry).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def workflow_claims(
    issuer: str,
    *,
    repository: str = "apache/acme-lib",
    workflow: str = "release.yml",
    ref: str = "refs/tags/v1.0.0-rc1",
    audience: str = "atr",
    environment: str | None = None,
    lifetime: int = 300,
    issued: int | None = None,
) -> dict[str, Any]:
    """The claims of a GitHub Actions job's OIDC token."""
    now = int(time.time()) if issued is None else issued
    wf_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": f"repo:{repository}:ref:{ref}",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime,
        "repository": repository,
        "repository_owner": repository.split("/", maxsplit=1)[0],
        "repository_id": "123456",
        "ref": ref,
        "ref_type": "tag" if "/tags/" in ref else "branch",
        "sha": "c0ffee" * 6 + "c0ff",
        "workflow": "Release",
        "workflow_ref": wf_ref,
        "job_workflow_ref": wf_ref,
        "run_id": "987654321",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "event_name": "push",
        "actor": "bob",
    }
    if environment is not None:
        claims["environment"] = environment
    return claims


class OidcIssuer:
    """See the module docstring. ``kid`` names its key; :meth:`rotate` makes a new one."""

    def __init__(self) -> None:
        self.key = _rsa()
        self.kid = "key-1"
        self.request_token = secrets.token_urlsafe(16)
        self.claims: dict[str, Any] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests = 0

    @property
    def request_url(self) -> str:
        return f"{self.url}/token?api-version=2.0"

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def token(self, *, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        """A token signed by this issuer (``key``: sign with another key, same ``kid``)."""
        body = workflow_claims(self.url, **claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def _json(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                issuer.requests += 1
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    self._json(
                        200, {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/.well-known/jwks"}
                    )
                elif parts.path == "/.well-known/jwks":
                    self._json(200, issuer.jwks())
                elif parts.path == "/token":
                    if self.headers.get("Authorization") != f"bearer {issuer.request_token}":
                        self._json(401, {"message": "bad request token"})
                        return
                    audience = parse_qs(parts.query).get("audience", ["https://github.com/apache"])[
                        0
                    ]
                    self._json(200, {"value": issuer.token(audience=audience, **issuer.claims)})
                else:
                    self._json(404, {"message": "not found"})

        return Handler

    def __enter__(self) -> OidcIssuer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
