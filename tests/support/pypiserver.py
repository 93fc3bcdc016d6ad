"""A real ``pypiserver`` for tests: a Python package index on a free loopback port.

    with PypiServer(tmp_path / "pypi", users={"uploader": "s3cret"}) as pypi:
        pypi.url              # http://127.0.0.1:PORT/  (the upload URL, as twine's repository)
        pypi.index_url        # http://127.0.0.1:PORT/simple/
        pypi.stored()         # {file name: bytes} of what it holds
        pypi.stores("x.whl")  # how many times it stored that file (from its own log)

Uploads need a user of the htpasswd file (written with passlib); reading is open, as on
PyPI. It never falls back to pypi.org, hashes links with ``#sha256=``, and serves with
waitress (threads: a slow upload does not block the index).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType

from passlib.apache import HtpasswdFile

from tests.support.agent import HOST, free_port
from tests.support.server_process import stop_process, wait_answering

__all__ = ["PypiServer"]

START_TIMEOUT = 60.0


class PypiServer:
    """See the module docstring."""

    def __init__(self, root: Path, *, users: dict[str, str]) -> None:
        self.root = root
        self.packages = root / "packages"
        self.log_path = root / "pypiserver.log"
        self.users = dict(users)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def index_url(self) -> str:
        return f"{self.url}simple/"

    def start(self) -> PypiServer:
        self.packages.mkdir(parents=True, exist_ok=True)
        htpasswd = HtpasswdFile(str(self.root / "htpasswd"), new=True)
        for user, password in self.users.items():
            htpasswd.set_password(user, password)
        htpasswd.save()
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pypiserver", "run", "-p", str(self.port), "-i", HOST,
                 "-a", "update", "-P", str(self.root / "htpasswd"), "--disable-fallback",
                 "--hash-algo", "sha256", "--server", "auto", "--backend", "simple-dir",
                 "-v", str(self.packages)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_answering(
            self.process,
            f"{self.url}health",
            what="pypiserver",
            log_text=self.log_text,
            timeout=START_TIMEOUT,
        )
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, grace=15)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stored(self) -> dict[str, bytes]:
        """Every file the index holds, by name."""
        return {p.name: p.read_bytes() for p in sorted(self.packages.iterdir()) if p.is_file()}

    def stores(self, name: str) -> int:
        """How many times the server stored ``name`` (its log line per accepted upload)."""
        return self.log_text().count(f"stored '{name}'")

    def put(self, path: Path) -> None:
        """Place a file in the index behind the agent's back (as another uploader would)."""
        (self.packages / path.name).write_bytes(path.read_bytes())

    def __enter__(self) -> PypiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
