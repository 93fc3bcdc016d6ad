"""The Central Portal channel (kind ``maven-central``) against scripted HTTP answers."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import ChannelError, Conflicting, Secret
from agent.distribute.channels.central import CentralPortal
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import SECRET, USER, Script, context, maven_files

PORTAL = "https://portal.example.org"
DOWNLOAD = "https://repo.example.org/maven2"
API = "/api/v1/publisher"
JAR = "org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar"
TOKEN = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


def settings(**options: str) -> ChannelSettings:
    return ChannelSettings(
        name="central",
        kind=ChannelKind.MAVEN_CENTRAL,
        url=PORTAL,
        files=["maven/*"],
        options={"download_url": DOWNLOAD, "poll_seconds": "0.01", **options},
    )


def states(*names: str, errors: dict[str, Any] | None = None) -> list[httpx.Response]:
    out = []
    for name in names:
        body: dict[str, Any] = {"deploymentId": "d-1", "deploymentState": name}
        if name == "FAILED" and errors:
            body["errors"] = errors
        out.append(httpx.Response(200, json=body))
    return out


def bundle_of(request: httpx.Request) -> dict[str, bytes]:
    content_type = request.headers["content-type"]
    boundary = content_type.split("boundary=")[1].encode()
    part = next(p for p in request.content.split(b"--" + boundary) if b'name="bundle"' in p)
    data = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def test_options_and_no_staging() -> None:
    assert adapter_for("maven-central") is CentralPortal
    with pytest.raises(ValidationError, match="publishing_type"):
        CentralPortal(context(settings(publishing_type="SOMETIMES")))
    staging = CentralPortal(context(settings(), kind="staging"))
    assert not staging.selects("maven/" + JAR)  # the Portal takes no file of a staging
    production = CentralPortal(context(settings()))
    assert production.selects("maven/" + JAR) and not production.selects("x-src.tar.gz")
    assert production.target("maven/" + JAR) == f"{DOWNLOAD}/{JAR}"
    default = CentralPortal(context(settings(download_url="https://repo1.maven.org/maven2/")))
    assert default.base() == "https://repo1.maven.org/maven2"


def test_uploads_one_bundle_with_checksums_then_publishes_it(tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    script = (
        Script()
        .on("GET", f"{API}/published", httpx.Response(200, json={"published": False}))
        .on("POST", f"{API}/upload", httpx.Response(201, text="d-1\n"))
        .on(
            "POST",
            f"{API}/status",
            states("PENDING", "VALIDATING", "VALIDATED", "VALIDATED", "PUBLISHING", "PUBLISHED"),
        )
        .on("POST", f"{API}/deployment/d-1", httpx.Response(204))
    )
    adapter = CentralPortal(context(settings(), http=script.client()))
    assert all(adapter.lookup(f) is None for f in files)
    urls = adapter.publish_many(files)
    assert urls[files[0].path] == f"{DOWNLOAD}/{JAR}#deployment=d-1"
    adapter.finish()

    published = [r for r in script.requests if r.url.path == f"{API}/published"]
    assert len(published) == 1  # asked once per component
    assert dict(published[0].url.params) == {
        "namespace": "org.apache.acme",
        "name": "acme-lib",
        "version": "1.0.0",
    }
    upload = next(r for r in script.requests if r.url.path == f"{API}/upload")
    assert upload.headers["authorization"] == f"Bearer {TOKEN}"
    assert upload.url.params["publishingType"] == "USER_MANAGED"
    assert upload.url.params["name"] == "Apache Acme 1.0.0"
    bundle = bundle_of(upload)
    jar = files[0].blob.read_bytes()
    assert bundle[JAR] == jar
    assert bundle[JAR + ".sha1"].decode() == hashlib.sha1(jar).hexdigest()
    assert bundle[JAR + ".md5"].decode() == hashlib.md5(jar).hexdigest()
    assert JAR + ".asc" in bundle and JAR + ".asc.sha1" not in bundle
    assert len(bundle) == 8
    assert script.calls("POST").count(f"POST {API}/deployment/d-1") == 1
    assert script.calls("POST").count(f"POST {API}/upload") == 1


def test_an_automatic_deployment_is_not_published_by_hand(tmp_path: Path) -> None:
    script = Script().on("POST", f"{API}/status", states("VALIDATED", "PUBLISHING", "PUBLISHED"))
    recorded = {"maven/" + JAR: f"{DOWNLOAD}/{JAR}#deployment=d-1"}
    ctx = context(settings(publishing_type="automatic"), http=script.client(), recorded=recorded)
    CentralPortal(ctx).finish()
    assert f"POST {API}/deployment/d-1" not in script.calls("POST")


def test_a_published_component_is_compared_never_uploaded_again(tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    script = Script().on("GET", f"{API}/published", httpx.Response(200, json={"published": True}))
    adapter = CentralPortal(context(settings(), http=script.client()))
    found = adapter.lookup(files[0])
    assert found is not None and found.url == f"{DOWNLOAD}/{JAR}" and found.sha512 is None
    with pytest.raises(Conflicting, match="already published on Maven Central") as taken:
        adapter.publish_many(files[1:2])
    assert taken.value.hint == "publish a new version"
    assert f"POST {API}/upload" not in script.calls("POST")


def test_the_portal_failing_the_deployment_gives_its_errors(tmp_path: Path) -> None:
    purl = "pkg:maven/org.apache.acme/acme-lib@1.0.0"
    errors = {purl: [f"Component with package url: '{purl}' already exists"]}
    script = Script().on("POST", f"{API}/status", states("VALIDATING", "FAILED", errors=errors))
    recorded = {"maven/" + JAR: f"{DOWNLOAD}/{JAR}#deployment=d-1"}
    adapter = CentralPortal(context(settings(), http=script.client(), recorded=recorded))
    with pytest.raises(ChannelError) as failed:
        adapter.finish()
    assert not failed.value.retryable
    assert f"Component with package url: '{purl}' already exists" in failed.value.message
    assert "d-1" in failed.value.message


def test_a_recorded_deployment_is_followed_not_uploaded_again(tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    script = (
        Script()
        .on("GET", f"{API}/published", httpx.Response(200, json={"published": False}))
        .on("POST", f"{API}/status", states("VALIDATED", "VALIDATED", "PUBLISHED"))
        .on("POST", f"{API}/deployment/d-1", httpx.Response(204))
    )
    recorded = {f.path: f"{DOWNLOAD}/{f.path[6:]}#deployment=d-1" for f in files}
    adapter = CentralPortal(context(settings(), http=script.client(), recorded=recorded))
    found = adapter.lookup(files[0])
    assert found is not None and found.sha512 == files[0].sha512
    adapter.finish()
    assert f"POST {API}/upload" not in script.calls("POST")
    assert script.calls("POST").count(f"POST {API}/deployment/d-1") == 1


def test_a_dropped_recorded_deployment_means_upload_again(tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    script = (
        Script()
        .on("GET", f"{API}/published", httpx.Response(200, json={"published": False}))
        .on("POST", f"{API}/status", httpx.Response(404, json={"error": {"message": "gone"}}))
    )
    recorded = {files[0].path: f"{DOWNLOAD}/{JAR}#deployment=d-0"}
    adapter = CentralPortal(context(settings(), http=script.client(), recorded=recorded))
    assert adapter.lookup(files[0]) is None


def test_a_token_without_user_name_is_sent_as_it_is(tmp_path: Path) -> None:
    script = Script().on("GET", f"{API}/published", httpx.Response(401, text="Invalid token"))
    ctx = context(settings(), http=script.client(), credential=Secret("", "ready-token"))
    with pytest.raises(ChannelError) as failed:
        CentralPortal(ctx).lookup(maven_files(tmp_path)[0])
    assert script.requests[0].headers["authorization"] == "Bearer ready-token"
    assert not failed.value.retryable and "401 Invalid token" in failed.value.message


def test_files_missing_from_a_deployment_under_way_are_not_uploaded_apart(
    tmp_path: Path,
) -> None:
    """A deployment is whole: a second bundle of the same component would fail at the Portal."""
    jar, asc = maven_files(tmp_path)[:2]
    script = (
        Script()
        .on("GET", f"{API}/published", httpx.Response(200, json={"published": False}))
        .on("POST", f"{API}/status", states("VALIDATED"))
    )
    recorded = {jar.path: f"{DOWNLOAD}/{JAR}#deployment=d-1"}
    adapter = CentralPortal(context(settings(), http=script.client(), recorded=recorded))
    assert adapter.lookup(jar) is not None and adapter.lookup(asc) is None
    with pytest.raises(ChannelError, match="d-1 on the Portal holds part") as failed:
        adapter.publish_many([asc])
    assert failed.value.hint is not None and "drop the deployment" in failed.value.hint
    assert f"POST {API}/upload" not in script.calls("POST")
