"""The Artifactory channel (kind ``artifactory``) against scripted HTTP answers."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.distribute.channels import adapter_for
from agent.distribute.channels.artifactory import Artifactory
from agent.distribute.channels.base import ChannelError, Conflicting, FileToPublish, Secret
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import Script, context, maven_files

HOST = "https://acme.jfrog.example"
REPO = f"{HOST}/artifactory/libs-release-local"
JAR = "org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar"
ITEM = f"/artifactory/libs-release-local/{JAR}"
STORAGE = f"/artifactory/api/storage/libs-release-local/{JAR}"


def settings(**changes: Any) -> ChannelSettings:
    values: dict[str, Any] = {
        "name": "jfrog",
        "kind": ChannelKind.ARTIFACTORY,
        "url": REPO,
        "files": ["maven/*"],
        **changes,
    }
    return ChannelSettings.model_validate(values)


def info(file: FileToPublish, **more: Any) -> dict[str, Any]:
    data = file.blob.read_bytes()
    return {
        "repo": "libs-release-local",
        "path": f"/{JAR}",
        "downloadUri": f"{HOST}{ITEM}",
        "checksums": {
            "sha1": hashlib.sha1(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": file.sha256,
        },
        **more,
    }


def test_the_url_names_the_repository() -> None:
    assert adapter_for("artifactory") is Artifactory
    adapter = Artifactory(context(settings()))
    assert (adapter.root, adapter.repository) == (f"{HOST}/artifactory", "libs-release-local")
    assert adapter.target("maven/" + JAR) == f"{HOST}{ITEM}"
    with pytest.raises(ValidationError, match="no repository in its URL"):
        Artifactory(context(settings(url="libs-release-local")))


def test_lookup_reads_the_storage_api(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    script = Script().on(
        "GET",
        STORAGE,
        [
            httpx.Response(
                404, json={"errors": [{"status": 404, "message": "Unable to find item"}]}
            ),
            httpx.Response(200, json=info(jar)),
        ],
    )
    adapter = Artifactory(context(settings(), http=script.client()))
    assert adapter.lookup(jar) is None
    found = adapter.lookup(jar)
    assert found is not None and found.sha256 == jar.sha256 and found.url == f"{HOST}{ITEM}"
    folder = Script().on("GET", STORAGE, httpx.Response(200, json={"children": [{"uri": "/a"}]}))
    with pytest.raises(Conflicting, match="is a folder"):
        Artifactory(context(settings(), http=folder.client())).lookup(jar)
    html = Script().on("GET", STORAGE, httpx.Response(200, text="<html>not JSON</html>"))
    with pytest.raises(ChannelError, match="not an Artifactory"):
        Artifactory(context(settings(), http=html.client())).lookup(jar)


def test_deploy_by_checksum_first_then_the_bytes(tmp_path: Path) -> None:
    jar, asc = maven_files(tmp_path)[:2]
    asc_item = ITEM + ".asc"

    def checksum_deploy_or_upload(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-checksum-deploy") == "true":
            assert request.content == b""
            return httpx.Response(404, json={"errors": [{"status": 404, "message": "no such"}]})
        return httpx.Response(201, json=info(asc, checksums={"sha256": asc.sha256}))

    script = (
        Script()
        .on("PUT", ITEM, httpx.Response(201, json=info(jar)))  # Artifactory holds the jar
        .on("PUT", asc_item, checksum_deploy_or_upload)
    )
    adapter = Artifactory(context(settings(), http=script.client()))
    urls = adapter.publish_many([jar, asc])
    assert urls == {jar.path: f"{HOST}{ITEM}", asc.path: f"{HOST}{asc_item}"}
    jar_puts = [r for r in script.requests if r.url.path == ITEM]
    assert len(jar_puts) == 1 and jar_puts[0].content == b""
    sent = jar_puts[0].headers
    data = jar.blob.read_bytes()
    assert sent["x-checksum-deploy"] == "true"
    assert sent["x-checksum-sha1"] == hashlib.sha1(data).hexdigest()
    assert sent["x-checksum-sha256"] == jar.sha256
    assert sent["x-checksum-md5"] == hashlib.md5(data).hexdigest()
    asc_puts = [r for r in script.requests if r.url.path == asc_item]
    assert [r.headers.get("x-checksum-deploy") for r in asc_puts] == ["true", None]
    assert asc_puts[1].content == asc.blob.read_bytes()
    assert asc_puts[1].headers["x-checksum-sha256"] == asc.sha256


def test_a_stored_checksum_that_differs_is_an_error(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    script = Script().on("PUT", ITEM, httpx.Response(201, json={"checksums": {"sha256": "0" * 64}}))
    adapter = Artifactory(
        context(settings(options={"checksum_deploy": "false"}), http=script.client())
    )
    with pytest.raises(ChannelError, match=r"stored .* with SHA-256 0000"):
        adapter.publish_many([jar])
    assert script.requests[0].headers.get("x-checksum-deploy") is None


def test_a_retry_after_a_server_error_asks_before_uploading_again(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    script = (
        Script()
        .on("PUT", ITEM, [httpx.Response(404), httpx.Response(500, text="busy")])
        .on("GET", STORAGE, httpx.Response(200, json=info(jar)))  # it got through after all
    )
    adapter = Artifactory(context(settings(), http=script.client()))
    with pytest.raises(ChannelError, match="500 busy") as failed:
        adapter.publish_many([jar])
    assert failed.value.retryable
    adapter.publish_many([jar])
    assert [r.method for r in script.requests] == ["PUT", "PUT", "GET"]

    other = (
        Script()
        .on("PUT", ITEM, [httpx.Response(404), httpx.Response(502)])
        .on("GET", STORAGE, httpx.Response(200, json=info(jar, checksums={"sha256": "1" * 64})))
    )
    adapter = Artifactory(context(settings(), http=other.client()))
    with pytest.raises(ChannelError):
        adapter.publish_many([jar])
    with pytest.raises(Conflicting, match="holds other bytes"):
        adapter.publish_many([jar])


def test_credentials_basic_or_bearer(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    for credential, expect in (
        (Secret("", "an-access-token"), "Bearer an-access-token"),
        (Secret("u", "p"), "Basic dTpw"),
    ):
        script = Script().on("PUT", ITEM, httpx.Response(201, json=info(jar)))
        ctx = context(settings(), http=script.client(), credential=credential)
        Artifactory(ctx).publish_many([jar])
        assert script.requests[0].headers["authorization"] == expect


def test_discard_deletes_the_staged_files_that_hold_the_candidate(tmp_path: Path) -> None:
    jar, asc = maven_files(tmp_path)[:2]
    staging = f"{HOST}/artifactory/libs-staging-local"
    jar_storage = f"/artifactory/api/storage/libs-staging-local/{JAR}"
    script = (
        Script()
        .on("GET", jar_storage, httpx.Response(200, json=info(jar)))
        .on("GET", jar_storage + ".asc", httpx.Response(200, json=info(jar)))  # other bytes
        .on("DELETE", f"/artifactory/libs-staging-local/{JAR}", httpx.Response(204))
    )
    ctx = context(settings(staging_url=staging), kind="staging", http=script.client())
    Artifactory(ctx).discard([jar, asc])
    assert script.calls("DELETE") == [f"DELETE /artifactory/libs-staging-local/{JAR}"]
