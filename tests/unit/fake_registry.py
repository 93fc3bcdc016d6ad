"""An in-memory OCI registry behind ``httpx.MockTransport``, for the OCI adapter's unit tests.

    registry = FakeRegistry(auth="bearer", username="bot", password="s3cret")
    client = httpx.Client(transport=registry.transport())
    registry.fail("PUT", "/manifests/", status=500, times=2)   # the next two such requests
    registry.requests                                          # [(method, path, status)]

It speaks the distribution API the way ``docker-registry`` does (202 + ``Location`` with
a ``_state`` query for uploads, ``Content-Range`` checked on PATCH, the digest checked on
the final PUT, a manifest refused while a blob it names is missing), and the two auth
schemes: ``basic`` and ``bearer`` (a token service at ``https://auth.example/token``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx

REGISTRY = "https://registry.example"
REALM = "https://auth.example/token"
SERVICE = "registry.example"
_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>blobs|manifests|tags)/(?P<rest>.*)$")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    body = {"errors": [{"code": code, "message": message}]}
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class _Failure:
    method: str
    fragment: str
    status: int
    times: int
    body: str


@dataclass
class FakeRegistry:
    auth: str | None = None
    username: str = ""
    password: str = ""
    echo_password: bool = False
    """On a refused login, put the password it got in the error text (to test redaction)."""
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    headers_seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    upload_location: str = REGISTRY
    failures: list[_Failure] = field(default_factory=list)
    corrupt: set[str] = field(default_factory=set)
    """Digests whose bytes are served with one byte changed."""
    _tokens: set[str] = field(default_factory=set)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail(
        self, method: str, fragment: str, *, status: int, times: int = 1, body: str = ""
    ) -> None:
        self.failures.append(_Failure(method, fragment, status, times, body))

    def completed_uploads(self) -> list[str]:
        """The digests of blob uploads the registry finished (a PUT ?digest= answered 201)."""
        return [
            unquote(path.split("digest=", 1)[1])
            for method, path, status in self.requests
            if method == "PUT" and "digest=" in path and status == 201
        ]

    # --- handling ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self._handle(request)
        if request.method == "HEAD" and response.content:  # HTTP: a HEAD answer has no body
            response = httpx.Response(response.status_code, headers=response.headers)
        target = request.url.raw_path.decode()
        self.requests.append((request.method, target, response.status_code))
        self.headers_seen.append((str(request.url), dict(request.headers)))
        return response

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(REALM):
            return self._token(request)
        for failure in self.failures:
            if (
                failure.times
                and request.method == failure.method
                and (failure.fragment in str(request.url))
            ):
                failure.times -= 1
                return _error(failure.status, "UNKNOWN", failure.body or "injected failure")
        refused = self._check_auth(request)
        if refused is not None:
            return refused
        if request.url.path == "/v2/":
            return httpx.Response(200, json={})
        match = _PATH.match(request.url.path)
        if match is None:
            return _error(404, "NOT_FOUND", "no route")
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if kind == "blobs" and rest.startswith("uploads"):
            return self._upload(request, name, rest[len("uploads/") :])
        if kind == "blobs":
            return self._blob(request, rest)
        if kind == "tags":
            tags = sorted(self.tags.get(name, {}))
            return httpx.Response(200, json={"name": name, "tags": tags})
        return self._manifest(request, name, rest)

    def _check_auth(self, request: httpx.Request) -> httpx.Response | None:
        if self.auth is None:
            return None
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if header == f"Basic {expected}":
                return None
            got = ""
            if header.startswith("Basic "):
                got = base64.b64decode(header[6:]).decode().partition(":")[2]
            text = "authentication required" + (
                f" (password {got!r})" if self.echo_password else ""
            )
            return _error(401, "UNAUTHORIZED", text, {"WWW-Authenticate": 'Basic realm="fake"'})
        token = header.removeprefix("Bearer ")
        if header.startswith("Bearer ") and token in self._tokens:
            return None
        name = _PATH.match(request.url.path)
        scope = f"repository:{name['name']}:pull" if name else ""
        challenge = f'Bearer realm="{REALM}",service="{SERVICE}"'
        if scope:
            challenge += f',scope="{scope}"'
        return _error(401, "UNAUTHORIZED", "authentication required",
                      {"WWW-Authenticate": challenge})  # fmt: skip

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            got = request.headers.get("Authorization", "")
            text = "incorrect username or password"
            if self.echo_password and got.startswith("Basic "):
                text += f" ({base64.b64decode(got[6:]).decode()})"
            return httpx.Response(401, json={"details": text})
        token = f"token-{uuid.uuid4().hex}"
        self._tokens.add(token)
        return httpx.Response(200, json={"token": token, "expires_in": 300})

    def _upload(self, request: httpx.Request, name: str, session: str) -> httpx.Response:
        if request.method == "POST":
            session = uuid.uuid4().hex
            self.uploads[session] = bytearray()
            location = f"{self.upload_location}/v2/{name}/blobs/uploads/{session}?_state=abc"
            return httpx.Response(202, headers={"Location": location, "Range": "0-0"})
        data = self.uploads.get(session)
        if data is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
        body = request.read()
        if request.headers.get("Content-Length") != str(len(body)):
            return _error(400, "SIZE_INVALID", "Content-Length does not match the body")
        location = f"{self.upload_location}/v2/{name}/blobs/uploads/{session}?_state=def"
        if request.method == "PATCH":
            start, _, end = request.headers.get("Content-Range", "").partition("-")
            if int(start) != len(data) or int(end) != len(data) + len(body) - 1:
                return httpx.Response(416, headers={"Range": f"0-{len(data) - 1}"})
            data += body
            return httpx.Response(
                202, headers={"Location": location, "Range": f"0-{len(data) - 1}"}
            )
        if request.method == "PUT":
            data += body
            digest = request.url.params.get("digest", "")
            actual = "sha256:" + hashlib.sha256(bytes(data)).hexdigest()
            if digest != actual:
                return _error(400, "DIGEST_INVALID", f"digest {digest} is not {actual}")
            self.blobs[digest] = bytes(data)
            del self.uploads[session]
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        return _error(405, "UNSUPPORTED", request.method)

    def _served(self, digest: str, data: bytes) -> bytes:
        if digest in self.corrupt and data:
            return bytes([data[0] ^ 1]) + data[1:]
        return data

    def _blob(self, request: httpx.Request, digest: str) -> httpx.Response:
        data = self.blobs.get(digest)
        if data is None:
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        headers = {"Docker-Content-Digest": digest, "Content-Length": str(len(data))}
        if request.method == "HEAD":
            return httpx.Response(200, headers=headers)
        return httpx.Response(200, headers=headers, content=self._served(digest, data))

    def _manifest(self, request: httpx.Request, name: str, reference: str) -> httpx.Response:
        if request.method == "PUT":
            body = request.read()
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            doc = json.loads(body)
            wanted = [doc["config"], *doc["layers"]] if "layers" in doc else []
            wanted_manifests = doc.get("manifests", [])
            for blob in wanted:
                if blob["digest"] not in self.blobs:
                    return _error(400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown {blob['digest']}")
            for child in wanted_manifests:
                if child["digest"] not in self.manifests:
                    return _error(400, "MANIFEST_BLOB_UNKNOWN", f"unknown {child['digest']}")
            media_type = request.headers.get("Content-Type", "")
            self.manifests[digest] = (media_type, body)
            if not reference.startswith("sha256:"):
                self.tags.setdefault(name, {})[reference] = digest
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        digest = self.tags.get(name, {}).get(reference, reference)
        found = self.manifests.get(digest)
        if found is None:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        media_type, body = found
        headers = {"Docker-Content-Digest": digest, "Content-Type": media_type,
                   "Content-Length": str(len(body))}  # fmt: skip
        if request.method == "HEAD":
            return httpx.Response(200, headers=headers)
        return httpx.Response(200, headers=headers, content=self._served(digest, body))
