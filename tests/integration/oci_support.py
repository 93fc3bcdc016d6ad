"""A real OCI registry for tests, a proxy to throttle or fail it, and releases carrying an image.

    with DockerRegistry(tmp_path / "reg") as registry:           # Debian's docker-registry
        registry.url                                              # http://127.0.0.1:PORT
        registry.completed_uploads()                              # {digest: count} from its log
    with DockerRegistry(tmp_path / "auth", users={"bot": "pw"}):  # htpasswd (bcrypt) auth
    with TokenServer(tmp_path / "tok", {"bot": "pw"}) as tokens:  # the token flow (Docker Hub)
        DockerRegistry(tmp_path / "t", users={"bot": "pw"}, token=tokens)
    with RegistryProxy(registry, rate=2 << 20) as proxy:          # request bodies at 2 MiB/s
        proxy.fail("PUT", "/manifests/1.0.0", status=500, times=2)
    skopeo_pull(registry, "acme/lib:1.0.0", tmp_path / "pulled")  # digest of what it pulled

The registry runs as a subprocess with its own config (filesystem storage in a temp dir,
an access log on stdout) on a free loopback port, and is stopped by its pid.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.integration.distribute_support import vote_and_close
from tests.integration.vote_support import (
    Member,
    client,
    make_candidate,
    source_release,
)
from tests.support.agent import HOST, PROJECT, AgentProcess, free_port
from tests.support.oci_layout import BuiltImage, build_layout
from tests.support.server_process import stop_process, wait_answering

_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class DockerRegistry:
    """Debian's ``docker-registry`` (distribution v2) on a free loopback port."""

    def __init__(
        self,
        root: Path,
        *,
        users: dict[str, str] | None = None,
        token: TokenServer | None = None,
    ) -> None:
        self.root = root
        self.users = dict(users or {})
        self.token = token
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "registry.log"
        self.storage = root / "storage"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> DockerRegistry:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        auth = ""
        if self.token is not None:
            auth = (
                f"auth:\n  token:\n    realm: {self.token.url}/token\n"
                f"    service: {TokenServer.SERVICE}\n    issuer: {TokenServer.ISSUER}\n"
                f"    rootcertbundle: {self.token.cert_path}\n"
            )
        elif self.users:
            lines = [
                subprocess.run(
                    ["htpasswd", "-nbB", user, password],
                    capture_output=True, text=True, check=True,
                ).stdout.strip()
                for user, password in self.users.items()
            ]  # fmt: skip
            (self.root / "htpasswd").write_text("\n".join(lines) + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: atr-test\n    path: {self.root / 'htpasswd'}\n"
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: {HOST}:{self.port}\n  secret: atr-test-secret\n" + auth
        )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_answering(
            self.process,
            f"{self.url}/v2/",
            what="docker-registry",
            log_text=self.log_text,
            timeout=30,
            ok=(200, 401),
        )
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, grace=10)

    def __enter__(self) -> DockerRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- reading it back ------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def requests(self) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every request the registry answered, in order."""
        return [
            (m["method"], unquote(m["path"]), int(m["status"]))
            for m in _ACCESS.finditer(self.log_text())
        ]

    def completed_uploads(self, name: str | None = None) -> Counter[str]:
        """How many blob uploads of each digest the registry finished (PUT ?digest= → 201)."""
        found: Counter[str] = Counter()
        for method, path, status in self.requests():
            if (
                method == "PUT"
                and "/blobs/uploads/" in path
                and "digest=" in path
                and (name is None or path.startswith(f"/v2/{name}/"))
                and status == 201
            ):
                found[re.split(r"[&]", path.split("digest=", 1)[1])[0]] += 1
        return found

    def manifest_puts(self, name: str, reference: str) -> int:
        path = f"/v2/{name}/manifests/{reference}"
        return sum(1 for m, p, s in self.requests() if m == "PUT" and p == path and s == 201)

    def auth(self) -> tuple[str, str] | None:
        """Basic credentials for this test's own requests (htpasswd registries)."""
        return next(iter(self.users.items())) if self.users else None

    def tag_digest(self, name: str, tag: str) -> str | None:
        response = httpx.head(
            f"{self.url}/v2/{name}/manifests/{tag}", headers={"Accept": ACCEPT}, auth=self.auth()
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return str(response.headers["Docker-Content-Digest"])

    def stored_tag(self, name: str, tag: str) -> str:
        """The digest the tag's link file holds in the registry's storage."""
        link = self.storage / "docker/registry/v2/repositories" / name / "_manifests/tags"
        return (link / tag / "current/link").read_text().strip()

    def stored_blob(self, digest: str) -> bytes:
        algorithm, hexdigest = digest.split(":", 1)
        path = self.storage / "docker/registry/v2/blobs" / algorithm / hexdigest[:2] / hexdigest
        return (path / "data").read_bytes()


def skopeo_pull(
    registry: DockerRegistry, reference: str, dest: Path, *, all_images: bool = False
) -> str:
    """``skopeo copy docker://REGISTRY/REFERENCE oci:DEST`` keeping digests; the digest of
    the manifest it wrote (what index.json of the pulled layout names)."""
    policy = dest.parent / "skopeo-policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    credentials = []
    if registry.users:
        user, password = next(iter(registry.users.items()))
        credentials = ["--src-creds", f"{user}:{password}"]
    subprocess.run(
        ["skopeo", "--policy", str(policy), "copy", "--src-tls-verify=false",
         "--preserve-digests", *(["--all"] if all_images else []), *credentials,
         f"docker://{registry.host}/{reference}", f"oci:{dest}:pulled"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    index = json.loads((dest / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def pulled_blobs(dest: Path) -> dict[str, bytes]:
    """Every blob of a pulled layout, checked against its name."""
    found = {}
    for path in (dest / "blobs/sha256").iterdir():
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == path.name
        found[f"sha256:{path.name}"] = data
    return found


# --- a proxy -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _forward(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        failure = proxy.take_failure(self.command, self.path)
        if failure is not None:
            self.rfile.read(length)
            body = json.dumps({"errors": [{"code": "UNKNOWN", "message": failure}]}).encode()
            proxy.record(self.command, self.path, proxy.fail_status)
            self.send_response_only(proxy.fail_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        upstream = http.client.HTTPConnection(HOST, proxy.upstream.port, timeout=120)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                    upstream.putheader(key, value)
            upstream.endheaders()
            left = length
            while left > 0:
                chunk = self.rfile.read(min(64 << 10, left))
                if not chunk:
                    proxy.record(self.command, self.path, 0)  # the client went away
                    self.close_connection = True
                    return
                upstream.send(chunk)
                left -= len(chunk)
                proxy.count(chunk)
            response = upstream.getresponse()
            body = response.read()
        finally:
            upstream.close()
        proxy.record(self.command, self.path, response.status)
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "keep-alive", "transfer-encoding",
                                   "content-length"):  # fmt: skip
                self.send_header(key, value)
        size = response.getheader("Content-Length", "0") if self.command == "HEAD" else len(body)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: RegistryProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the crash test) is expected: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RegistryProxy:
    """An HTTP proxy in front of a :class:`DockerRegistry` that logs each request, can
    throttle request bodies to ``rate`` bytes a second, and answers chosen requests with an
    error instead of forwarding them (:meth:`fail`)."""

    def __init__(self, upstream: DockerRegistry, *, rate: float | None = None) -> None:
        self.upstream = upstream
        self.rate = rate
        self.requests: list[tuple[str, str, int]] = []
        self.body_bytes = 0
        self.fail_status = 500
        self._failures: list[list[Any]] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer((HOST, 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def fail(self, method: str, fragment: str, *, status: int, times: int, text: str) -> None:
        """Answer the next ``times`` requests whose path holds ``fragment`` with ``status``."""
        with self._lock:
            self.fail_status = status
            self._failures.append([method, fragment, times, text])

    def take_failure(self, method: str, path: str) -> str | None:
        with self._lock:
            for failure in self._failures:
                if failure[2] > 0 and failure[0] == method and failure[1] in path:
                    failure[2] -= 1
                    return str(failure[3])
        return None

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, unquote(path), status))

    def count(self, chunk: bytes) -> None:
        with self._lock:
            self.body_bytes += len(chunk)
        if self.rate:
            time.sleep(len(chunk) / self.rate)

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- a token service ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        service = self.server.service
        query = parse_qs(urlsplit(self.path).query)
        scopes = query.get("scope", [])
        header = self.headers.get("Authorization", "")
        account = ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if service.users.get(user) != password:
                self._answer(401, {"details": "incorrect username or password"})
                service.requests.append(("refused", scopes))
                return
            account = user
        service.requests.append((account, scopes))
        if not account:
            self._answer(401, {"details": "authentication required"})
            return
        self._answer(200, {"token": service.token(account, scopes), "expires_in": 300})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _TokenHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    service: TokenServer


class TokenServer:
    """A token service for docker-registry's ``auth: token`` (the flow Docker Hub uses):
    HTTP basic credentials in, a JWT signed with ES256 (its certificate in ``x5c``) out,
    granting the scopes asked for. ``requests``: ``(account, scopes)`` of each request."""

    SERVICE = "atr-test-registry"
    ISSUER = "atr-test-token-issuer"

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        self.users = dict(users)
        self.requests: list[tuple[str, list[str]]] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.ISSUER)])
        now = datetime.now(UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        root.mkdir(parents=True, exist_ok=True)
        self.cert_path = root / "token-issuer.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server = _TokenHttpServer((HOST, 0), _TokenHandler)
        self._server.service = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    def token(self, account: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        der = self._cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        claims = {
            "iss": self.ISSUER, "sub": account, "aud": self.SERVICE, "exp": now + 300,
            "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access,
        }  # fmt: skip
        parts = [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode())]
        signing_input = ".".join(parts)
        der_signature = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_signature)  # JWS wants r || s, not DER
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- releases carrying an image ----------------------------------------------------------------


def image_files(
    folder: Path, version: str, sign: Any, **layout: Any
) -> tuple[BuiltImage, list[Path]]:
    """The release's image: ``apache-acme-lib-<version>.oci.tar`` with its .asc and .sha512."""
    image = build_layout(
        folder / f"apache-{PROJECT}-{version}.oci.tar",
        salt=version,
        annotations={"org.opencontainers.image.version": version},
        **layout,
    )
    data = image.path.read_bytes()
    asc = image.path.with_name(image.path.name + ".asc")
    asc.write_text(sign(data))
    sha = image.path.with_name(image.path.name + ".sha512")
    sha.write_text(f"{hashlib.sha512(data).hexdigest()}  {image.path.name}\n")
    return image, [image.path, asc, sha]


def candidate_with_image(
    agent: AgentProcess, folder: Path, version: str, **layout: Any
) -> tuple[BuiltImage, dict]:
    """A candidate whose files are a source release and an image (checks passed)."""
    rm = agent.committer
    files = source_release(folder / version, version, sign=rm.key.sign)
    image, extra = image_files(folder / version, version, rm.key.sign, **layout)
    revision = make_candidate(agent, rm.token, version, [*files, *extra])
    return image, revision


def stage(agent: AgentProcess, version: str) -> dict:
    with client(agent, agent.committer.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/distribution/start", json={"kind": "staging"}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


def vote_to_passed(agent: AgentProcess, voters: list[Member], version: str, revision: dict) -> None:
    """Open the vote, three binding +1, close it and wait for ``passed``."""
    vote_and_close(agent, voters, version, revision)


def set_channel(agent: AgentProcess, **channel: Any) -> None:
    """Make the project's one optional channel an OCI channel named ``docker``."""
    settings = {"channels": [{"name": "docker", "kind": "oci", "files": ["*.oci.tar"], **channel}]}
    with client(agent, agent.pmc.token) as c:
        r = c.put(f"/projects/{PROJECT}/distribution-settings", json=settings)
        assert r.status_code == 200, r.text


def set_credential(agent: AgentProcess, name: str, username: str, secret: str) -> dict:
    with client(agent, agent.admin.token) as c:
        r = c.put(
            f"/credentials/{name}",
            json={"secret": secret, "username": username, "channels": [f"{PROJECT}:docker"]},
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


def docker_channel(status: dict) -> dict:
    return next(c for c in status["channels"] if c["name"] == "docker")


def all_events(agent: AgentProcess) -> list[dict]:
    """Every event the agent recorded (as the admin reads them)."""
    events: list[dict] = []
    since = 0
    with client(agent, agent.admin.token) as c:
        while True:
            r = c.get("/events", params={"since": since, "limit": 500})
            assert r.status_code == 200, r.text
            page = r.json()
            if not page["events"]:
                return events
            events += page["events"]
            since = page["next_since"]
