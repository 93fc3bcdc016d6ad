"""The OCI channel against an in-memory registry (``httpx.MockTransport``): the protocol.

The same adapter against a real ``docker-registry``: tests/integration/test_distribute_oci.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.config import Settings
from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import (
    ChannelError,
    Conflicting,
    FileToPublish,
    PublishContext,
    Secret,
    sha512_of_chunks,
)
from agent.distribute.channels.oci import DOCKER_HUB, OciRegistry, OciSettingsError
from agent.distribute.channels.oci_layout import Layout, LayoutError
from agent.distribute.runner import _retrying
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.oci_layout import BuiltImage, build_layout, tar_bytes
from tests.unit.fake_registry import REALM, REGISTRY, FakeRegistry

SECRET = "hunter2-the-secret"


def file_for(image: BuiltImage) -> FileToPublish:
    data = image.path.read_bytes()
    return FileToPublish(
        path=image.path.name,
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        blob=image.path,
    )


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def http(registry: FakeRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(transport=registry.transport()) as client:
        yield client


def channel(
    http: httpx.Client,
    *,
    kind: str = "production",
    rc: int | None = None,
    credential: Secret | None = None,
    url: str = REGISTRY,
    package: str = "acme/lib",
    files: list[str] | None = None,
    log: list[str] | None = None,
    **options: str,
) -> OciRegistry:
    settings = ChannelSettings(
        name="docker", kind=ChannelKind.OCI, url=url, package=package, options=options,
        **({"files": files} if files is not None else {}),
    )  # fmt: skip
    lines = log if log is not None else []
    ctx = PublishContext(
        kind="staging" if kind == "staging" else "production",
        project="acme-lib",
        project_name="Acme Library",
        version="1.0.0",
        rc=rc,
        settings=settings,
        http=http,
        credential=credential,
        log=lines.append,
    )
    adapter = adapter_for("oci")(ctx)
    assert isinstance(adapter, OciRegistry)
    return adapter


# --- the layout archive ------------------------------------------------------------------------


def test_layout_single_manifest_pushes_config_and_layers(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar", layers=[{"a": b"1"}, {"b": b"2"}])
    found = Layout.read(image.path).image()
    assert found.digest == image.digest and found.body == image.manifest
    assert [p.kind for p in found.pushes] == ["blob", "blob", "blob"]
    assert {p.digest for p in found.pushes} == set(image.blobs) - {image.digest}
    assert found.labels["org.opencontainers.image.licenses"] == "Apache-2.0"


def test_layout_index_pushes_children_first(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar", platforms=("amd64", "arm64"))
    found = Layout.read(image.path).image()
    assert found.digest == image.digest and found.media_type.endswith("index.v1+json")
    order = [p.digest for p in found.pushes]
    assert len(order) == len(set(order))  # the shared layer once
    for digest, body in image.manifests.items():
        doc = json.loads(body)
        named = [doc["config"]["digest"], *(x["digest"] for x in doc["layers"])]
        assert all(order.index(n) < order.index(digest) for n in named)
    assert {p.digest for p in found.pushes if p.kind == "manifest"} == set(image.manifests)


def test_layout_with_several_entries_pushes_index_json(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar", platforms=("amd64", "arm64"), flat=True)
    layout = Layout.read(image.path)
    found = layout.image()
    assert found.body == layout.index_bytes and found.digest == image.digest


def test_layout_ref_option_picks_one_entry(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar", ref="1.0.0")
    assert Layout.read(image.path).image("1.0.0").digest == image.digest
    with pytest.raises(LayoutError, match=r"0 entries named 'latest' \(its names: 1\.0\.0\)"):
        Layout.read(image.path).image("latest")


def test_layout_in_a_top_folder(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar", top="acme-1.0.0")
    assert Layout.read(image.path).image().digest == image.digest


def test_layout_errors_name_the_problem(tmp_path: Path) -> None:
    image = build_layout(tmp_path / "a.oci.tar")
    packed = tmp_path / "b.oci.tar.gz"
    packed.write_bytes(gzip.compress(image.path.read_bytes()))
    with pytest.raises(LayoutError, match="gzip-compressed"):
        Layout.read(packed)
    plain = tmp_path / "c.tar"
    plain.write_bytes(tar_bytes({"README": b"hi"}))
    with pytest.raises(LayoutError, match="no oci-layout"):
        Layout.read(plain)
    missing = tmp_path / "d.oci.tar"
    layer = next(d for d in image.blobs if d != image.digest and image.blobs[d][:2] == b"\x1f\x8b")
    with tarfile.open(image.path) as src:
        files = {
            m.name: src.extractfile(m).read()  # type: ignore[union-attr]
            for m in src.getmembers()
            if not m.name.endswith(layer.split(":")[1])
        }
    missing.write_bytes(tar_bytes(files))
    with pytest.raises(LayoutError, match=f"lacks the blob {layer}"):
        Layout.read(missing).image()
    garbled = tmp_path / "e.oci.tar"
    files[f"blobs/sha256/{image.digest.split(':')[1]}"] = b"{}" + image.manifest[2:]
    garbled.write_bytes(tar_bytes(files))
    with pytest.raises(LayoutError, match="does not match its bytes"):
        Layout.read(garbled).image()


def test_stream_reads_in_place(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)
    image = build_layout(tmp_path / "a.oci.tar", layers=[{"big": big}])
    layout = Layout.read(image.path)
    layer = max(image.blobs, key=lambda d: len(image.blobs[d]))
    chunks = list(layout.stream(layer))
    assert b"".join(chunks) == image.blobs[layer] and max(map(len, chunks)) <= 1 << 20
    assert b"".join(layout.stream(layer, 10, 5)) == image.blobs[layer][10:15]


# --- settings ----------------------------------------------------------------------------------


def test_targets_tags_and_docker_hub(http: httpx.Client) -> None:
    hub = channel(http, url="docker.io", package="apache/acme")
    assert hub.endpoint == (DOCKER_HUB, "docker.io")
    assert hub.base() == "docker.io/apache/acme"
    assert hub.target("x.oci.tar") == "docker.io/apache/acme:1.0.0"
    staged = channel(http, kind="staging", rc=3, url="http://127.0.0.1:5000")
    assert staged.target("x.oci.tar") == "127.0.0.1:5000/acme/lib:1.0.0-rc3"
    assert staged.selects("apache-acme-1.0.0.oci.tar") and not staged.selects("a-src.tar.gz")
    narrowed = channel(http, files=["images/*.tar"])
    assert narrowed.selects("images/acme.tar") and not narrowed.selects("x.oci.tar")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"package": ""}, "names no image"),
        ({"package": "Apache/Acme"}, "not an OCI repository name"),
        ({"url": "https://registry.example/apache"}, "has a path"),
        ({"chunk_size": "12"}, "chunk_size"),
    ],
)
def test_bad_settings_are_validation_errors(
    http: httpx.Client, settings: dict[str, str], message: str
) -> None:
    adapter = channel(http, **settings)
    with pytest.raises(OciSettingsError, match=message) as caught:
        adapter.base()
        _ = adapter.chunk_size
    assert isinstance(caught.value, ValidationError) and not caught.value.retryable


# --- pushing -----------------------------------------------------------------------------------


def test_publish_uploads_blobs_then_tags(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    file = file_for(image)
    adapter = channel(http)
    assert adapter.lookup(file) is None
    url = adapter.publish_many([file])[file.path]
    assert url == f"registry.example/acme/lib:1.0.0@{image.digest}"
    assert registry.tags["acme/lib"] == {"1.0.0": image.digest}
    assert sorted(registry.completed_uploads()) == sorted(set(image.blobs) - {image.digest})
    assert registry.requests[-1][:2] == ("PUT", "/v2/acme/lib/manifests/1.0.0")
    found = adapter.lookup(file)
    assert found is not None and found.sha512 == file.sha512 and found.url == url


def test_blob_already_there_is_not_uploaded(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    layer = max(image.blobs, key=lambda d: len(image.blobs[d]))
    registry.blobs[layer] = image.blobs[layer]
    channel(http).publish(file_for(image))
    assert layer not in registry.completed_uploads()
    assert ("HEAD", f"/v2/acme/lib/blobs/{layer}", 200) in registry.requests
    assert len(registry.completed_uploads()) == 1  # the config only


def test_large_blob_goes_in_chunks(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar", layers=[{"big": os.urandom(200_000)}])
    channel(http, chunk_size=str(64 << 10)).publish(file_for(image))
    ranges = [h.get("content-range") for _, h in registry.headers_seen if "content-range" in h]
    assert ranges[0] == f"0-{(64 << 10) - 1}" and len(ranges) == 4
    layer = max(image.blobs, key=lambda d: len(image.blobs[d]))
    assert registry.blobs[layer] == image.blobs[layer]


def test_index_pushes_manifests_by_digest_before_the_tag(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar", platforms=("amd64", "arm64"), flat=True)
    channel(http).publish(file_for(image))
    puts = [p for m, p, _ in registry.requests if m == "PUT" and "/manifests/" in p]
    assert puts == [f"/v2/acme/lib/manifests/{d}" for d in image.manifests] + [
        "/v2/acme/lib/manifests/1.0.0"
    ]
    assert registry.tags["acme/lib"]["1.0.0"] == image.digest


def test_staging_tags_the_candidate(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    channel(http, kind="staging", rc=2, latest="true").publish(file_for(image))
    assert registry.tags["acme/lib"] == {"1.0.0-rc2": image.digest}  # never latest


def test_latest_moves_unless_a_newer_version_is_there(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    channel(http, latest="true").publish(file_for(image))
    assert registry.tags["acme/lib"]["latest"] == image.digest
    newer = build_layout(tmp_path / "n.oci.tar", salt="2.0")
    registry.tags["acme/lib"] = {"2.0.0": "sha256:" + "2" * 64, "3.0.0-rc1": "x"}
    log: list[str] = []
    channel(http, latest="true", log=log).publish(file_for(newer))
    assert "latest" not in registry.tags["acme/lib"]
    assert any("newer version 2.0.0" in line for line in log)


def test_tag_pointing_elsewhere_is_conflicting_and_never_moved(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    other = build_layout(tmp_path / "other.oci.tar", salt="other")
    channel(http).publish(file_for(other))
    image = build_layout(tmp_path / "acme.oci.tar")
    before = len(registry.requests)
    with pytest.raises(Conflicting, match=f"points at {other.digest}, not at the manifest"):
        channel(http).lookup(file_for(image))
    assert registry.tags["acme/lib"]["1.0.0"] == other.digest
    assert all(m in ("HEAD", "GET") for m, _, _ in registry.requests[before:])


def test_500_is_retryable_and_a_retry_uploads_nothing_twice(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    registry.fail("PUT", "/manifests/1.0.0", status=500, times=2, body="storage backend down")
    adapter = channel(http)
    file = file_for(image)
    log: list[str] = []
    settings = Settings(publish_attempts=3, publish_retry_seconds=0)
    url = _retrying(lambda: adapter.publish(file), what="publishing", settings=settings,
                    log=log.append, redact=adapter.ctx.redact)  # fmt: skip
    assert url.endswith(image.digest)
    assert len(log) == 2 and "500" in log[0] and "storage backend down" in log[0]
    assert sorted(registry.completed_uploads()) == sorted(set(image.blobs) - {image.digest})


def test_500_three_times_fails_retryable(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    registry.fail("POST", "/blobs/uploads/", status=503, times=5, body="try later")
    with pytest.raises(ChannelError, match=r"503 .*try later") as caught:
        channel(http).publish(file_for(image))
    assert caught.value.retryable


# --- auth --------------------------------------------------------------------------------------


def test_token_flow(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="bearer", username="bot", password=SECRET)
    image = build_layout(tmp_path / "acme.oci.tar")
    with httpx.Client(transport=registry.transport()) as http:
        adapter = channel(http, credential=Secret("bot", SECRET))
        adapter.publish(file_for(image))
        assert registry.tags["acme/lib"]["1.0.0"] == image.digest
        found = adapter.lookup(file_for(image))
    assert found is not None
    assert len(registry.token_requests) == 1  # one token for the whole push
    asked = registry.token_requests[0]
    assert asked.url.params.get_list("scope") == ["repository:acme/lib:pull,push"]
    assert asked.url.params["service"] == "registry.example"
    basic = base64.b64encode(f"bot:{SECRET}".encode()).decode()
    assert asked.headers["Authorization"] == f"Basic {basic}"
    for url, headers in registry.headers_seen:
        if not url.startswith(REALM):
            assert not headers.get("authorization", "").startswith("Basic")  # only the token


def test_token_flow_anonymous_refused(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="bearer", username="bot", password=SECRET)
    image = build_layout(tmp_path / "acme.oci.tar")
    with httpx.Client(transport=registry.transport()) as http:
        with pytest.raises(ChannelError, match=r"getting a token from auth\.example: 401") as c:
            channel(http).lookup(file_for(image))
    assert not c.value.retryable and "credential" in (c.value.hint or "")


def test_basic_auth(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="basic", username="bot", password=SECRET)
    image = build_layout(tmp_path / "acme.oci.tar")
    with httpx.Client(transport=registry.transport()) as http:
        channel(http, credential=Secret("bot", SECRET)).publish(file_for(image))
    assert registry.tags["acme/lib"]["1.0.0"] == image.digest


def test_401_is_not_retryable_keeps_the_text_and_hides_the_secret(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="basic", username="bot", password="right", echo_password=True)
    image = build_layout(tmp_path / "acme.oci.tar")
    with httpx.Client(transport=registry.transport()) as http:
        adapter = channel(http, credential=Secret("bot", SECRET))
        with pytest.raises(ChannelError) as caught:
            adapter.lookup(file_for(image))
    error = caught.value
    assert not error.retryable and "401" in error.message
    assert "UNAUTHORIZED" in error.message and "authentication required" in error.message
    assert SECRET not in error.message and "***" in error.message
    assert "credential" in (error.hint or "")
    # without credentials, with them, then a GET for the text a HEAD answer cannot carry
    assert [(m, s) for m, _, s in registry.requests] == [("HEAD", 401), ("HEAD", 401),
                                                           ("GET", 401)]  # fmt: skip


def test_authorization_stays_on_the_registry_origin(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="basic", username="bot", password=SECRET)
    registry.upload_location = "https://uploads.example"
    image = build_layout(tmp_path / "acme.oci.tar")
    with httpx.Client(transport=registry.transport()) as http:
        with pytest.raises(ChannelError, match="401"):
            channel(http, credential=Secret("bot", SECRET)).publish(file_for(image))
    elsewhere = [h for url, h in registry.headers_seen if url.startswith("https://uploads.")]
    assert elsewhere and all("authorization" not in h for h in elsewhere)


# --- verifying ---------------------------------------------------------------------------------


def test_fetch_rebuilds_the_archive_from_the_registry(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar", platforms=("amd64", "arm64"))
    file = file_for(image)
    adapter = channel(http)
    adapter.publish(file)
    before = len(registry.requests)
    digest, size = sha512_of_chunks(adapter.fetch(file))
    assert (digest, size) == (file.sha512, file.size)
    fetched = {p for m, p, _ in registry.requests[before:] if m == "GET"}
    for blob in image.blobs:  # every blob and manifest came from the registry
        assert any(p.endswith(blob) for p in fetched), blob


def test_fetch_sees_a_byte_the_registry_changed(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "acme.oci.tar")
    file = file_for(image)
    adapter = channel(http)
    adapter.publish(file)
    layer = max(image.blobs, key=lambda d: len(image.blobs[d]))
    registry.corrupt.add(layer)
    with pytest.raises(ChannelError, match=f"serves {layer} as .* with digest sha256:"):
        sha512_of_chunks(adapter.fetch(file))
    registry.corrupt.clear()
    other = build_layout(tmp_path / "other.oci.tar", salt="other")
    channel(http, kind="staging", rc=1).publish(file_for(other))
    registry.tags["acme/lib"]["1.0.0"] = other.digest  # someone moved the tag
    with pytest.raises(ChannelError, match=f"points at {other.digest}, not at {image.digest}"):
        sha512_of_chunks(adapter.fetch(file))


def test_fetch_of_a_layout_served_whole(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    """index.json pushed as the index: its bytes come from the registry too."""
    image = build_layout(tmp_path / "acme.oci.tar", platforms=("amd64", "arm64"), flat=True)
    file = file_for(image)
    adapter = channel(http)
    adapter.publish(file)
    registry.corrupt.add(image.digest)
    with pytest.raises(ChannelError, match=f"serves {image.digest}"):
        sha512_of_chunks(adapter.fetch(file))


def test_one_archive_per_channel(tmp_path: Path, http: httpx.Client) -> None:
    a = file_for(build_layout(tmp_path / "a.oci.tar"))
    b = file_for(build_layout(tmp_path / "b.oci.tar", salt="b"))
    with pytest.raises(OciSettingsError, match="selects 2 files"):
        channel(http).publish_many([a, b])


def test_missing_labels_are_logged_not_added(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(
        tmp_path / "a.oci.tar", labels={}, annotations={"org.opencontainers.image.version": "0.9"}
    )
    log: list[str] = []
    channel(http, log=log).publish(file_for(image))
    text = "\n".join(log)
    assert "org.opencontainers.image.licenses" in text and "version 0.9" in text
    assert registry.manifests[image.digest][1] == image.manifest  # pushed as voted


def test_compressed_archive_is_refused_before_any_request(
    tmp_path: Path, registry: FakeRegistry, http: httpx.Client
) -> None:
    image = build_layout(tmp_path / "a.oci.tar")
    packed = tmp_path / "a.oci.tar.gz"
    with gzip.GzipFile(packed, "wb", mtime=0) as out:
        out.write(image.path.read_bytes())
    data = packed.read_bytes()
    file = FileToPublish(
        path=packed.name, sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), blob=packed,
    )  # fmt: skip
    with pytest.raises(LayoutError, match="gzip-compressed") as caught:
        channel(http).lookup(file)
    assert not caught.value.retryable and registry.requests == []
    assert io.BytesIO(data).read(2) == b"\x1f\x8b"
