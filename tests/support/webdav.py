"""A real WebDAV server for tests: Debian's Apache httpd with ``mod_dav``/``mod_dav_fs``.

    with ApacheDav(users={"deployer": "s3cret"}) as dav:   # needs Debian's apache2
        dav.url                                   # http://127.0.0.1:PORT (the WebDAV root)
        dav.path("maven/org/acme/x.jar")          # the file on disk
        dav.puts("x.jar")                         # successful PUTs of paths ending so

It runs ``apache2 -f <its config> -DFOREGROUND`` with its own ServerRoot, PidFile, port,
logs and lock database, in a fresh folder under the system's temp dir (readable by the
``www-data`` user Apache switches to when the tests run as root). Reading is anonymous;
writing (PUT, MKCOL, DELETE) needs HTTP Basic with a user of its htpasswd file (bcrypt).
The access log records ``METHOD PATH STATUS BYTES`` per request, so tests count uploads.

Below ``/artifactory/`` Apache answers a deploy by checksum (``X-Checksum-Deploy: true``)
with 404, as Artifactory does when it does not hold the content: the Artifactory adapter's
upload path (the bytes with their ``X-Checksum-*`` headers) then runs against a real server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.agent import HOST, free_port

__all__ = ["APACHE", "ApacheDav"]

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
_CONFIG = """\
ServerRoot "{root}"
ServerName {host}
Listen {host}:{port}
PidFile "{root}/run/httpd.pid"
Mutex file:{root}/run default
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule dav_module {modules}/mod_dav.so
LoadModule dav_fs_module {modules}/mod_dav_fs.so
LoadModule rewrite_module {modules}/mod_rewrite.so
ErrorLog "{root}/logs/error.log"
LogLevel warn
LogFormat "%m %U %>s %B" atr
CustomLog "{root}/logs/access.log" atr
DocumentRoot "{root}/htdocs"
DavLockDB "{root}/lock/davlock"
Timeout 60
KeepAliveTimeout 30
RewriteEngine On
RewriteCond %{{REQUEST_METHOD}} =PUT
RewriteCond %{{HTTP:X-Checksum-Deploy}} =true [NC]
RewriteRule ^/artifactory/ - [R=404,L]
<Directory "{root}/htdocs">
    Dav On
    AuthType Basic
    AuthName "ATR test repository"
    AuthBasicProvider file
    AuthUserFile "{root}/htpasswd"
    <RequireAny>
        Require method GET HEAD OPTIONS
        Require valid-user
    </RequireAny>
</Directory>
"""


class ApacheDav:
    """One ``apache2`` WebDAV server (see the module docstring)."""

    def __init__(self, *, users: dict[str, str]) -> None:
        self.users = dict(users)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="atr-dav-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def htdocs(self) -> Path:
        return self.root / "htdocs"

    def path(self, relative: str) -> Path:
        return self.htdocs / relative

    def access_log(self) -> list[tuple[str, str, int]]:
        """``(method, path, status)`` of every request so far."""
        log = self.root / "logs" / "access.log"
        if not log.exists():
            return []
        out = []
        for line in log.read_text().splitlines():
            method, path, status, _size = line.split(" ")
            out.append((method, path, int(status)))
        return out

    def puts(self, suffix: str) -> int:
        """Successful PUTs (201/204) of paths ending with ``suffix``."""
        return sum(
            1
            for method, path, status in self.access_log()
            if method == "PUT" and path.endswith(suffix) and status in (201, 204)
        )

    def _write_config(self) -> Path:
        for sub in ("htdocs", "logs", "run", "lock"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        htpasswd = self.root / "htpasswd"
        for index, (name, password) in enumerate(self.users.items()):
            flags = "-cbB" if index == 0 else "-bB"
            subprocess.run(
                ["htpasswd", flags, "-C", "4", str(htpasswd), name, password],
                check=True,
                capture_output=True,
            )
        user = ""
        if os.geteuid() == 0:  # Apache will not serve as root: it becomes www-data
            user = "User www-data\nGroup www-data"
            os.chmod(self.root, 0o755)
            htpasswd.chmod(0o644)
            for sub in ("htdocs", "lock"):
                shutil.chown(self.root / sub, "www-data", "www-data")
        config = self.root / "httpd.conf"
        config.write_text(
            _CONFIG.format(root=self.root, host=HOST, port=self.port, modules=MODULES, user=user)
        )
        return config

    def start(self) -> ApacheDav:
        config = self._write_config()
        self.process = subprocess.Popen(
            [APACHE, "-f", str(config), "-DFOREGROUND"],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "logs" / "stderr.log").open("wb"),
            env={**os.environ, "APACHE_RUN_DIR": str(self.root / "run")},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"apache2 exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(self.url + "/", timeout=2)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"apache2 did not answer on {self.url}:\n{self.log()}")

    def log(self) -> str:
        texts = []
        for name in ("stderr.log", "error.log"):
            path = self.root / "logs" / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful stop of the parent and its children
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ApacheDav:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
