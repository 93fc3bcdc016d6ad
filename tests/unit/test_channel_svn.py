"""The dist repository adapter on a real ``file://`` Subversion repository: a commit made by
someone else between the look and the commit (a killed worker's ``svnmucc`` that still
landed, a person's commit) is a retryable conflict; the next look finds the file with its
bytes (done) or with other bytes (refused), and nothing is overwritten."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
import pytest

from agent.distribute.channels.base import (
    ChangedMeanwhile,
    ChannelError,
    FileToPublish,
    PublishContext,
)
from agent.distribute.channels.svn import SvnDist, create_repository
from shared.protocol.distribute import ChannelKind, ChannelSettings

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def release_file(tmp_path: Path, name: str, data: bytes) -> FileToPublish:
    blob = tmp_path / f"blob-{name}"
    blob.write_bytes(data)
    return FileToPublish(
        path=name,
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        blob=blob,
    )


def channel(url: str, http: httpx.Client) -> SvnDist:
    ctx = PublishContext(
        kind="production",
        project="acme-lib",
        project_name="Apache Acme Lib",
        version="1.0.0",
        rc=1,
        settings=ChannelSettings(name="dist", kind=ChannelKind.SVN, url=url),
        http=http,
    )
    return SvnDist(ctx)


def commit_meanwhile(url: str, tmp_path: Path, data: bytes) -> None:
    """Someone else's commit of release/acme-lib/1.0.0/a.tar.gz (no atr:sha512 property)."""
    other = tmp_path / "other"
    other.write_bytes(data)
    subprocess.run(
        ["svnmucc", "--non-interactive", "-m", "by hand",
         "mkdir", f"{url}/release/acme-lib", "mkdir", f"{url}/release/acme-lib/1.0.0",
         "put", str(other), f"{url}/release/acme-lib/1.0.0/a.tar.gz"],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.mark.parametrize("same_bytes", [True, False])
def test_a_commit_made_meanwhile_is_retried_and_never_overwritten(
    tmp_path: Path, same_bytes: bool
) -> None:
    url = create_repository(tmp_path / "repo")
    file = release_file(tmp_path, "a.tar.gz", b"the release\n")
    with httpx.Client() as http:
        dist = channel(url, http)
        try:
            assert dist.lookup(file) is None  # looked at: nothing there yet
            commit_meanwhile(url, tmp_path, b"the release\n" if same_bytes else b"other\n")
            with pytest.raises(ChannelError) as caught:
                dist.publish_many([file])
            assert isinstance(caught.value, ChangedMeanwhile), caught.value.message
            assert "r1 was looked at; r2 is there now" in caught.value.message

            found = dist.lookup(file)  # the next attempt looks again
            assert found is not None and found.sha512 is None  # no property: fetched, hashed
            fetched = b"".join(dist.fetch(file))
            assert (hashlib.sha512(fetched).hexdigest() == file.sha512) is same_bytes
        finally:
            dist.close()
    cat = subprocess.run(
        ["svn", "cat", f"{url}/release/acme-lib/1.0.0/a.tar.gz"], capture_output=True, check=True
    )
    assert cat.stdout == (b"the release\n" if same_bytes else b"other\n")
