"""What the Maven channels share: the repository layout inside a release, checksums, HTTP.

A release carries its Maven artifacts as files under a Maven repository layout, below a
prefix (the channel option ``prefix``, default ``maven/``)::

    maven/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar
    maven/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar.asc     signed by the RM
    maven/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.pom
    maven/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.pom.asc

The path below the prefix is the path in the repository. Maven's repository format wants a
``.sha1`` and an ``.md5`` beside each file; the adapters compute and deploy them. Signature
files get none, as Maven Resolver does by default (``aether.checksums.omitChecksumsForExtensions``
is ``.asc,.sigstore,.sigstore.json``) and as the Central Portal's bundle layout shows.

:class:`PutDeployer` is the HTTP PUT deploy the plain Maven repository and the Nexus staging
repository share: the checksum files first, then the file, so a file that is there always
has its checksums; each target is asked before it is written, so a repeat writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import httpx

from agent.distribute.channels.base import (
    ChannelError,
    Conflicting,
    FileToPublish,
    PublishContext,
    http_error,
)
from shared.errors import ValidationError

__all__ = [
    "CHECKSUMS",
    "Coordinates",
    "Digests",
    "Layout",
    "PutDeployer",
    "auth_headers",
    "check",
    "coordinates",
    "digests_of",
    "option_float",
    "stream_get",
    "wants_checksums",
]

CHECKSUMS = ("sha1", "md5")
"""The checksum files deployed beside each file (Maven's repository format)."""
SIGNATURE_SUFFIXES = (".asc", ".sigstore", ".sigstore.json")
CHECKSUM_SUFFIXES = (".md5", ".sha1", ".sha256", ".sha512")


def wants_checksums(repo_path: str) -> bool:
    """Whether the file gets a ``.sha1`` and an ``.md5`` (not signatures, not checksums)."""
    return not repo_path.endswith(SIGNATURE_SUFFIXES + CHECKSUM_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Coordinates:
    """The component a repository path belongs to."""

    group_id: str
    artifact_id: str
    version: str

    @property
    def purl(self) -> str:
        return f"pkg:maven/{self.group_id}/{self.artifact_id}@{self.version}"

    def __str__(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"


def coordinates(repo_path: str) -> Coordinates:
    """The group, artifact and version of ``group/as/dirs/artifact/version/file``."""
    parts = repo_path.split("/")
    if len(parts) < 4 or not all(parts):
        raise ChannelError(
            f"{repo_path!r} is not a path of a Maven repository layout "
            "(group/dirs/artifactId/version/file)",
            retryable=False,
            hint="put the Maven artifacts of the release under the channel's prefix, in the "
            "layout of a Maven repository",
        )
    *group, artifact, version, name = parts
    if not name.startswith(f"{artifact}-{version}"):
        raise ChannelError(
            f"{repo_path!r}: the file name does not start with '{artifact}-{version}' as its "
            "folders say it should",
            retryable=False,
        )
    return Coordinates(".".join(group), artifact, version)


class Layout:
    """Which release paths are repository paths (the channel option ``prefix``)."""

    def __init__(self, options: dict[str, str]) -> None:
        prefix = options.get("prefix", "maven/").strip("/")
        self.prefix = f"{prefix}/" if prefix else ""

    def holds(self, path: str) -> bool:
        return path.startswith(self.prefix) and len(path) > len(self.prefix)

    def repo_path(self, path: str) -> str:
        if not self.holds(path):
            raise ChannelError(
                f"{path} is not under the channel's Maven prefix {self.prefix!r}",
                retryable=False,
            )
        return path[len(self.prefix) :]

    def url(self, root: str, path: str) -> str:
        """The URL of release path ``path`` in the repository at ``root``."""
        return f"{root}/{quote(self.repo_path(path))}"


@dataclass(frozen=True, slots=True)
class Digests:
    sha1: str
    md5: str

    def of(self, algorithm: str) -> str:
        return self.sha1 if algorithm == "sha1" else self.md5


@lru_cache(maxsize=1024)
def _digests(blob: Path, sha512: str) -> Digests:
    sha1 = hashlib.sha1(usedforsecurity=False)
    md5 = hashlib.md5(usedforsecurity=False)
    with blob.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha1.update(chunk)
            md5.update(chunk)
    return Digests(sha1.hexdigest(), md5.hexdigest())


def digests_of(file: FileToPublish) -> Digests:
    """The SHA-1 and MD5 of a file (streamed once per blob, then remembered a while)."""
    return _digests(file.blob, file.sha512)


def option_float(options: dict[str, str], name: str, default: float) -> float:
    text = options.get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"the channel option {name}={text!r} is not a number") from None


def auth_headers(ctx: PublishContext) -> dict[str, str]:
    """HTTP Basic with a user name, else the secret as a bearer token (none: anonymous)."""
    cred = ctx.credential
    if cred is None or not cred.secret:
        return {}
    if cred.username:
        token = base64.b64encode(f"{cred.username}:{cred.secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {"Authorization": f"Bearer {cred.secret}"}


def check(response: httpx.Response, what: str, ctx: PublishContext, *ok: int) -> httpx.Response:
    """``response`` if its status is one of ``ok`` (any 2xx when none given), else the error."""
    good = response.status_code in ok if ok else response.is_success
    if not good:
        response.read()
        raise http_error(what, response, ctx)
    return response


def stream_get(ctx: PublishContext, url: str, *, headers: dict[str, str]) -> Iterator[bytes]:
    """The bytes at ``url``, streamed (a :class:`ChannelError` if the server says no)."""
    with ctx.http.stream("GET", url, headers=headers) as response:
        check(response, f"download {url}", ctx, 200)
        yield from response.iter_bytes(1 << 20)


def _body(file: FileToPublish, ctx: PublishContext) -> Iterator[bytes]:
    done = 0
    ctx.progress(file.path, 0, file.size)
    for chunk in file.chunks():
        yield chunk
        done += len(chunk)
        ctx.progress(file.path, done, file.size)


def put_file(
    ctx: PublishContext, url: str, file: FileToPublish, headers: dict[str, str]
) -> httpx.Response:
    """PUT the file's bytes to ``url``, streamed from the blob store (progress reported)."""
    return ctx.http.put(
        url,
        content=_body(file, ctx),
        headers={**headers, "Content-Length": str(file.size),
                 "Content-Type": "application/octet-stream"},
    )  # fmt: skip


class PutDeployer:
    """Deploy files with HTTP PUT, never overwriting (see the module docstring).

    ``webdav``: the server is a WebDAV server: create missing folders (``MKCOL``) and ask
    it to refuse an existing name (``If-None-Match: *``). A target written once by this
    deployer is not asked again, so a retried ``publish_many`` skips what got through."""

    def __init__(self, ctx: PublishContext, *, webdav: bool) -> None:
        self.ctx = ctx
        self.webdav = webdav
        self.written: set[str] = set()
        """Targets this deployer wrote or found holding the right bytes."""
        self._tried: set[str] = set()
        self._folders: set[str] = set()

    @property
    def headers(self) -> dict[str, str]:
        """The credential's headers (read when used: the runner sets it after construction)."""
        return auth_headers(self.ctx)

    # --- reading ---------------------------------------------------------------------------

    def exists(self, url: str) -> bool:
        response = self.ctx.http.head(url, headers=self.headers)
        if response.status_code in (404, 410):
            return False
        check(response, f"look for {url}", self.ctx, 200, 204)
        return True

    def text(self, url: str) -> str | None:
        response = self.ctx.http.get(url, headers=self.headers)
        if response.status_code in (404, 410):
            return None
        return check(response, f"read {url}", self.ctx, 200).text

    def same_bytes(self, url: str, file: FileToPublish) -> bool:
        digest = hashlib.sha512()
        for chunk in stream_get(self.ctx, url, headers=self.headers):
            digest.update(chunk)
        return digest.hexdigest() == file.sha512

    # --- writing ---------------------------------------------------------------------------

    def deploy(
        self, url: str, file: FileToPublish, repo_path: str, *, read: str | None = None
    ) -> None:
        """The checksum files (when the file wants them), then the file itself. ``read``: where
        the file is read back, when that is not ``url`` (Nexus deploys and serves apart)."""
        if wants_checksums(repo_path):
            sums = digests_of(file)
            for algorithm in CHECKSUMS:
                self.put_checksum(
                    f"{url}.{algorithm}", sums.of(algorithm), file,
                    read=f"{read or url}.{algorithm}",
                )  # fmt: skip
        self.put(url, file, read=read or url)

    def put_checksum(self, url: str, value: str, file: FileToPublish, *, read: str) -> None:
        if url in self.written:
            return
        there = self.text(read)
        if there is not None:
            held = (there.split() or [""])[0].lower()
            if held != value:
                raise Conflicting(
                    f"{url} holds the checksum {held[:40]!r}, not {file.path}'s {value}: "
                    "refusing to overwrite it",
                    hint="a file of that name was deployed before with other bytes; a "
                    "release never changes once published",
                )
            self.written.add(url)
            return
        self._write(url, value.encode(), what=f"deploy {url}")
        self.written.add(url)

    def put(self, url: str, file: FileToPublish, *, read: str) -> None:
        if url in self.written:
            return
        if url in self._tried and self.exists(read):
            # an earlier try of this deployer may have got through before its answer was lost
            if not self.same_bytes(read, file):
                raise Conflicting(f"{read} holds other bytes than {file.path}: not overwritten")
            self.written.add(url)
            return
        self._tried.add(url)
        self.ctx.log(f"uploading {file.path} ({file.size:,} bytes) to {url}")
        self._write(url, file, what=f"deploy {file.path} to {url}")
        self.written.add(url)

    def _write(self, url: str, data: bytes | FileToPublish, *, what: str) -> None:
        def send() -> httpx.Response:
            headers = dict(self.headers)
            if self.webdav:
                headers["If-None-Match"] = "*"
            if isinstance(data, FileToPublish):
                return put_file(self.ctx, url, data, headers)
            return self.ctx.http.put(url, content=data, headers=headers)

        response = send()
        if response.status_code == 409 and self.webdav:
            self._make_folders(url)
            response = send()
        if response.status_code == 412:
            self._already_there(url, data)
            return
        check(response, what, self.ctx, 200, 201, 204)

    def _already_there(self, url: str, data: bytes | FileToPublish) -> None:
        """The server refused the PUT because the name exists: fine if it holds our bytes."""
        if isinstance(data, FileToPublish):
            same = self.same_bytes(url, data)
        else:
            same = (self.text(url) or "").split()[:1] == data.decode().split()[:1]
        if not same:
            raise Conflicting(f"{url} appeared meanwhile with other bytes: not overwritten")

    def _make_folders(self, url: str) -> None:
        """``MKCOL`` each missing folder from the channel's root (itself included) to ``url``."""
        root = self.ctx.endpoint
        if not url.startswith(root + "/"):
            return
        parts = url[len(root) + 1 :].split("/")[:-1]
        for depth in range(len(parts) + 1):
            folder = "/".join([root, *parts[:depth]]) + "/"
            if folder in self._folders:
                continue
            response = self.ctx.http.request("MKCOL", folder, headers=self.headers)
            # 201 made; 405 there already (RFC 4918 9.3.1)
            check(response, f"create the folder {folder}", self.ctx, 200, 201, 204, 405)
            self._folders.add(folder)
