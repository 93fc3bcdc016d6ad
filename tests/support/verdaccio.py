"""A real verdaccio (an npm registry) for tests, on a free loopback port.

    with Verdaccio(tmp_path / "npm") as npm:
        npm.url                           # http://127.0.0.1:PORT
        token = npm.add_user("uploader", "s3cret")   # through its API, as `npm adduser`
        npm.document("acme-lib")          # the package document (GET /acme-lib)
        npm.tarball("acme-lib", "1.0.0")  # the bytes it serves for that version
        npm.accepted("acme-lib")          # its log: how many publishes it accepted

verdaccio is pinned in ``tests/support/node/package.json`` (6.8.0: the last that runs on
Node 20) and installed by ``./dev test`` into ``tests/support/node/node_modules``. Each
instance has its own config, htpasswd and storage under ``root``, no uplink (it never
asks npmjs), anyone may read, signed-in users may publish.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.agent import HOST, free_port
from tests.support.server_process import stop_process, wait_answering

__all__ = ["NODE_DIR", "Verdaccio"]

NODE_DIR = Path(__file__).resolve().parent / "node"
BINARY = NODE_DIR / "node_modules" / ".bin" / "verdaccio"
START_TIMEOUT = 90.0

_CONFIG = """\
storage: {storage}
auth:
  htpasswd:
    file: {htpasswd}
    max_users: 100
uplinks: {{}}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
server:
  keepAliveTimeout: 60
max_body_size: 512mb
log:
  type: stdout
  format: json
  level: http
"""


class Verdaccio:
    """See the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = root / "storage"
        self.log_path = root / "verdaccio.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Verdaccio:
        if not BINARY.exists():
            raise RuntimeError(
                f"verdaccio is not installed in {NODE_DIR}: run ./dev test once, or "
                f"npm ci --prefix {NODE_DIR}"
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yaml"
        config.write_text(
            _CONFIG.format(storage=self.storage, htpasswd=self.root / "htpasswd"),
            encoding="utf-8",
        )
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BINARY), "--config", str(config), "--listen", f"{HOST}:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        wait_answering(
            self.process,
            f"{self.url}/-/ping",
            what="verdaccio",
            log_text=self.log_text,
            timeout=START_TIMEOUT,
            interval=0.2,
        )
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, grace=20)

    def add_user(self, name: str, password: str) -> str:
        """Create a user through the registry's API (as ``npm adduser``); its token."""
        r = httpx.put(
            f"{self.url}/-/user/org.couchdb.user:{name}",
            json={"name": name, "password": password},
            timeout=30,
        )
        if r.status_code != 201:
            raise RuntimeError(f"verdaccio refused the user {name}: {r.status_code} {r.text}")
        return str(r.json()["token"])

    def document(self, package: str) -> dict[str, Any]:
        escaped = package.replace("/", "%2f")
        r = httpx.get(f"{self.url}/{escaped}", timeout=30)
        r.raise_for_status()
        return dict(r.json())

    def tarball(self, package: str, version: str) -> bytes:
        url = self.document(package)["versions"][version]["dist"]["tarball"]
        r = httpx.get(url, timeout=60)
        r.raise_for_status()
        return r.content

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def accepted(self, package: str) -> int:
        """How many publishes (``PUT /<package>``) verdaccio accepted (201), from its log."""
        escaped = package.replace("/", "%2f")
        count = 0
        for line in self.log_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            request = entry.get("request") or {}
            if (
                request.get("method") == "PUT"
                and request.get("url") == f"/{escaped}"
                and entry.get("status") == 201
            ):
                count += 1
        return count

    def __enter__(self) -> Verdaccio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
