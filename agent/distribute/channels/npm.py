"""npm: the registry's publish protocol (the package document with the tarball attached).

A version is published with one ``PUT <registry>/<package>`` (a scoped name's ``/`` as
``%2f``), bearer-token auth, and the JSON document ``npm publish`` sends::

    {"_id": NAME, "name": NAME, "description": …, "dist-tags": {TAG: VERSION},
     "versions": {VERSION: {…the tarball's package.json…, "_id": "NAME@VERSION",
                            "dist": {"integrity": "sha512-<base64>", "shasum": <sha1 hex>,
                                     "tarball": "<registry>/NAME/-/<name>-VERSION.tgz"}}},
     "_attachments": {"NAME-VERSION.tgz": {"content_type": "application/octet-stream",
                                          "data": <base64 of the tarball>, "length": N}}}

The body is streamed (the base64 is made chunk by chunk), never held whole. The release
artifact for npm is the package tarball (a ``.tgz``; the option ``tarball``, a glob,
picks one among several); its ``package.json`` must name the channel's package
(``package``, default the project key) and the release's version.

A production release gets the dist-tag ``latest`` (option ``tag``). A staging publishes
the candidate on the same registry as version ``<version>-rc<N>`` under the dist-tag
``rc`` (option ``staging_tag``), so voters ``npm install <package>@rc``; ``latest`` is
left alone (npmjs gives a brand-new package's first version ``latest`` regardless).

npm refuses every republish of a version, whatever its bytes (npmjs 403 "cannot publish
over the previously published versions", verdaccio 409 "already present"), and its read
API may lag a publish: a refusal is answered by reading the package document
(``GET <registry>/<package>``): the version's ``dist.integrity`` equal to the file's
SHA-512 → published; another → :class:`Conflicting`; not shown yet → retried.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
import tarfile
import uuid
import zlib
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    Conflicting,
    FileToPublish,
    Found,
    PublishContext,
    http_error,
    matches,
)
from agent.distribute.channels.progress import Progress
from shared import __version__
from shared.protocol.distribute import ChannelKind

__all__ = ["Npm", "integrity_sha512", "sha512_integrity"]

USER_AGENT = f"atr-agent/{__version__}"
MAX_MANIFEST = 1 << 20
"""The most bytes of a tarball's package.json read."""
PUBLISH_TIMEOUT = httpx.Timeout(60, read=900)
_CHUNK = 3 << 18
"""Bytes base64-encoded at a time (a multiple of 3: the pieces join into one text)."""
_REFUSALS = ("previously published", "cannot publish over", "already present", "already exist")


def sha512_integrity(sha512_hex: str) -> str:
    """The SRI text (``sha512-<base64>``) of a SHA-512 given in hex."""
    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode("ascii")


def integrity_sha512(integrity: str) -> str | None:
    """The SHA-512 (hex) an SRI text names, if it names one."""
    for item in integrity.split():
        algorithm, _, value = item.partition("-")
        if algorithm.lower() == "sha512":
            try:
                return base64.b64decode(value.split("?", 1)[0], validate=True).hex()
            except (binascii.Error, ValueError):
                return None
    return None


class Npm(Channel):
    """An npm registry (see the module docstring)."""

    kind = ChannelKind.NPM

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        self.registry = ctx.endpoint
        self.package = ctx.settings.package or ctx.project
        self.version = ctx.candidate if ctx.kind == "staging" else ctx.version
        options = ctx.settings.options
        self.tag = (
            options.get("staging_tag", "rc")
            if ctx.kind == "staging"
            else options.get("tag", "latest")
        )
        self._published: dict[str, str] = {}

    @property
    def _escaped(self) -> str:
        if self.package.startswith("@"):
            return quote(self.package, safe="@").replace("%2F", "%2f")
        return quote(self.package, safe="")

    # --- which files, and where --------------------------------------------------------------

    def selects(self, path: str) -> bool:
        """The package tarball: a ``.tgz`` matching the option ``tarball`` (default ``*.tgz``)
        among the channel's ``files`` (its ``.asc`` and ``.sha512`` never go to npm)."""
        name = path.rsplit("/", 1)[-1]
        pattern = self.ctx.settings.options.get("tarball", "*.tgz")
        return (
            name.endswith(".tgz")
            and fnmatch.fnmatchcase(name, pattern)
            and matches(path, self.ctx.settings.files)
        )

    def base(self) -> str:
        return f"{self.registry}/{self.package}"

    def _tarball_url(self) -> str:
        unscoped = self.package.rsplit("/", 1)[-1]
        return f"{self.registry}/{self.package}/-/{unscoped}-{self.version}.tgz"

    def target(self, path: str) -> str:
        return self._tarball_url()

    # --- looking and fetching ------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.ctx.credential is not None and self.ctx.credential.secret:
            headers["Authorization"] = f"Bearer {self.ctx.credential.secret}"
        return headers

    def _version_entry(self) -> dict[str, Any] | None:
        """The package document's entry of this version (``None``: not there, or not yet)."""
        url = f"{self.registry}/{self._escaped}"
        response = self.ctx.http.get(url, headers=self._headers(), follow_redirects=True)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise http_error(f"reading the package document {url}", response, self.ctx)
        try:
            entry = response.json().get("versions", {}).get(self.version)
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ChannelError(
                f"the registry's answer for {url} is not a package document", retryable=True
            ) from exc
        return entry if isinstance(entry, dict) else None

    def lookup(self, file: FileToPublish) -> Found | None:
        entry = self._version_entry()
        if entry is None:
            return None
        dist = entry.get("dist")
        if not isinstance(dist, dict):
            dist = {}
        sha512 = integrity_sha512(str(dist.get("integrity", "")))
        return Found(url=str(dist.get("tarball") or self._tarball_url()), sha512=sha512)

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        found = self.lookup(file)
        if found is None:
            raise ChannelError(
                f"{self.registry} does not show {self.package}@{self.version} (yet)",
                retryable=True,
            )
        return self._download(found.url)

    def _download(self, url: str) -> Iterator[bytes]:
        headers = {"User-Agent": USER_AGENT}
        if urlsplit(url).netloc == urlsplit(self.registry).netloc:
            headers = {**self._headers(), "Accept": "*/*"}
        with self.ctx.http.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if not response.is_success:
                response.read()
                raise http_error(f"downloading {url}", response, self.ctx)
            yield from response.iter_bytes(1 << 20)

    # --- publishing ------------------------------------------------------------------------

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        """One tarball per version; each published once per run (a retried batch skips it)."""
        if len(files) > 1:
            names = ", ".join(f.name for f in files)
            raise ChannelError(
                f"the channel {self.ctx.settings.name!r} selects {len(files)} tarballs "
                f"({names}); an npm version holds exactly one",
                retryable=False,
                hint="name the package tarball with the option 'tarball' or the 'files' globs",
            )
        for file in files:
            if file.path not in self._published:
                self._published[file.path] = self.publish(file)
        return {file.path: self._published[file.path] for file in files}

    def publish(self, file: FileToPublish) -> str:
        manifest = self._manifest(file)
        prefix, suffix = self._document(file, manifest)
        length = len(prefix) + 4 * ((file.size + 2) // 3) + len(suffix)
        url = f"{self.registry}/{self._escaped}"
        self.ctx.log(
            f"publishing {file.name} ({file.size:,} bytes) as {self.package}@{self.version} "
            f"(dist-tag {self.tag}) to {self.registry}"
        )
        response = self.ctx.http.put(
            url,
            content=self._body(file, prefix, suffix),
            headers={
                **self._headers(),
                "Content-Type": "application/json",
                "Content-Length": str(length),
            },
            timeout=PUBLISH_TIMEOUT,
        )
        if response.is_success:
            found = self._lookup_quietly(file)
            return found.url if found is not None else self._tarball_url()
        text = response.text.lower()
        if response.status_code == 409 or (
            response.status_code in (400, 403) and any(r in text for r in _REFUSALS)
        ):
            return self._already_there(file, response)
        raise http_error(f"publishing {self.package}@{self.version} to {url}", response, self.ctx)

    def _lookup_quietly(self, file: FileToPublish) -> Found | None:
        try:
            return self.lookup(file)
        except (ChannelError, httpx.HTTPError):
            return None

    def _already_there(self, file: FileToPublish, response: httpx.Response) -> str:
        said = http_error(f"publishing {self.package}@{self.version}", response, self.ctx).message
        found = self.lookup(file)
        if found is None:
            raise ChannelError(
                f"{said}; yet {self.registry} does not show {self.package}@{self.version} "
                "(its read side may lag its write side)",
                retryable=True,
            )
        if found.sha512 is None:
            raise Conflicting(
                f"{said}; the registry shows {self.package}@{self.version} without a SHA-512 "
                "integrity: it was published by something else",
            )
        if found.sha512.lower() != file.sha512.lower():
            raise Conflicting(
                f"{said}; {self.package}@{self.version} holds another tarball than "
                f"{file.path} (its SHA-512 differs): an npm version never changes",
                hint="publish a new version instead",
            )
        self.ctx.log(f"{self.package}@{self.version}: the registry holds these bytes already")
        return found.url

    def _manifest(self, file: FileToPublish) -> dict[str, Any]:
        """The tarball's ``package.json``, checked against the channel and the release."""
        manifest = _package_json(file)
        name, version = manifest.get("name"), manifest.get("version")
        if name != self.package:
            raise ChannelError(
                f"{file.name} is the npm package {name!r}; the channel "
                f"{self.ctx.settings.name!r} publishes {self.package!r}",
                retryable=False,
                hint="set the channel's 'package' to the name in package.json",
            )
        if version != self.ctx.version:
            raise ChannelError(
                f"{file.name} has version {version!r} in its package.json; the release is "
                f"{self.ctx.version!r}",
                retryable=False,
            )
        if manifest.get("private") is True:
            raise ChannelError(
                f"{file.name} is marked private in its package.json: npm never publishes it",
                retryable=False,
            )
        return manifest

    def _document(self, file: FileToPublish, manifest: dict[str, Any]) -> tuple[bytes, bytes]:
        """The package document as the JSON text before and after the base64 tarball."""
        sha1 = hashlib.sha1(usedforsecurity=False)
        for chunk in file.chunks():
            sha1.update(chunk)
        entry = {
            **manifest,
            "version": self.version,
            "_id": f"{self.package}@{self.version}",
            "dist": {
                "integrity": sha512_integrity(file.sha512),
                "shasum": sha1.hexdigest(),
                "tarball": self._tarball_url(),
            },
        }
        marker = f"atr-tarball-{uuid.uuid4().hex}"
        document: dict[str, Any] = {
            "_id": self.package,
            "name": self.package,
            "description": str(manifest.get("description", "")),
            "dist-tags": {self.tag: self.version},
            "versions": {self.version: entry},
        }
        access = self.ctx.settings.options.get("access")
        if access:
            document["access"] = access
        document["_attachments"] = {
            f"{self.package}-{self.version}.tgz": {
                "content_type": "application/octet-stream",
                "data": marker,
                "length": file.size,
            }
        }
        head, _, tail = json.dumps(document).partition(f'"{marker}"')
        return (head + '"').encode(), ('"' + tail).encode()

    def _body(self, file: FileToPublish, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
        yield prefix
        report = Progress(self.ctx.progress, file.path, file.size)
        done = 0
        carry = b""
        with file.blob.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                done += len(chunk)
                data = carry + chunk
                cut = len(data) - len(data) % 3
                carry = data[cut:]
                yield base64.b64encode(data[:cut])
                report(done)
        if carry:
            yield base64.b64encode(carry)
        yield suffix


def _package_json(file: FileToPublish) -> dict[str, Any]:
    """The ``package.json`` in the tarball's top folder (``package/`` as ``npm pack`` makes)."""
    try:
        with tarfile.open(file.blob, mode="r|gz") as tar:
            for member in tar:
                parts = member.name.removeprefix("./").split("/")
                if len(parts) == 2 and parts[1] == "package.json" and member.isfile():
                    extracted = tar.extractfile(member)
                    if extracted is None or member.size > MAX_MANIFEST:
                        break
                    loaded = json.loads(extracted.read())
                    if not isinstance(loaded, dict):
                        break
                    return loaded
    except (OSError, EOFError, zlib.error, tarfile.TarError, ValueError) as exc:
        raise ChannelError(
            f"{file.name} cannot be read as a package: {exc}", retryable=False
        ) from exc
    raise ChannelError(
        f"{file.name} holds no package.json object in its top folder: not an npm package",
        retryable=False,
    )
