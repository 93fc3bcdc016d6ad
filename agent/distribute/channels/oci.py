"""An OCI registry (Docker Hub, a distribution registry, …): the OCI distribution API.

The release ships each image as an OCI image layout archive (``*.oci.tar``, read by
:mod:`agent.distribute.channels.oci_layout`); the channel pushes it to the repository
``package`` of the registry ``url`` and tags it::

    production   <version>            (option latest=true: also ``latest``, see below)
    staging      <version>-rc<N>      on the same registry (or staging_url)

Pushing is the distribution API (distribution-spec ``spec.md``), children before parents::

    HEAD /v2/<name>/blobs/<digest>                     200: there already, skipped
    POST /v2/<name>/blobs/uploads/                     202, Location
    PUT  <location>?digest=<digest>                    the blob in one request, or
    PATCH <location>  (Content-Range a-b) …  PUT       in chunks (blobs over chunk_size)
    PUT  /v2/<name>/manifests/<digest>                 child manifests of an index
    PUT  /v2/<name>/manifests/latest                   (when asked for, and not older)
    PUT  /v2/<name>/manifests/<tag>                    last: the tag is the commit point

Every body is streamed from the archive with its ``Content-Length``; nothing larger than a
manifest is held in memory.

**Is it there?** ``HEAD /v2/<name>/manifests/<tag>``: ``Docker-Content-Digest`` equal to the
digest of the archive's tagged manifest → there (a manifest digest covers every byte of the
image); another digest → :class:`Conflicting`, the tag is never moved.

**Verify** (:meth:`OciRegistry.fetch`): the runner hashes what ``fetch`` yields and compares
it with the archive's SHA-512. ``fetch`` first checks the tag still names the manifest, then
yields the archive rebuilt around what the registry serves: the tar framing (headers,
padding, ``oci-layout``, ``index.json`` unless it is the pushed index, members not pushed)
is copied from the voted archive, and the data of every pushed member — the manifests,
the config, each layer — is downloaded from the registry (``GET /v2/<name>/blobs/<digest>``,
``GET /v2/<name>/manifests/<digest>``), each checked against its digest and size on the way.
A byte the registry serves differently changes the SHA-512.

**Auth**: the registry's challenge decides. ``WWW-Authenticate: Bearer realm=…,service=…``
(Docker Hub): a token from the realm for ``repository:<name>:pull,push``, asked with the
credential (HTTP basic) when there is one, anonymously otherwise; ``Basic``: the credential.
The ``Authorization`` header goes to the registry's own origin only (an upload location or
a blob redirect elsewhere gets none), and the credential goes to a token realm on another
host only over HTTPS.

**Errors** carry the registry's own text (:func:`~agent.distribute.channels.base.http_error`:
5xx and 429 retryable, other 4xx not); a ``HEAD`` answer has no body, so a failed ``HEAD`` is
asked again as ``GET`` for the words.

Options (``ChannelSettings.options``): ``latest`` (``true``: also tag ``latest`` — unless the
repository holds a newer final version tag), ``ref`` (which entry of ``index.json`` to push,
by its ``org.opencontainers.image.ref.name``), ``chunk_size`` (bytes; default 16 MiB).

Labels: an ASF image is a convenience binary; it should say so with the
``org.opencontainers.image.*`` annotations or labels. The channel never adds them (that
would change the digest the vote passed on): it logs the ones missing, and a ``version``
that is not the release's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
from packaging.version import InvalidVersion
from packaging.version import Version as PepVersion

from agent.distribute.channels.base import (
    CHUNK,
    Channel,
    ChannelError,
    Conflicting,
    FileToPublish,
    Found,
    PublishContext,
    http_error,
    matches,
)
from agent.distribute.channels.oci_layout import (
    MANIFEST_TYPES,
    RECOMMENDED_LABELS,
    Image,
    Layout,
    Push,
)
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind

__all__ = ["DEFAULT_FILES", "OciRegistry", "OciSettingsError", "registry_endpoint"]

DEFAULT_FILES = ("*.oci.tar",)
"""What the channel takes when its ``files`` are left at the default ``*``."""
DEFAULT_CHUNK = 16 << 20
MIN_CHUNK = 64 << 10
DOCKER_HUB = "https://registry-1.docker.io"
_DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io",
                               "registry.hub.docker.com", "hub.docker.com"})  # fmt: skip
_NAME = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_ACCEPT = ", ".join(sorted(MANIFEST_TYPES))
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]*))')
_PROGRESS_SECONDS = 0.5


class OciSettingsError(ChannelError, ValidationError):
    """The channel's settings cannot work (a 400 when planning; never retried when publishing)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


def registry_endpoint(url: str) -> tuple[str, str]:
    """The registry's API base URL and the host name people pull from, for a channel ``url``
    (``docker.io`` and its aliases are Docker Hub: ``https://registry-1.docker.io``)."""
    text = url.strip().rstrip("/")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OciSettingsError(f"{url!r} is not a registry URL", hint="e.g. https://ghcr.io")
    if parts.path not in ("", "/v2"):
        raise OciSettingsError(
            f"the registry URL {url!r} has a path; the image name belongs in 'package'"
        )
    if parts.hostname in _DOCKER_HUB_NAMES:
        return DOCKER_HUB, "docker.io"
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {m[0].lower(): m[1] or m[2] for m in _PARAM.findall(rest)}
    return scheme.lower(), params


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _read(fh: BinaryIO, start: int, length: int | None) -> Iterator[bytes]:
    """``length`` bytes of ``fh`` from ``start`` (``None``: to its end), in chunks."""
    fh.seek(start)
    left = length
    while left is None or left > 0:
        chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
        if not chunk:
            if left:
                raise ChannelError(f"{fh.name} ended early", retryable=False)
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


Body = Callable[[], bytes | Iterable[bytes]]
"""A request body that can be made again (a request is sent twice when the registry asks
for credentials first)."""


class _Registry:
    """The distribution API of one repository, answering the registry's auth challenges."""

    def __init__(self, ctx: PublishContext, base: str, name: str) -> None:
        self.ctx = ctx
        self.base = httpx.URL(base)
        self.name = name
        self._authorization: str | None = None

    def url(self, path: str) -> str:
        return f"{self.base}/v2/{self.name}/{path}"

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        stream: bool = False,
        follow: bool = False,
    ) -> httpx.Response:
        """One request, answered (once) with credentials if the registry asks for them."""
        target = httpx.URL(url)
        for attempt in (1, 2):
            sent = dict(headers or {})
            if self._authorization and _same_origin(target, self.base):
                sent["Authorization"] = self._authorization
            request = self.ctx.http.build_request(
                method, target, headers=sent, content=None if body is None else body()
            )
            response = self.ctx.http.send(request, stream=stream, follow_redirects=follow)
            if response.status_code != 401 or attempt == 2:
                return response
            response.read()
            if not self._authenticate(response):
                return response
            response.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _authenticate(self, response: httpx.Response) -> bool:
        """Answer a 401's challenge; whether the request is worth sending again."""
        header = response.headers.get("WWW-Authenticate", "")
        scheme, params = _challenge(header)
        credential = self.ctx.credential
        if scheme == "basic":
            if credential is None or (self._authorization or "").startswith("Basic "):
                return False
            pair = f"{credential.username}:{credential.secret}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
            return True
        if scheme == "bearer" and params.get("realm"):
            self._authorization = "Bearer " + self._token(params)
            return True
        return False

    def _token(self, params: dict[str, str]) -> str:
        """A bearer token from the challenge's realm (the token flow of Docker Hub & co.)."""
        realm = httpx.URL(params["realm"])
        if realm.scheme not in ("http", "https"):
            raise ChannelError(f"the registry's token realm {realm} is not HTTP", retryable=False)
        scopes = [f"repository:{self.name}:pull,push"]
        if params.get("scope") and not params["scope"].startswith(f"repository:{self.name}:"):
            scopes.append(params["scope"])
        query: list[tuple[str, str | int | float | bool | None]] = [("scope", s) for s in scopes]
        if params.get("service"):
            query.insert(0, ("service", params["service"]))
        query.append(("client_id", "atr-agent"))
        headers = {}
        credential = self.ctx.credential
        if credential is not None:
            if realm.scheme != "https" and realm.host != self.base.host:
                raise ChannelError(
                    f"the registry's token service {realm} is plain HTTP on another host: "
                    "the credential is not sent there",
                    retryable=False,
                    hint="use the registry's HTTPS address",
                )
            pair = f"{credential.username}:{credential.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        response = self.ctx.http.get(realm, params=query, headers=headers)
        if response.status_code != 200:
            raise http_error(f"getting a token from {realm.host}", response, self.ctx)
        try:
            doc = response.json()
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ChannelError(f"the token service {realm.host} answered no token", retryable=True)
        return token

    # --- the calls ------------------------------------------------------------------------------

    def _error(self, what: str, head: httpx.Response, headers: dict[str, str]) -> ChannelError:
        """The error of a failed HEAD, in the registry's words: a HEAD answer has no body, so
        the same request is made as a GET, for its text."""
        response = self.send("GET", str(head.request.url), headers=headers, stream=True)
        try:
            if response.is_error:
                response.read()
                return http_error(what, response, self.ctx)
        finally:
            response.close()
        return http_error(what, head, self.ctx)

    def manifest_digest(self, reference: str) -> str | None:
        """The digest of the manifest ``reference`` (a tag or a digest) names; ``None``: none."""
        url, headers = self.url(f"manifests/{reference}"), {"Accept": _ACCEPT}
        response = self.send("HEAD", url, headers=headers)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error(f"HEAD {self.name}:{reference}", response, headers)
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return str(digest)
        response = self.send("GET", url, headers=headers)
        if response.status_code != 200:
            raise http_error(f"GET {self.name}:{reference}", response, self.ctx)
        return f"sha256:{hashlib.sha256(response.content).hexdigest()}"

    def has_blob(self, digest: str) -> bool:
        response = self.send("HEAD", self.url(f"blobs/{digest}"), follow=True)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._error(f"HEAD blob {digest}", response, {})

    def _location(self, response: httpx.Response, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise ChannelError(f"{what}: the registry answered no Location", retryable=True)
        return str(response.request.url.join(location))

    def upload(
        self,
        layout: Layout,
        push: Push,
        chunk_size: int,
        progress: Callable[[int], None],
    ) -> None:
        """Upload one blob from the archive: one PUT, or PATCHes of ``chunk_size`` then a PUT."""
        what = f"uploading blob {push.digest}"
        response = self.send("POST", self.url("blobs/uploads/"), body=lambda: b"")
        if response.status_code != 202:
            raise http_error(what, response, self.ctx)
        location = self._location(response, what)
        minimum = response.headers.get("OCI-Chunk-Min-Length", "")
        if minimum.isdigit():
            chunk_size = max(chunk_size, int(minimum))
        octets = {"Content-Type": "application/octet-stream"}
        if push.size > chunk_size:
            for start in range(0, push.size, chunk_size):
                length = min(chunk_size, push.size - start)
                response = self.send(
                    "PATCH", location,
                    headers={**octets, "Content-Length": str(length),
                             "Content-Range": f"{start}-{start + length - 1}"},
                    body=self._body(layout, push.digest, start, length, progress),
                )  # fmt: skip
                if response.status_code != 202:
                    raise http_error(f"{what} (bytes {start:,}…)", response, self.ctx)
                location = self._location(response, what)
            final: Body = lambda: b""  # noqa: E731
            size = 0
        else:
            final = self._body(layout, push.digest, 0, push.size, progress)
            size = push.size
        url = httpx.URL(location).copy_merge_params({"digest": push.digest})
        response = self.send(
            "PUT", str(url), headers={**octets, "Content-Length": str(size)}, body=final
        )
        if response.status_code not in (201, 204):
            raise http_error(what, response, self.ctx)

    @staticmethod
    def _body(
        layout: Layout, digest: str, start: int, length: int, progress: Callable[[int], None]
    ) -> Body:
        def chunks() -> Iterator[bytes]:
            sent = 0
            for chunk in layout.stream(digest, start, length):
                sent += len(chunk)
                progress(len(chunk))
                yield chunk
            if sent != length:  # pragma: no cover - stream() raises first
                raise ChannelError(f"{digest} ended early", retryable=False)

        return chunks

    def put_manifest(self, reference: str, media_type: str, body: bytes) -> str:
        """PUT a manifest under ``reference`` (a tag or its digest); the digest the registry
        gives it."""
        response = self.send(
            "PUT",
            self.url(f"manifests/{reference}"),
            headers={"Content-Type": media_type},
            body=lambda: body,
        )
        if response.status_code not in (200, 201):
            raise http_error(f"PUT {self.name}:{reference}", response, self.ctx)
        return str(response.headers.get("Docker-Content-Digest", ""))

    def tags(self) -> list[str]:
        """Every tag of the repository (following the ``Link`` pages)."""
        url: str | None = self.url("tags/list?n=1000")
        found: list[str] = []
        for _page in range(100):
            if url is None:
                break
            response = self.send("GET", url)
            if response.status_code == 404:
                return found
            if response.status_code != 200:
                raise http_error(f"listing the tags of {self.name}", response, self.ctx)
            try:
                tags = response.json().get("tags") or []
            except (ValueError, AttributeError):
                raise ChannelError(
                    f"the tag list of {self.name} is not JSON", retryable=True
                ) from None
            found += [str(t) for t in tags]
            link = response.links.get("next", {}).get("url")
            url = str(response.request.url.join(link)) if link else None
        return found

    def download(self, push: Push) -> Iterator[bytes]:
        """The registry's bytes of a pushed blob or manifest, checked against its digest."""
        if push.kind == "manifest":
            url, headers = self.url(f"manifests/{push.digest}"), {"Accept": _ACCEPT}
        else:
            url, headers = self.url(f"blobs/{push.digest}"), {}
        algorithm = push.digest.split(":", 1)[0]
        digest = hashlib.new(algorithm)
        size = 0
        response = self.send("GET", url, headers=headers, stream=True, follow=True)
        try:
            if response.status_code != 200:
                response.read()
                raise http_error(f"downloading {push.digest}", response, self.ctx)
            for chunk in response.iter_bytes(CHUNK):
                size += len(chunk)
                if size > push.size:
                    break
                digest.update(chunk)
                yield chunk
        finally:
            response.close()
        served = f"{algorithm}:{digest.hexdigest()}"
        if size != push.size or served != push.digest:
            raise ChannelError(
                f"the registry serves {push.digest} as {size:,}{'+' if size > push.size else ''} "
                f"bytes with digest {served}, not {push.size:,} bytes",
                retryable=False,
            )


class OciRegistry(Channel):
    """An OCI registry (see the module docstring)."""

    kind = ChannelKind.OCI

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        self._layouts: dict[str, tuple[Layout, Image]] = {}
        self._api: _Registry | None = None

    # --- settings -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> tuple[str, str]:
        return registry_endpoint(self.ctx.endpoint)

    @property
    def name(self) -> str:
        name = self.ctx.settings.package.strip()
        if not name:
            raise OciSettingsError(
                f"the OCI channel {self.ctx.settings.name!r} names no image",
                hint="set its 'package' to the repository, e.g. apache/acme",
            )
        if not _NAME.fullmatch(name):
            raise OciSettingsError(
                f"{name!r} is not an OCI repository name",
                hint="lower-case path components of letters and digits, separated by '.', "
                "'_' or '-' (e.g. apache/acme)",
            )
        return name

    @property
    def tag(self) -> str:
        tag = self.ctx.candidate if self.ctx.kind == "staging" else self.ctx.version
        if not _TAG.fullmatch(tag):
            raise OciSettingsError(
                f"{tag!r} cannot be an OCI tag",
                hint="a tag is up to 128 letters, digits, '_', '.' and '-'",
            )
        return tag

    def _option(self, key: str) -> str:
        return self.ctx.settings.options.get(key, "").strip()

    @property
    def chunk_size(self) -> int:
        text = self._option("chunk_size")
        if not text:
            return DEFAULT_CHUNK
        if not text.isdigit() or int(text) < MIN_CHUNK:
            raise OciSettingsError(
                f"the option chunk_size={text!r} is not a number of bytes ≥ {MIN_CHUNK}"
            )
        return int(text)

    @property
    def moves_latest(self) -> bool:
        text = self._option("latest").lower()
        if text not in ("", "true", "false", "yes", "no"):
            raise OciSettingsError(f"the option latest={text!r} is neither true nor false")
        return self.ctx.kind == "production" and text in ("true", "yes")

    @property
    def api(self) -> _Registry:
        if self._api is None:
            self._api = _Registry(self.ctx, self.endpoint[0], self.name)
        return self._api

    # --- the interface ----------------------------------------------------------------------------

    def selects(self, path: str) -> bool:
        globs = self.ctx.settings.files
        return matches(path, DEFAULT_FILES if list(globs) == ["*"] else globs)

    def base(self) -> str:
        return f"{self.endpoint[1]}/{self.name}"

    def target(self, path: str) -> str:
        return f"{self.base()}:{self.tag}"

    def _reference(self, digest: str) -> str:
        return f"{self.base()}:{self.tag}@{digest}"

    def _image(self, file: FileToPublish) -> tuple[Layout, Image]:
        if file.path not in self._layouts:
            layout = Layout.read(file.blob, file.name)
            image = layout.image(self._option("ref") or None)
            self._layouts[file.path] = (layout, image)
        return self._layouts[file.path]

    def lookup(self, file: FileToPublish) -> Found | None:
        _, image = self._image(file)
        digest = self.api.manifest_digest(self.tag)
        if digest is None:
            return None
        if digest != image.digest:
            raise Conflicting(
                f"the tag {self.base()}:{self.tag} points at {digest}, not at the manifest "
                f"{image.digest} of {file.path}: refusing to move it",
                hint="a released tag never changes; if the image there is wrong, release a "
                "new version",
            )
        # The manifest digest is the root of a hash tree over the whole image: the registry
        # holds this archive's image. The runner still downloads it back (fetch) to verify.
        return Found(url=self._reference(digest), sha512=file.sha512)

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        if len(files) > 1:
            raise OciSettingsError(
                f"the OCI channel {self.ctx.settings.name!r} selects {len(files)} files "
                f"({', '.join(f.path for f in files)}) for one tag",
                hint="one image archive per OCI channel: give each image its own channel, "
                "package and 'files' glob",
            )
        return super().publish_many(files)

    def publish(self, file: FileToPublish) -> str:
        layout, image = self._image(file)
        self._check_labels(image)
        api, total = self.api, image.size
        done = 0
        last = 0.0

        def progress(step: int) -> None:
            nonlocal done, last
            done = min(done + step, total)  # a body sent twice (new credentials) counts once
            now = time.monotonic()
            if now - last >= _PROGRESS_SECONDS or done == total:
                last = now
                self.ctx.progress(file.path, done, total)

        chunk_size = self.chunk_size
        uploaded = skipped = 0
        for push in image.pushes:
            if push.kind == "blob":
                if api.has_blob(push.digest):
                    skipped += 1
                    progress(push.size)
                    continue
                self.ctx.log(f"{file.path}: uploading blob {push.digest} ({push.size:,} bytes)")
                api.upload(layout, push, chunk_size, progress)
                uploaded += 1
            else:
                if api.manifest_digest(push.digest) is None:
                    api.put_manifest(push.digest, push.media_type, push.body or b"")
                progress(push.size)
        self.ctx.log(f"{file.path}: {uploaded} blobs uploaded, {skipped} already in {self.base()}")
        if self.moves_latest:
            self._tag_latest(image)
        digest = api.put_manifest(self.tag, image.media_type, image.body)
        if digest and digest != image.digest:
            raise ChannelError(
                f"the registry stored the manifest of {self.base()}:{self.tag} as {digest}, "
                f"not {image.digest}",
                retryable=False,
            )
        progress(len(image.body))
        self.ctx.log(f"{file.path}: tagged {self._reference(image.digest)}")
        return self._reference(image.digest)

    def _tag_latest(self, image: Image) -> None:
        """Point ``latest`` at the image, unless the repository has a newer final version."""
        if self.api.manifest_digest("latest") == image.digest:
            return
        try:
            mine = PepVersion(self.ctx.version)
        except InvalidVersion:
            mine = None
        if mine is not None:
            for tag in self.api.tags():
                try:
                    other = PepVersion(tag)
                except InvalidVersion:
                    continue
                if not other.is_prerelease and not other.is_devrelease and other > mine:
                    self.ctx.log(f"'latest' stays: the repository has the newer version {tag}")
                    return
        self.api.put_manifest("latest", image.media_type, image.body)
        self.ctx.log(f"tagged {self.base()}:latest")

    def _check_labels(self, image: Image) -> None:
        """Log what the image does not say of itself (see the module docstring)."""
        missing = [k for k in RECOMMENDED_LABELS if k not in image.labels]
        if missing:
            self.ctx.log(
                f"the image lacks {', '.join(missing)} (as annotations or labels), which an "
                "ASF convenience binary should carry; the agent does not add them, as that "
                "would change the digest the vote passed on"
            )
        version = image.labels.get("org.opencontainers.image.version")
        if version and version != self.ctx.version:
            self.ctx.log(
                f"the image says it is version {version}; the release is {self.ctx.version}"
            )

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        """The archive rebuilt around the registry's bytes (see the module docstring)."""
        layout, image = self._image(file)
        digest = self.api.manifest_digest(self.tag)
        if digest != image.digest:
            raise ChannelError(
                f"the tag {self.base()}:{self.tag} points at {digest or 'nothing'}, not at "
                f"{image.digest}",
                retryable=False,
            )
        return self._rebuilt(file, layout, image)

    def _rebuilt(self, file: FileToPublish, layout: Layout, image: Image) -> Iterator[bytes]:
        served: list[tuple[int, int, Push]] = []
        for push in image.pushes:
            member = layout.members[push.digest]
            served.append((member.offset, member.size, push))
        root = Push("manifest", image.digest, len(image.body), image.media_type, image.body)
        root_member = layout.members.get(image.digest)
        if root_member is None and image.body == layout.index_bytes:
            root_member = layout.index_member  # index.json is the pushed index
        if root_member is not None:
            served.append((root_member.offset, root_member.size, root))
        served.sort(key=lambda s: s[0])
        downloaded = 0
        with file.blob.open("rb") as fh:
            position = 0
            for offset, size, push in served:
                yield from _read(fh, position, offset - position)
                yield from self.api.download(push)
                downloaded += size
                position = offset + size
            yield from _read(fh, position, None)
        self.ctx.log(
            f"{file.path}: {len(served)} blobs and manifests ({downloaded:,} of "
            f"{file.size:,} bytes) downloaded from {self.base()}; tar framing from the archive"
        )
