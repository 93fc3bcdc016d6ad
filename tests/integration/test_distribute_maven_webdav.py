"""The plain PUT adapters against a real WebDAV server (Apache httpd with mod_dav), directly.

Real parts: Debian's apache2 with mod_dav_fs and basic auth (tests/support/webdav.py). The
adapters run the way the runner drives them (tests/support/channels.py ``drive``), without an
agent: the whole flow through an agent is in test_distribute_maven.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.distribute.channels.artifactory import Artifactory
from agent.distribute.channels.base import ChannelError, Conflicting, Secret
from agent.distribute.channels.maven import MavenRepository
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import SECRET, USER, context, drive, maven_files
from tests.support.webdav import APACHE, ApacheDav

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(APACHE).exists(), reason="needs Debian's apache2 (./dev test)"),
]

LAYOUT = "org/apache/acme/acme-lib/1.0.0"


@pytest.fixture(scope="module")
def dav() -> Iterator[ApacheDav]:
    with ApacheDav(users={USER: SECRET}) as server:
        yield server


def maven(dav: ApacheDav, root: str, **more: object) -> ChannelSettings:
    values: dict[str, object] = {
        "name": "maven",
        "kind": ChannelKind.MAVEN,
        "url": f"{dav.url}/{root}",
        "files": ["maven/*"],
        **more,
    }
    return ChannelSettings.model_validate(values)


def writes(dav: ApacheDav) -> int:
    return sum(1 for method, _p, _s in dav.access_log() if method in ("PUT", "MKCOL", "DELETE"))


def test_deploy_then_repeat_writes_nothing(dav: ApacheDav, tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    result = drive(MavenRepository(context(maven(dav, "repo-a"))), files)
    assert sorted(result.uploaded) == sorted(f.path for f in files)
    for file in files:
        data = file.blob.read_bytes()
        on_disk = dav.path(f"repo-a/{file.path[6:]}")
        assert on_disk.read_bytes() == data
        if not file.path.endswith(".asc"):
            assert Path(f"{on_disk}.sha1").read_text() == hashlib.sha1(data).hexdigest()
            assert Path(f"{on_disk}.md5").read_text() == hashlib.md5(data).hexdigest()
        else:
            assert not Path(f"{on_disk}.sha1").exists()
        assert dav.puts(f"/repo-a/{file.path[6:]}") == 1
    before = writes(dav)
    again = drive(MavenRepository(context(maven(dav, "repo-a"))), files)
    assert again.uploaded == [] and writes(dav) == before


def test_a_different_file_is_refused_and_the_server_keeps_it(
    dav: ApacheDav, tmp_path: Path
) -> None:
    jar = maven_files(tmp_path)[0]
    client = httpx.Client(auth=(USER, SECRET))
    for folder in (
        "repo-b/",
        "repo-b/org/",
        "repo-b/org/apache/",
        "repo-b/org/apache/acme/",
        "repo-b/org/apache/acme/acme-lib/",
        f"repo-b/{LAYOUT}/",
    ):
        assert client.request("MKCOL", f"{dav.url}/{folder}").status_code == 201
    adapter = MavenRepository(context(maven(dav, "repo-b")))
    assert adapter.lookup(jar) is None
    # someone deploys another jar between the look and the upload: Apache refuses (412)
    assert client.put(f"{dav.url}/repo-b/{LAYOUT}/acme-lib-1.0.0.jar", content=b"other").is_success
    with pytest.raises(Conflicting, match="appeared meanwhile with other bytes"):
        adapter.publish_many([jar])
    assert dav.path(f"repo-b/{LAYOUT}/acme-lib-1.0.0.jar").read_bytes() == b"other"
    assert ("PUT", f"/repo-b/{LAYOUT}/acme-lib-1.0.0.jar", 412) in dav.access_log()
    # asked first, the different jar is found; the runner compares it (see drive)
    with pytest.raises(AssertionError, match="holds other bytes"):
        drive(MavenRepository(context(maven(dav, "repo-b"))), [jar])


def test_a_wrong_password_is_refused(dav: ApacheDav, tmp_path: Path) -> None:
    ctx = context(maven(dav, "repo-c"), credential=Secret(USER, "wrong"))
    with pytest.raises(ChannelError) as failed:
        MavenRepository(ctx).publish_many(maven_files(tmp_path)[:1])
    assert "401" in failed.value.message and not failed.value.retryable
    assert not dav.path("repo-c").exists()


def test_discard_deletes_the_staged_candidate(dav: ApacheDav, tmp_path: Path) -> None:
    files = maven_files(tmp_path)
    settings = maven(dav, "release-d", staging_url=f"{dav.url}/staging-d")
    drive(MavenRepository(context(settings, kind="staging")), files)
    jar = dav.path(f"staging-d/{LAYOUT}/acme-lib-1.0.0.jar")
    assert jar.exists()
    MavenRepository(context(settings, kind="staging")).discard(files)
    assert not jar.exists() and not Path(f"{jar}.sha1").exists()
    assert not dav.path(f"staging-d/{LAYOUT}/acme-lib-1.0.0.pom.asc").exists()


def test_artifactory_upload_path_against_a_real_server(dav: ApacheDav, tmp_path: Path) -> None:
    """Apache answers the deploy by checksum with 404 (as Artifactory without the content),
    so the adapter sends the bytes with their X-Checksum-* headers: a real server stores
    them byte for byte. (Artifactory makes folders itself; on WebDAV the test makes them.)"""
    client = httpx.Client(auth=(USER, SECRET))
    folder = "artifactory/libs-release-local"
    parts = f"{folder}/{LAYOUT}".split("/")
    for depth in range(1, len(parts) + 1):
        client.request("MKCOL", f"{dav.url}/{'/'.join(parts[:depth])}/")
    files = maven_files(tmp_path)
    settings = ChannelSettings(
        name="jfrog", kind=ChannelKind.ARTIFACTORY, url=f"{dav.url}/{folder}", files=["maven/*"]
    )
    adapter = Artifactory(context(settings))
    assert all(adapter.lookup(f) is None for f in files)  # no storage API on Apache: 404
    adapter.publish_many(files)
    log = dav.access_log()
    for file in files:
        path = f"/{folder}/{file.path[6:]}"
        assert dav.path(path[1:]).read_bytes() == file.blob.read_bytes()
        assert [s for m, p, s in log if m == "PUT" and p == path] == [404, 201]
        assert hashlib.sha512(httpx.get(f"{dav.url}{path}").content).hexdigest() == file.sha512
