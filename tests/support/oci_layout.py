"""Tiny OCI image layout archives for tests, written byte for byte (no Docker engine here).

    image = build_layout(tmp_path / "acme.oci.tar", layers=[{"hello.txt": b"hi"}])
    image.digest        # the manifest's digest: what the tag must name
    image.blobs         # {digest: bytes} of the config and the layers
    image.path          # the archive (an uncompressed tar of oci-layout, index.json, blobs/)

Layers are real gzipped tar files, the config is a real image config, so
``skopeo`` and registries take them. ``platforms=("amd64", "arm64")`` makes one manifest
per platform under an image index (nested, or as index.json itself with ``flat=True``).
Everything is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MTIME = 1_767_225_600
ASF_LABELS = {
    "org.opencontainers.image.title": "Apache Acme",
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.vendor": "The Apache Software Foundation",
    "org.opencontainers.image.source": "https://github.com/apache/acme",
}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def tar_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic uncompressed tar of ``files``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class BuiltImage:
    path: Path
    digest: str
    """The digest of what is tagged (a manifest, an index blob, or index.json)."""
    media_type: str
    manifest: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    """Every blob of the layout by digest (configs, layers, manifests)."""
    manifests: dict[str, bytes] = field(default_factory=dict)
    """The image manifests by digest (one per platform)."""

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.path.read_bytes()).hexdigest()


def _image(
    blobs: dict[str, bytes],
    layers: Sequence[Mapping[str, bytes]],
    *,
    arch: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> tuple[bytes, dict[str, object]]:
    diffs = [tar_bytes(files) for files in layers]
    layer_blobs = [gzip.compress(d, compresslevel=1, mtime=0) for d in diffs]
    config = _json(
        {
            "architecture": arch,
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Labels": dict(labels)} if labels else {},
            "rootfs": {"type": "layers", "diff_ids": [digest(d) for d in diffs]},
        }
    )
    blobs[digest(config)] = config
    for blob in layer_blobs:
        blobs[digest(blob)] = blob
    manifest_doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest(b), "size": len(b)} for b in layer_blobs
        ],
    }
    if annotations:
        manifest_doc["annotations"] = dict(annotations)
    manifest = _json(manifest_doc)
    blobs[digest(manifest)] = manifest
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest(manifest),
        "size": len(manifest),
        "platform": {"architecture": arch, "os": "linux"},
    }
    return manifest, descriptor


def build_layout(
    path: Path,
    *,
    layers: Sequence[Mapping[str, bytes]] = ({"hello.txt": b"hello\n"},),
    platforms: Sequence[str] = ("amd64",),
    flat: bool = False,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    ref: str | None = None,
    top: str = "",
    salt: str = "",
) -> BuiltImage:
    """Write an OCI image layout archive to ``path`` (see the module docstring).

    ``salt`` goes into the first layer, so two calls can make two different images.
    ``top``: a folder the layout sits in inside the archive.
    """
    blobs: dict[str, bytes] = {}
    labels = ASF_LABELS if labels is None else labels
    layers = [dict(layers[0], **({".salt": salt.encode()} if salt else {})), *layers[1:]]
    manifests: dict[str, bytes] = {}
    entries = []
    for arch in platforms:
        manifest, descriptor = _image(
            blobs, layers, arch=arch, labels=labels, annotations=annotations or {}
        )
        manifests[digest(manifest)] = manifest
        entries.append(descriptor)
    if len(entries) == 1:
        root, media_type = next(iter(manifests.values())), OCI_MANIFEST
        index_entries = [dict(entries[0])]
    elif flat:
        index_entries = entries
        root, media_type = b"", OCI_INDEX
    else:
        root = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        blobs[digest(root)] = root
        media_type = OCI_INDEX
        index_entries = [{"mediaType": OCI_INDEX, "digest": digest(root), "size": len(root)}]
    if ref is not None:
        for entry in index_entries:
            entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
    index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index_entries})
    if flat and len(entries) > 1:
        root = index
    files = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        **{f"blobs/sha256/{d.split(':', 1)[1]}": b for d, b in blobs.items()},
    }
    if top:
        files = {f"{top}/{name}": data for name, data in files.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tar_bytes(files))
    return BuiltImage(
        path=path,
        digest=digest(root),
        media_type=media_type,
        manifest=root,
        blobs=blobs,
        manifests=manifests,
    )
