"""Helpers for channel adapter tests: release files, a context, a scripted HTTP transport,
and :func:`drive`, which runs an adapter the way the runner does (without a database).

    files = maven_files(tmp_path)                       # jar, pom and their .asc
    ctx = context(settings, kind="production", http=httpx.Client(transport=...))
    result = drive(SomeChannel(ctx), files)             # looked, published, finished, verified
"""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from agent.distribute.channels.base import (
    Channel,
    FileToPublish,
    Found,
    PublishContext,
    Secret,
    sha512_of_chunks,
)
from shared.protocol.distribute import ChannelSettings

__all__ = [
    "GROUP_DIR",
    "SECRET",
    "USER",
    "Driven",
    "Script",
    "context",
    "drive",
    "file_at",
    "file_from",
    "maven_files",
    "pom",
    "tiny_jar",
]

USER = "deployer"
SECRET = "s3cret-Pa55/word+?&"
"""A secret with characters that change when URL-encoded (redaction must catch both)."""
GROUP_DIR = "maven/org/apache/acme/acme-lib/1.0.0"


def file_from(folder: Path, path: str, data: bytes) -> FileToPublish:
    """A release file whose blob holds ``data``."""
    folder.mkdir(parents=True, exist_ok=True)
    blob = folder / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    return FileToPublish(
        path=path,
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        blob=blob,
    )


def file_at(path: Path) -> FileToPublish:
    """The release file ``path.name`` whose blob is ``path`` itself."""
    data = path.read_bytes()
    return FileToPublish(
        path=path.name,
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        blob=path,
    )


def tiny_jar(version: str = "1.0.0", *, padding: int = 0) -> bytes:
    """A small real jar (a zip with a manifest and a class-like entry)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as jar:
        jar.writestr(
            "META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\nImplementation-Version: {version}\n"
        )
        jar.writestr("org/apache/acme/Main.class", b"\xca\xfe\xba\xbe" + version.encode())
        if padding:  # incompressible, so a bundle of it is as large
            jar.writestr("padding.bin", random.Random(version).randbytes(padding))
    return out.getvalue()


def pom(version: str = "1.0.0") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<project><modelVersion>4.0.0</modelVersion>'
        f"<groupId>org.apache.acme</groupId><artifactId>acme-lib</artifactId>"
        f"<version>{version}</version><packaging>jar</packaging></project>\n"
    ).encode()


def maven_files(
    folder: Path,
    version: str = "1.0.0",
    *,
    padding: int = 0,
    sign: Callable[[bytes], str] | None = None,
) -> list[FileToPublish]:
    """The jar, the POM and their ``.asc`` under the Maven layout of the release."""
    base = GROUP_DIR.replace("1.0.0", version)
    jar, descriptor = tiny_jar(version, padding=padding), pom(version)

    def signature(data: bytes) -> bytes:
        if sign is not None:
            return sign(data).encode()
        return b"-----BEGIN PGP SIGNATURE-----\n" + hashlib.sha256(data).hexdigest().encode()

    return [
        file_from(folder, f"{base}/acme-lib-{version}.jar", jar),
        file_from(folder, f"{base}/acme-lib-{version}.jar.asc", signature(jar)),
        file_from(folder, f"{base}/acme-lib-{version}.pom", descriptor),
        file_from(folder, f"{base}/acme-lib-{version}.pom.asc", signature(descriptor)),
    ]


def context(
    settings: ChannelSettings,
    *,
    kind: Literal["staging", "production"] = "production",
    http: httpx.Client | None = None,
    rc: int | None = None,
    credential: Secret | None = None,
    log: list[str] | None = None,
    recorded: dict[str, str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    project_name: str = "Apache Acme",
) -> PublishContext:
    lines = log if log is not None else []
    return PublishContext(
        kind=kind,
        project="acme-lib",
        project_name=project_name,
        version="1.0.0",
        rc=rc if rc is not None else (1 if kind == "staging" else None),
        settings=settings,
        http=http or httpx.Client(timeout=30),
        credential=credential if credential is not None else Secret(USER, SECRET),
        log=lines.append,
        progress=progress or (lambda _path, _done, _total: None),
        recorded=dict(recorded or {}),
    )


@dataclass
class Driven:
    urls: dict[str, str] = field(default_factory=dict)
    found: dict[str, Found] = field(default_factory=dict)
    uploaded: list[str] = field(default_factory=list)


def drive(adapter: Channel, files: Sequence[FileToPublish]) -> Driven:
    """Look, publish what is missing, finish, download back: the runner's order, in memory.
    Raises what the adapter raises; asserts the bytes compare as the runner would."""
    out = Driven()
    mine = [f for f in files if adapter.selects(f.path)]
    missing = []
    for file in mine:
        found = adapter.lookup(file)
        if found is None:
            missing.append(file)
            continue
        if found.sha512 is not None:
            same = found.sha512 == file.sha512
        elif found.sha256 is not None:
            same = found.sha256 == file.sha256
        else:
            same = sha512_of_chunks(adapter.fetch(file))[0] == file.sha512
        assert same, f"{found.url} holds other bytes than {file.path}"
        out.found[file.path] = found
        out.urls[file.path] = found.url
    if missing:
        out.urls.update(adapter.publish_many(missing))
        out.uploaded = [f.path for f in missing]
    adapter.finish()
    for file in mine:
        digest, _ = sha512_of_chunks(adapter.fetch(file))
        assert digest == file.sha512, f"{file.path} did not come back with its bytes"
    return out


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Script:
    """A MockTransport that answers by ``(METHOD, path)`` handlers and records requests.

    ``on("PUT", "/x.jar", handler)``; a handler may be a response, or a list of them (used
    in turn, the last one repeated)."""

    routes: dict[tuple[str, str], list[httpx.Response] | Handler] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    default: int = 404

    def on(
        self, method: str, path: str, answer: httpx.Response | list[httpx.Response] | Handler
    ) -> Script:
        self.routes[(method, path)] = [answer] if isinstance(answer, httpx.Response) else answer
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(self.default)
        if callable(answer):
            return answer(request)
        return answer.pop(0) if len(answer) > 1 else answer[0]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def calls(self, method: str | None = None) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests if method in (None, r.method)]
