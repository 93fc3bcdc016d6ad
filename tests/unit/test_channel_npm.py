"""The npm adapter's protocol, against ``httpx.MockTransport`` registries.

The package document a publish sends (dist-tags, integrity, the base64 attachment,
streamed with its exact length), the staging as ``<version>-rc<N>`` under a dist-tag
other than ``latest``, and each answer to a repeat (npmjs 403, verdaccio 409, a read side
that lags), to a failure and to bad credentials. tests/integration/test_distribute_npm.py
runs the same adapter against a real verdaccio.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import Settings
from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import (
    ChannelError,
    Conflicting,
    FileToPublish,
    Secret,
)
from agent.distribute.channels.npm import Npm, integrity_sha512, sha512_integrity
from agent.distribute.runner import _retrying
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import context, file_at
from tests.support.packages import npm_tarball

REGISTRY = "https://registry.example.org"
TOKEN = "npm_SECRETTOKEN0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def tgz(tmp_path: Path) -> FileToPublish:
    return file_at(npm_tarball(tmp_path, "acme-lib", "1.0.0", padding=2_000_000))


class Registry:
    """A mock npm registry: answers by the handlers given, records every request."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []
        self.progress: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for handler in self.handlers:
            response = handler(request)
            if response.status_code != 599:
                return response
        return httpx.Response(404, json={"error": "not found"})

    def adapter(self, kind: str = "production", rc: int = 1, **settings: Any) -> Npm:
        channel = ChannelSettings.model_validate(
            {"name": "npm", "kind": "npm", "url": REGISTRY, **settings}
        )
        ctx = context(
            channel,
            kind="staging" if kind == "staging" else "production",
            rc=rc,
            http=httpx.Client(transport=httpx.MockTransport(self)),
            credential=Secret("", TOKEN),
            progress=lambda _path, done, _total: self.progress.append(done),
            project_name="Acme Library",
        )
        adapter = adapter_for(ChannelKind.NPM.value)(ctx)
        assert isinstance(adapter, Npm)
        return adapter

    @property
    def puts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "PUT"]


def _skip(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(599)


def answer(status: int, body: Any = None, *, times: int = 1_000) -> Handler:
    """The publish answers ``status`` with ``body`` (the first ``times`` publishes)."""
    left = [times]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and left[0] > 0:
            left[0] -= 1
            return httpx.Response(status, json=body if body is not None else {"ok": True})
        return _skip(request)

    return handler


def document(versions: dict[str, str | None], path: str = "/acme-lib") -> Handler:
    """``GET /<package>``: a package document with ``versions`` (version → SHA-512 hex)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or request.url.raw_path.decode() != path:
            return _skip(request)
        entries = {
            v: {"name": "acme-lib", "version": v, "dist": {
                "tarball": f"{REGISTRY}/acme-lib/-/acme-lib-{v}.tgz",
                **({"integrity": sha512_integrity(h)} if h else {"shasum": "ab" * 20})}}
            for v, h in versions.items()
        }  # fmt: skip
        return httpx.Response(200, json={"name": "acme-lib", "versions": entries})

    return handler


def tarball_at(data: bytes) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/-/" in request.url.path:
            return httpx.Response(200, content=data)
        return _skip(request)

    return handler


def test_integrity_texts_convert_both_ways() -> None:
    digest = hashlib.sha512(b"x").hexdigest()
    text = sha512_integrity(digest)
    assert text.startswith("sha512-") and integrity_sha512(text) == digest
    assert integrity_sha512(f"sha1-abc= {text}") == digest
    assert integrity_sha512("sha1-qUqP5cyxm6YcTAhz05Hph5gvu9M=") is None
    assert integrity_sha512("sha512-!!!") is None


def test_the_tarball_is_selected_and_placed_under_the_package() -> None:
    adapter = Registry().adapter()
    release = ["apache-acme-lib-1.0.0-src.tar.gz", "acme-lib-1.0.0.tgz", "acme-lib-1.0.0.tgz.asc",
               "acme-lib-1.0.0.tgz.sha512", "acme_lib-1.0.0-py3-none-any.whl"]  # fmt: skip
    assert [p for p in release if adapter.selects(p)] == ["acme-lib-1.0.0.tgz"]
    assert adapter.base() == f"{REGISTRY}/acme-lib"
    assert adapter.target("acme-lib-1.0.0.tgz") == f"{REGISTRY}/acme-lib/-/acme-lib-1.0.0.tgz"
    named = Registry().adapter(options={"tarball": "acme-cli-*"}, package="@acme/lib")
    names = ["acme-lib-1.0.0.tgz", "acme-cli-1.0.0.tgz", "acme-cli-1.0.0.tgz.asc",
             "acme-cli-1.0.0.tgz.sha512", "acme-cli-1.0.0.zip"]  # fmt: skip
    assert [p for p in names if named.selects(p)] == ["acme-cli-1.0.0.tgz"]
    assert named.target("x") == f"{REGISTRY}/@acme/lib/-/lib-1.0.0.tgz"
    staged = Registry().adapter("staging", rc=3)
    assert staged.target("acme-lib-1.0.0.tgz").endswith("/acme-lib-1.0.0-rc3.tgz")


def test_a_publish_is_the_package_document_streamed_with_its_length(tgz: FileToPublish) -> None:
    registry = Registry(answer(201), document({"1.0.0": None}))
    url = registry.adapter().publish(tgz)
    assert url == f"{REGISTRY}/acme-lib/-/acme-lib-1.0.0.tgz"
    (put,) = registry.puts
    assert str(put.url) == f"{REGISTRY}/acme-lib"
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    assert put.headers["content-type"] == "application/json"
    assert int(put.headers["content-length"]) == len(put.content)
    assert "transfer-encoding" not in put.headers
    doc = json.loads(put.content)
    data = tgz.blob.read_bytes()
    assert doc["_id"] == doc["name"] == "acme-lib"
    assert doc["description"] == "The Apache Acme Library, packaged for tests"
    assert doc["dist-tags"] == {"latest": "1.0.0"}
    entry = doc["versions"]["1.0.0"]
    assert entry["_id"] == "acme-lib@1.0.0" and entry["main"] == "index.js"
    assert entry["dist"] == {
        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        "shasum": hashlib.sha1(data).hexdigest(),
        "tarball": f"{REGISTRY}/acme-lib/-/acme-lib-1.0.0.tgz",
    }
    (name, attachment), *rest = doc["_attachments"].items()
    assert not rest and name == "acme-lib-1.0.0.tgz"
    assert attachment["content_type"] == "application/octet-stream"
    assert attachment["length"] == len(data) and base64.b64decode(attachment["data"]) == data
    assert len(registry.progress) > 1 and registry.progress[-1] == len(data)


def test_staging_publishes_the_candidate_under_another_dist_tag(tgz: FileToPublish) -> None:
    registry = Registry(answer(201))
    registry.adapter("staging", rc=2).publish(tgz)
    doc = json.loads(registry.puts[0].content)
    assert doc["dist-tags"] == {"rc": "1.0.0-rc2"}
    assert list(doc["versions"]) == ["1.0.0-rc2"]
    assert doc["versions"]["1.0.0-rc2"]["_id"] == "acme-lib@1.0.0-rc2"
    assert list(doc["_attachments"]) == ["acme-lib-1.0.0-rc2.tgz"]
    other = Registry(answer(201))
    other.adapter("staging", options={"staging_tag": "next", "access": "public"}).publish(tgz)
    doc = json.loads(other.puts[0].content)
    assert doc["dist-tags"] == {"next": "1.0.0-rc1"} and doc["access"] == "public"


def test_a_scoped_package_is_put_with_an_escaped_slash(tmp_path: Path) -> None:
    scoped = file_at(npm_tarball(tmp_path, "@acme/lib", "1.0.0"))
    registry = Registry(answer(201))
    registry.adapter(package="@acme/lib").publish(scoped)
    assert registry.puts[0].url.raw_path == b"/@acme%2flib"
    assert list(json.loads(registry.puts[0].content)["_attachments"]) == ["@acme/lib-1.0.0.tgz"]


def test_lookup_reads_the_versions_integrity(tgz: FileToPublish) -> None:
    registry = Registry(document({"0.9.0": "00" * 64, "1.0.0": tgz.sha512}))
    found = registry.adapter().lookup(tgz)
    assert found is not None and found.sha512 == tgz.sha512
    assert found.url == f"{REGISTRY}/acme-lib/-/acme-lib-1.0.0.tgz"
    assert registry.requests[0].headers["accept"] == "application/json"
    assert Registry().adapter().lookup(tgz) is None  # 404: no such package
    assert Registry(document({"0.9.0": "00" * 64})).adapter().lookup(tgz) is None
    bare = Registry(document({"1.0.0": None})).adapter().lookup(tgz)
    assert bare is not None and bare.sha512 is None  # the runner downloads and compares


def test_fetch_downloads_the_versions_tarball(tgz: FileToPublish) -> None:
    data = tgz.blob.read_bytes()
    registry = Registry(document({"1.0.0": tgz.sha512}), tarball_at(data))
    assert b"".join(registry.adapter().fetch(tgz)) == data
    assert registry.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"  # same host
    with pytest.raises(ChannelError, match="does not show") as caught:
        list(Registry().adapter().fetch(tgz))
    assert caught.value.retryable


# --- repeats ------------------------------------------------------------------------------------


def test_verdaccio_409_for_the_same_tarball_is_published(tgz: FileToPublish) -> None:
    registry = Registry(
        answer(409, {"error": "this package is already present"}),
        document({"1.0.0": tgz.sha512}),
    )
    assert registry.adapter().publish(tgz).endswith("/acme-lib-1.0.0.tgz")


def test_npmjs_403_over_another_tarball_is_a_conflict(tgz: FileToPublish) -> None:
    registry = Registry(
        answer(403, {"error": "You cannot publish over the previously published versions: 1.0.0."}),
        document({"1.0.0": "00" * 64}),
    )
    with pytest.raises(Conflicting) as caught:
        registry.adapter().publish(tgz)
    assert "403" in caught.value.message and "previously published" in caught.value.message
    assert "another tarball" in caught.value.message


def test_a_refusal_the_read_side_does_not_show_yet_is_retried(tgz: FileToPublish) -> None:
    registry = Registry(answer(409, {"error": "this package is already present"}))
    with pytest.raises(ChannelError, match="may lag") as caught:
        registry.adapter().publish(tgz)
    assert caught.value.retryable and not isinstance(caught.value, Conflicting)


def test_a_403_that_is_no_republish_is_a_plain_refusal(tgz: FileToPublish) -> None:
    registry = Registry(answer(403, {"error": "You do not have permission to publish acme-lib"}))
    with pytest.raises(ChannelError) as caught:
        registry.adapter().publish(tgz)
    assert not caught.value.retryable and "do not have permission" in caught.value.message
    assert len(registry.requests) == 1  # nothing looked up: it is no repeat


# --- failures -----------------------------------------------------------------------------------


def test_500_twice_then_201_is_retried_to_success(tgz: FileToPublish) -> None:
    registry = Registry(answer(500, {"error": "internal"}, times=2), answer(201))
    adapter = registry.adapter()
    logged: list[str] = []
    _retrying(
        lambda: adapter.publish(tgz),
        what="publishing",
        settings=Settings(data_dir=Path("/nonexistent"), publish_retry_seconds=0),
        log=logged.append,
        redact=adapter.ctx.redact,
    )
    assert len(registry.puts) == 3 and len(logged) == 2 and "500" in logged[0]
    bodies = {r.content for r in registry.puts}
    assert len(bodies) == 1  # each try sent the whole document again


def test_401_is_not_retried_keeps_the_registry_words_and_hides_the_token(
    tgz: FileToPublish,
) -> None:
    registry = Registry(answer(401, {"error": f"bad token {TOKEN}, authorization required"}))
    with pytest.raises(ChannelError) as caught:
        registry.adapter().publish(tgz)
    assert not caught.value.retryable and "401" in caught.value.message
    assert "authorization required" in caught.value.message
    assert TOKEN not in caught.value.message and "***" in caught.value.message


def test_the_package_json_must_match_the_channel_and_the_release(tmp_path: Path) -> None:
    registry = Registry(answer(201))
    other = file_at(npm_tarball(tmp_path / "a", "other-lib", "1.0.0"))
    with pytest.raises(ChannelError, match="is the npm package 'other-lib'"):
        registry.adapter().publish(other)
    older = file_at(npm_tarball(tmp_path / "b", "acme-lib", "0.9.0"))
    with pytest.raises(ChannelError, match=r"has version '0\.9\.0'.*the release is '1\.0\.0'"):
        registry.adapter().publish(older)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"\x1f\x8b not really")
    with pytest.raises(ChannelError, match=r"broken\.tgz cannot be read"):
        registry.adapter().publish(file_at(broken))
    assert registry.puts == []


def test_two_tarballs_for_one_version_are_refused(tmp_path: Path) -> None:
    first = file_at(npm_tarball(tmp_path / "a", "acme-lib", "1.0.0"))
    second = file_at(npm_tarball(tmp_path / "b", "acme-lib", "1.0.0", file_name="acme-lib-b.tgz"))
    registry = Registry(answer(201))
    with pytest.raises(ChannelError, match="selects 2 tarballs"):
        registry.adapter().publish_many([first, second])
    assert registry.puts == []
