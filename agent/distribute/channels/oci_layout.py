"""An OCI image layout archive, read in place: what an OCI channel pushes.

A release ships a container image as a tar of an OCI image layout (image-spec,
``image-layout.md``)::

    oci-layout              {"imageLayoutVersion": "1.0.0"}
    index.json              an image index: the layout's entry points
    blobs/sha256/<hex>      manifests, image configs and layers, named by their digest

(a single top folder holding these is accepted too). The archive is never extracted:
:meth:`Layout.read` reads the tar headers once, then every blob is read at its offset in
the file, in chunks, so a multi-GB layer never sits in memory. The archive must be an
uncompressed tar (the layers in it are compressed already); members the layout does not
name (``manifest.json`` of ``docker save``) are ignored.

:meth:`Layout.image` says what is pushed and tagged (an :class:`Image`):

* with the channel option ``ref``: the ``index.json`` entry whose
  ``org.opencontainers.image.ref.name`` annotation is that name;
* else, when ``index.json`` has one entry: that manifest (an image manifest, or an image
  index of several platforms);
* else: ``index.json`` itself, pushed as an image index of all its entries.

In each case the tagged manifest is bytes of the archive, so its digest is fixed by the
archive the vote passed on: nothing is rewritten, and no annotation is added.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.distribute.channels.base import CHUNK, ChannelError

__all__ = [
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RECOMMENDED_LABELS",
    "Descriptor",
    "Image",
    "Layout",
    "LayoutError",
    "Member",
    "Push",
    "digest_of",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
"""The manifest media types pushed, and asked for (``Accept``) when reading them back."""

REF_NAME = "org.opencontainers.image.ref.name"
RECOMMENDED_LABELS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.vendor",
    "org.opencontainers.image.source",
)
"""What an ASF convenience binary image should say of itself (annotations or labels)."""

MAX_JSON = 4 << 20
"""Manifests, configs and ``index.json`` are read whole; registries refuse manifests over 4 MiB."""

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


class LayoutError(ChannelError):
    """The archive is not a usable OCI image layout (never retried: the bytes are voted)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    """The OCI digest (``sha256:<hex>``) of ``data``."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor: what a manifest or an index says of a blob."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: object, where: str) -> Descriptor:
        if not isinstance(data, dict):
            raise LayoutError(f"{where}: a descriptor is not a JSON object")
        digest, size = data.get("digest"), data.get("size")
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise LayoutError(f"{where}: {digest!r} is not a sha256 or sha512 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise LayoutError(f"{where}: the descriptor of {digest} has no valid size")
        media_type = data.get("mediaType")
        urls = data.get("urls") or []
        annotations = data.get("annotations") or {}
        if not isinstance(urls, list) or not isinstance(annotations, dict):
            raise LayoutError(f"{where}: the descriptor of {digest} is malformed")
        return cls(
            media_type=media_type if isinstance(media_type, str) else "",
            digest=digest,
            size=size,
            urls=tuple(str(u) for u in urls),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )


@dataclass(frozen=True, slots=True)
class Member:
    """Where a file's bytes lie in the archive (the tar member's data, uncompressed)."""

    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Push:
    """One piece of the image to put on the registry: a blob, or a manifest by digest."""

    kind: Literal["blob", "manifest"]
    digest: str
    size: int
    media_type: str
    body: bytes | None = None
    """A manifest's bytes (small); a blob is streamed from the archive."""


@dataclass(frozen=True, slots=True)
class Image:
    """What a channel tags: the root manifest, and everything under it, children first."""

    digest: str
    media_type: str
    body: bytes
    pushes: tuple[Push, ...]
    """Blobs and child manifests, each once, in an order the registry accepts."""
    labels: Mapping[str, str]
    """The ``org.opencontainers.image.*`` annotations and config labels found, merged."""

    @property
    def size(self) -> int:
        """Bytes pushed in all (blobs, child manifests and the root manifest)."""
        return sum(p.size for p in self.pushes) + len(self.body)


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.strip("/")


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise LayoutError(f"{what} is not a JSON object")
    return doc


_PACKED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ": "xz", b"(\xb5/\xfd": "zstd"}


def _members(path: Path, label: str) -> list[tarfile.TarInfo]:
    """The tar headers of the archive (an uncompressed tar only)."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            return tar.getmembers()
    except tarfile.ReadError as exc:
        with path.open("rb") as fh:
            magic = fh.read(6)
        for prefix, kind in _PACKED.items():
            if magic.startswith(prefix):
                raise LayoutError(
                    f"{label} is {kind}-compressed; an OCI channel takes an uncompressed "
                    "tar of an OCI image layout",
                    hint="its layers are compressed already: ship the plain .tar",
                ) from exc
        raise LayoutError(f"{label} is not a tar archive ({exc})") from exc


def _add(
    label: str,
    rel: str,
    info: tarfile.TarInfo,
    members: dict[str, Member],
    special: dict[str, Member],
) -> None:
    """Note where ``rel`` (a path inside the layout) lies, if the layout names it."""
    parts = rel.split("/")
    if rel in ("oci-layout", "index.json"):
        target, key = special, rel
    elif len(parts) == 3 and parts[0] == "blobs" and not info.isdir():
        key = f"{parts[1]}:{parts[2]}"
        if not _DIGEST.fullmatch(key):
            return  # not a blob this reader knows; never pushed
        target = members
    else:
        return
    if not info.isreg() or info.issparse():
        raise LayoutError(f"{label}: {rel} is not a plain file (a link?)")
    if key in target:
        raise LayoutError(f"{label} holds {rel} twice")
    target[key] = Member(offset=info.offset_data, size=info.size)


class Layout:
    """An OCI image layout archive (see the module docstring)."""

    def __init__(self, path: Path, members: dict[str, Member], index: Member) -> None:
        self.path = path
        self.members = members
        """Each blob of ``blobs/<alg>/<hex>`` by its digest."""
        self.index_member = index
        self.index_bytes = self._range(index.offset, index.size)

    @classmethod
    def read(cls, path: Path, name: str = "") -> Layout:
        """Read the archive's table of contents; :class:`LayoutError` if it is no layout."""
        label = name or path.name
        infos = _members(path, label)
        names = [_norm(i.name) for i in infos]
        marker = [n for n in names if n == "oci-layout" or re.fullmatch(r"[^/]+/oci-layout", n)]
        if len(marker) != 1:
            raise LayoutError(
                f"{label} is not an OCI image layout: "
                + ("no oci-layout file at its top" if not marker else "several oci-layout files"),
                hint="make it with e.g. 'skopeo copy … oci-archive:FILE' or "
                "'docker buildx build --output type=oci,dest=FILE'",
            )
        prefix = marker[0][: -len("oci-layout")]
        members: dict[str, Member] = {}
        special: dict[str, Member] = {}
        for info in infos:
            rel = _norm(info.name)
            if rel.startswith(prefix):
                _add(label, rel[len(prefix) :], info, members, special)
        if "index.json" not in special:
            raise LayoutError(f"{label} is not an OCI image layout: it has no index.json")
        if special["index.json"].size > MAX_JSON:
            raise LayoutError(f"{label}: index.json is {special['index.json'].size:,} bytes")
        layout = cls(path, members, special["index.json"])
        marker_member = special["oci-layout"]
        if marker_member.size > MAX_JSON:
            raise LayoutError(f"{label}: oci-layout is {marker_member.size:,} bytes")
        version = _json(layout._range(marker_member.offset, marker_member.size), "oci-layout")
        if version.get("imageLayoutVersion") != "1.0.0":
            raise LayoutError(
                f"{label}: imageLayoutVersion {version.get('imageLayoutVersion')!r} is not 1.0.0"
            )
        return layout

    # --- bytes --------------------------------------------------------------------------------

    def _range(self, offset: int, size: int) -> bytes:
        with self.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(size)
        if len(data) != size:
            raise LayoutError(f"{self.path.name} is truncated")
        return data

    def stream(self, digest: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The blob's bytes from ``start`` (``length`` of them; default: to its end)."""
        member = self.members[digest]
        left = member.size - start if length is None else length
        with self.path.open("rb") as fh:
            fh.seek(member.offset + start)
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    raise LayoutError(f"{self.path.name} is truncated in {digest}")
                left -= len(chunk)
                yield chunk

    def blob(self, descriptor: Descriptor) -> bytes:
        """A small blob (a manifest, a config) whole, checked against its descriptor."""
        member = self.members.get(descriptor.digest)
        if member is None:
            raise LayoutError(
                f"{self.path.name} lacks the blob {descriptor.digest} its manifests name"
            )
        if member.size != descriptor.size:
            raise LayoutError(
                f"{self.path.name}: {descriptor.digest} is {member.size:,} bytes, its "
                f"descriptor says {descriptor.size:,}"
            )
        if member.size > MAX_JSON:
            raise LayoutError(f"{descriptor.digest} is too large for a manifest or a config")
        data = self._range(member.offset, member.size)
        algorithm = descriptor.digest.split(":", 1)[0]
        if digest_of(data, algorithm) != descriptor.digest:
            raise LayoutError(f"{self.path.name}: {descriptor.digest} does not match its bytes")
        return data

    # --- what is pushed ------------------------------------------------------------------------

    def entries(self) -> list[Descriptor]:
        """The descriptors of ``index.json``."""
        doc = _json(self.index_bytes, "index.json")
        manifests = doc.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            raise LayoutError(f"{self.path.name}: index.json lists no manifest")
        return [Descriptor.parse(d, "index.json") for d in manifests]

    def image(self, ref: str | None = None) -> Image:
        """What is tagged (see the module docstring) and what must be pushed first."""
        entries = self.entries()
        if ref:
            chosen = [d for d in entries if d.annotations.get(REF_NAME) == ref]
            if len(chosen) != 1:
                known = sorted({d.annotations.get(REF_NAME, "") for d in entries} - {""})
                raise LayoutError(
                    f"{self.path.name}: index.json has {len(chosen)} entries named {ref!r} "
                    f"(its names: {', '.join(known) or 'none'})",
                    hint="set the channel option 'ref' to one of them, or leave it out",
                )
            entries = chosen
        walker = _Walker(self)
        if len(entries) == 1:
            root = entries[0]
            body = self.blob(root)
            media_type = walker.walk(root, body)
        else:
            body = self.index_bytes
            doc = _json(body, "index.json")
            media_type = str(doc.get("mediaType") or OCI_INDEX)
            walker.walk(Descriptor(media_type, digest_of(body), len(body)), body)
        return Image(
            digest=digest_of(body, "sha256"),
            media_type=media_type,
            body=body,
            pushes=tuple(walker.pushes.values()),
            labels=walker.labels,
        )


class _Walker:
    """Collects what a manifest needs on the registry before it (children first, once)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.pushes: dict[str, Push] = {}
        self.labels: dict[str, str] = {}

    def _label(self, values: object) -> None:
        if isinstance(values, dict):
            for key, value in values.items():
                if str(key).startswith("org.opencontainers.image."):
                    self.labels.setdefault(str(key), str(value))

    def walk(self, descriptor: Descriptor, body: bytes, depth: int = 0) -> str:
        """Add what ``body`` (a manifest or an index) references; its media type."""
        if depth > 4:
            raise LayoutError(f"{self.layout.path.name}: indexes nest deeper than 4 levels")
        doc = _json(body, descriptor.digest)
        media_type = str(doc.get("mediaType") or descriptor.media_type or "")
        if not media_type:
            media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        if media_type not in MANIFEST_TYPES:
            raise LayoutError(
                f"{descriptor.digest} is a {media_type!r}, not an image manifest or index"
            )
        self._label(doc.get("annotations"))
        if media_type in INDEX_TYPES:
            self._index(descriptor, doc, depth)
        else:
            self._manifest(descriptor, doc)
        return media_type

    def _index(self, descriptor: Descriptor, doc: dict[str, Any], depth: int) -> None:
        for raw in doc.get("manifests") or []:
            child = Descriptor.parse(raw, descriptor.digest)
            if child.digest in self.pushes:
                continue
            body = self.layout.blob(child)
            media_type = self.walk(child, body, depth + 1)
            self.pushes[child.digest] = Push("manifest", child.digest, child.size, media_type, body)

    def _manifest(self, descriptor: Descriptor, doc: dict[str, Any]) -> None:
        config = Descriptor.parse(doc.get("config"), descriptor.digest)
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise LayoutError(f"{descriptor.digest}: the manifest lists no layers")
        for blob in [config, *(Descriptor.parse(x, descriptor.digest) for x in layers)]:
            if blob.digest in self.pushes:
                continue
            member = self.layout.members.get(blob.digest)
            if member is None and blob.urls:
                continue  # a non-distributable layer: clients fetch it from its URLs
            if member is None:
                raise LayoutError(
                    f"{self.layout.path.name} lacks the blob {blob.digest} that the manifest "
                    f"{descriptor.digest} names"
                )
            if member.size != blob.size:
                raise LayoutError(
                    f"{self.layout.path.name}: {blob.digest} is {member.size:,} bytes, the "
                    f"manifest says {blob.size:,}"
                )
            self.pushes[blob.digest] = Push("blob", blob.digest, blob.size, blob.media_type)
        if config.digest in self.layout.members:
            try:
                image_config = json.loads(self.layout.blob(config))
            except (json.JSONDecodeError, UnicodeDecodeError, LayoutError):
                return  # an artifact's config need not be an image config
            if isinstance(image_config, dict) and isinstance(image_config.get("config"), dict):
                self._label(image_config["config"].get("Labels"))
