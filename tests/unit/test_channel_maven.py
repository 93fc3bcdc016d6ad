"""The plain Maven repository channel (kind ``maven``) against scripted HTTP answers."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest

from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import ChannelError, Conflicting
from agent.distribute.channels.maven import MavenRepository
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import SECRET, USER, context, drive, maven_files

ROOT = "https://repo.example.org/maven2"
JAR = "/maven2/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar"


def settings(**changes: object) -> ChannelSettings:
    values: dict[str, object] = {
        "name": "maven",
        "kind": ChannelKind.MAVEN,
        "url": ROOT,
        "files": ["maven/*"],
        **changes,
    }
    return ChannelSettings.model_validate(values)


class MemoryDav:
    """A WebDAV server in memory: folders must exist (MKCOL) before a PUT into them;
    If-None-Match: * is honoured; every request is recorded."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.folders: set[str] = {"/"}
        self.requests: list[httpx.Request] = []
        self.fail: dict[tuple[str, str], list[int]] = {}
        self.stored: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        path, method = request.url.path, request.method
        failing = self.fail.get((method, path))
        if failing:
            return httpx.Response(failing.pop(0), text=f"failure of {path} ({SECRET})")
        if method in ("GET", "HEAD"):
            if path not in self.files:
                return httpx.Response(404)
            return httpx.Response(200, content=self.files[path] if method == "GET" else b"")
        if (
            request.headers.get("authorization")
            != "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
        ):
            return httpx.Response(401, text="Unauthorized")
        if method == "MKCOL":
            if path.rstrip("/") in {f.rstrip("/") for f in self.folders}:
                return httpx.Response(405)
            if path.rstrip("/").rsplit("/", 1)[0] + "/" not in self.folders:
                return httpx.Response(409)
            self.folders.add(path)
            return httpx.Response(201)
        if method == "PUT":
            if path.rsplit("/", 1)[0] + "/" not in self.folders:
                return httpx.Response(409)
            if path in self.files and request.headers.get("if-none-match") == "*":
                return httpx.Response(412)
            self.files[path] = request.content
            self.stored.append(path)
            return httpx.Response(201)
        if method == "DELETE":
            self.files.pop(path, None)
            return httpx.Response(204)
        return httpx.Response(405)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def calls(self, method: str) -> list[str]:
        return [r.url.path for r in self.requests if r.method == method]


def test_registered_and_selects_only_the_maven_layout(tmp_path: Path) -> None:
    assert adapter_for("maven") is MavenRepository
    adapter = MavenRepository(context(settings()))
    assert adapter.selects("maven/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar")
    assert not adapter.selects("apache-acme-1.0.0-src.tar.gz")
    assert not adapter.selects("maven/")
    assert adapter.base() == ROOT
    assert adapter.target("maven/org/a b/x") == f"{ROOT}/org/a%20b/x"
    other = MavenRepository(context(settings(files=["*"], options={"prefix": "/m2/"})))
    assert other.selects("m2/org/x/1/x-1.jar") and not other.selects("maven/org/x/1/x-1.jar")


def test_deploys_checksums_first_makes_folders_and_a_repeat_writes_nothing(
    tmp_path: Path,
) -> None:
    dav = MemoryDav()
    dav.folders.add("/maven2/")
    files = maven_files(tmp_path)
    result = drive(MavenRepository(context(settings(), http=dav.client())), files)
    assert sorted(result.uploaded) == sorted(f.path for f in files)
    jar = files[0]
    assert dav.files[JAR] == jar.blob.read_bytes()
    assert dav.files[JAR + ".sha1"].decode() == hashlib.sha1(jar.blob.read_bytes()).hexdigest()
    assert dav.files[JAR + ".md5"].decode() == hashlib.md5(jar.blob.read_bytes()).hexdigest()
    assert JAR + ".asc.sha1" not in dav.files  # signatures get no checksums
    puts = dav.calls("PUT")
    assert puts.index(JAR + ".sha1") < puts.index(JAR + ".md5") < puts.index(JAR)
    assert "/maven2/org/apache/acme/acme-lib/1.0.0/" in dav.calls("MKCOL")
    jar_put = next(r for r in dav.requests if r.method == "PUT" and r.url.path == JAR)
    assert jar_put.headers["if-none-match"] == "*"
    assert jar_put.headers["content-length"] == str(jar.size)
    assert len(dav.stored) == 8  # 4 files, 2 of them with .sha1 and .md5
    assert len(puts) == 9  # the first PUT found no folder (409): MKCOL, then again

    before = len(dav.requests)
    again = drive(MavenRepository(context(settings(), http=dav.client())), files)
    assert again.uploaded == [] and set(again.found) == {f.path for f in files}
    assert not [r for r in dav.requests[before:] if r.method in ("PUT", "MKCOL")]


def test_a_different_file_under_the_name_is_refused_never_overwritten(tmp_path: Path) -> None:
    dav = MemoryDav()
    dav.folders |= {
        "/maven2/",
        "/maven2/org/",
        "/maven2/org/apache/",
        "/maven2/org/apache/acme/",
        "/maven2/org/apache/acme/acme-lib/",
        "/maven2/org/apache/acme/acme-lib/1.0.0/",
    }
    dav.files[JAR + ".sha1"] = b"0123456789012345678901234567890123456789  acme-lib-1.0.0.jar"
    adapter = MavenRepository(context(settings(), http=dav.client()))
    jar = maven_files(tmp_path)[0]
    assert adapter.lookup(jar) is None
    with pytest.raises(Conflicting, match=r"acme-lib-1.0.0.jar.sha1 holds the checksum"):
        adapter.publish_many([jar])
    assert JAR not in dav.files and dav.calls("PUT") == []


def test_a_name_taken_meanwhile_is_compared_on_412(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    for held, ok in ((jar.blob.read_bytes(), True), (b"other bytes", False)):
        dav = MemoryDav()
        dav.folders |= {"/maven2/"}
        adapter = MavenRepository(context(settings(), http=dav.client()))
        assert adapter.lookup(jar) is None
        for path in (
            "/maven2/org/",
            "/maven2/org/apache/",
            "/maven2/org/apache/acme/",
            "/maven2/org/apache/acme/acme-lib/",
            "/maven2/org/apache/acme/acme-lib/1.0.0/",
        ):
            dav.folders.add(path)
        dav.files[JAR] = held  # arrives between the look and the PUT
        if ok:
            adapter.publish_many([jar])
            assert dav.files[JAR] == held
        else:
            with pytest.raises(Conflicting, match="appeared meanwhile with other bytes"):
                adapter.publish_many([jar])
            assert dav.files[JAR] == b"other bytes"


def test_a_retry_after_a_server_error_asks_before_putting_again(tmp_path: Path) -> None:
    dav = MemoryDav()
    dav.folders.add("/maven2/")
    jar = maven_files(tmp_path)[0]
    dav.fail[("PUT", JAR)] = [500]
    adapter = MavenRepository(context(settings(), http=dav.client()))
    with pytest.raises(ChannelError) as failed:
        adapter.publish_many([jar])
    assert failed.value.retryable and "500" in failed.value.message
    assert SECRET not in failed.value.message and "***" in failed.value.message
    adapter.publish_many([jar])  # the runner's retry, same adapter
    puts = dav.calls("PUT")
    assert dav.stored.count(JAR + ".sha1") == 1 and dav.stored.count(JAR + ".md5") == 1
    assert puts.count(JAR) == 2 and dav.stored.count(JAR) == 1
    assert dav.files[JAR] == jar.blob.read_bytes()
    assert dav.calls("HEAD")[-1] == JAR  # asked whether the failed PUT got through


def test_unauthorized_is_not_retryable_and_names_the_credential(tmp_path: Path) -> None:
    dav = MemoryDav()
    dav.folders.add("/maven2/")
    adapter = MavenRepository(context(settings(), http=dav.client()))
    adapter.ctx.credential = None  # as if the channel had no credential
    with pytest.raises(ChannelError) as failed:
        adapter.publish_many(maven_files(tmp_path)[:1])
    assert not failed.value.retryable and "401" in failed.value.message
    assert failed.value.hint is not None and "credential" in failed.value.hint


def test_the_credential_is_read_when_used_not_when_built(tmp_path: Path) -> None:
    """The runner sets the credential on the context after it built the adapter."""
    dav = MemoryDav()
    dav.folders.add("/maven2/")
    ctx = context(settings(), http=dav.client())
    credential, ctx.credential = ctx.credential, None
    adapter = MavenRepository(ctx)
    ctx.credential = credential
    adapter.publish_many(maven_files(tmp_path)[:1])
    assert len(dav.stored) == 3


def test_lookup_answers(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    for status, expect in ((404, None), (200, "found"), (503, "retryable"), (403, "refused")):
        client = httpx.Client(transport=httpx.MockTransport(lambda _r, s=status: httpx.Response(s)))
        adapter = MavenRepository(context(settings(), http=client))
        if expect is None:
            assert adapter.lookup(jar) is None
        elif expect == "found":
            found = adapter.lookup(jar)
            assert found is not None and found.url == f"https://repo.example.org{JAR}"
            assert found.sha512 is None  # the runner downloads it and compares
        else:
            with pytest.raises(ChannelError) as failed:
                adapter.lookup(jar)
            assert failed.value.retryable is (expect == "retryable")


def test_discard_deletes_the_staged_candidate_only_where_it_holds_its_bytes(
    tmp_path: Path,
) -> None:
    dav = MemoryDav()
    staging = "https://repo.example.org/staging"
    dav.folders.add("/staging/")
    files = maven_files(tmp_path)
    ctx = context(settings(staging_url=staging), kind="staging", http=dav.client())
    drive(MavenRepository(ctx), files)
    pom = "/staging/org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.pom"
    dav.files[pom] = b"changed by someone"
    log: list[str] = []
    ctx = context(settings(staging_url=staging), kind="staging", http=dav.client(), log=log)
    MavenRepository(ctx).discard(files)
    assert sorted(dav.files) == [pom, pom + ".md5", pom + ".sha1"]
    assert any("left in place" in line for line in log)
    # production channels are never discarded from
    before = len(dav.requests)
    MavenRepository(context(settings(staging_url=staging), http=dav.client())).discard(files)
    assert len(dav.requests) == before
