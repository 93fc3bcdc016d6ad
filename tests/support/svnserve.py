"""A real ``svnserve`` for the dist repository tests: ``svn://127.0.0.1:PORT/dist``.

    with SvnServe(tmp_path, user="release-bot", password="s3cret") as server:
        server.url                      # svn://127.0.0.1:PORT/dist (dev/ and release/ made)
        server.stop(); server.start()   # the server goes away and comes back on its port

Anonymous users may read; writes need the user (svnserve's own password database).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from agent.distribute.channels.svn import create_repository
from tests.support.agent import HOST, free_port


class SvnServe:
    def __init__(self, root: Path, *, user: str, password: str) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.repository = root / "dist"
        create_repository(self.repository)
        conf = self.repository / "conf"
        (conf / "passwd").write_text(f"[users]\n{user} = {password}\n")
        (conf / "svnserve.conf").write_text(
            "[general]\nanon-access = read\nauth-access = write\npassword-db = passwd\n"
            "realm = ATR test dist\n"
        )

    @property
    def url(self) -> str:
        return f"svn://{HOST}:{self.port}/dist"

    def start(self) -> SvnServe:
        self.process = subprocess.Popen(
            ["svnserve", "--daemon", "--foreground", "--root", str(self.root),
             "--listen-host", HOST, "--listen-port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"svnserve did not listen on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> SvnServe:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()
