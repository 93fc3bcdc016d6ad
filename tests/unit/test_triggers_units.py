"""Pure parts of the triggers: tag patterns, refs, release.toml, reproducible archives, the
dist layout reader, HMAC signatures."""

from __future__ import annotations

import tarfile
import threading
import time
from datetime import UTC, datetime

import jwt
import pytest

from agent.triggers.common import ref_allowed, tag_version
from agent.triggers.distwatch import parse_release_toml
from agent.triggers.gitsource import GitSourceError, build_archive, fetch_tag
from agent.triggers.importer import find_releases
from agent.triggers.oidc import IssuerKeys
from agent.triggers.svnread import SvnEntry
from agent.triggers.webhook import signature_of
from shared.errors import ValidationError
from tests.integration.trigger_support import bare_repository, git


@pytest.mark.parametrize(
    ("pattern", "tag", "expected"),
    [
        ("v{version}-rc{rc}", "v1.2.0-rc3", ("1.2.0", 3)),
        ("v{version}-rc{rc}", "v1.2.0", None),
        ("v{version}", "v2.0.0-M1", ("2.0.0-M1", None)),
        ("rel/{version}", "rel/4.5.6", ("4.5.6", None)),
        ("rel/{version}", "v4.5.6", None),
        ("v{version}", "vnext", None),
    ],
)
def test_tag_version(pattern, tag, expected):
    assert tag_version(pattern, tag) == expected


def test_refs():
    assert ref_allowed("refs/tags/v1.0", ["refs/tags/v*"])
    assert not ref_allowed("refs/heads/main", ["refs/tags/*"])


def test_release_toml():
    meta = parse_release_toml('project = "acme-lib"\nversion = "1.2.0"\nfiles = ["a.tar.gz"]\n')
    assert (meta.project, meta.version, meta.files, meta.channels) == (
        "acme-lib",
        "1.2.0",
        ["a.tar.gz"],
        [],
    )
    with pytest.raises(ValidationError, match="version"):
        parse_release_toml('project = "acme-lib"\n')
    with pytest.raises(ValidationError, match="not valid TOML"):
        parse_release_toml("project = ")
    with pytest.raises(ValidationError, match=r"'\.\.' segment"):
        parse_release_toml('project = "acme-lib"\nversion = "1"\nfiles = ["../x"]\n')


def test_signature_of():
    assert signature_of(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )  # the example of GitHub's documentation


def test_archive_is_reproducible_and_refuses_a_moved_tag(tmp_path):
    bare, commits = bare_repository(tmp_path / "git", ["v1.0.0"])
    first = fetch_tag(str(bare), "v1.0.0", tmp_path / "cache1", expect=commits["v1.0.0"])
    second = fetch_tag(bare.as_uri(), "v1.0.0", tmp_path / "cache2")
    a = build_archive(first, tmp_path / "a", "apache-acme-1.0.0-src")
    b = build_archive(second, tmp_path / "b", "apache-acme-1.0.0-src")
    assert a.path.read_bytes() == b.path.read_bytes() and a.sha512 == b.sha512
    with tarfile.open(a.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == sorted(members)
    run = members["apache-acme-1.0.0-src/bin/run.sh"]
    assert run.mode == 0o755 and run.uid == 0 and run.uname == ""
    assert members["apache-acme-1.0.0-src/LICENSE"].mode == 0o644
    assert {m.mtime for m in members.values()} == {first.commit_time}
    with pytest.raises(GitSourceError, match="not at"):
        fetch_tag(str(bare), "v1.0.0", tmp_path / "cache3", expect="e" * 40)
    with pytest.raises(GitSourceError, match="no tag"):
        fetch_tag(str(bare), "v9", tmp_path / "cache3")
    git("tag", "-f", "v1.0.0", "HEAD~0", cwd=tmp_path / "git" / "work")


def _entry(path: str, kind: str = "file") -> SvnEntry:
    return SvnEntry(path, kind, 10, 5, "bob", datetime(2020, 1, 1, tzinfo=UTC))


def test_find_releases_in_real_layouts():
    entries = [
        _entry("KEYS"),
        _entry("1.x", "dir"),
        _entry("1.x/1.0.0", "dir"),
        _entry("1.x/1.0.0/foo-1.0.0-src.tar.gz"),
        _entry("1.x/1.0.0/foo-1.0.0-src.tar.gz.asc"),
        _entry("1.x/1.0.0/foo-1.0.0-src.tar.gz.md5"),
        _entry("tomcat-9", "dir"),
        _entry("tomcat-9/v9.0.85", "dir"),
        _entry("tomcat-9/v9.0.85/src", "dir"),
        _entry("tomcat-9/v9.0.85/src/apache-tomcat-9.0.85-src.zip"),
        _entry("tomcat-9/v9.0.85/src/apache-tomcat-9.0.85-src.zip.sha512"),
        _entry("source", "dir"),
        _entry("source/commons-lang3-3.14.0-src.tar.gz"),
        _entry("source/commons-lang3-3.14.0-src.tar.gz.asc"),
        _entry("source/commons-lang3-3.13.0-src.tar.gz"),
        _entry("README.html"),
        _entry("source/notes.txt"),
    ]
    found, skipped = find_releases(entries)
    assert [(r.folder, r.version, sorted(r.files)) for r in found] == [
        (
            "1.x/1.0.0",
            "1.0.0",
            [
                "1.x/1.0.0/foo-1.0.0-src.tar.gz",
                "1.x/1.0.0/foo-1.0.0-src.tar.gz.asc",
                "1.x/1.0.0/foo-1.0.0-src.tar.gz.md5",
            ],
        ),
        ("source", "3.13.0", ["source/commons-lang3-3.13.0-src.tar.gz"]),
        (
            "source",
            "3.14.0",
            [
                "source/commons-lang3-3.14.0-src.tar.gz",
                "source/commons-lang3-3.14.0-src.tar.gz.asc",
            ],
        ),
        (
            "tomcat-9/v9.0.85",
            "9.0.85",
            [
                "tomcat-9/v9.0.85/src/apache-tomcat-9.0.85-src.zip",
                "tomcat-9/v9.0.85/src/apache-tomcat-9.0.85-src.zip.sha512",
            ],
        ),
    ]
    assert skipped == ["source/notes.txt: no version in its folder or name"]
    dev, _ = find_releases(
        [_entry("2.0.0-rc2", "dir"), _entry("2.0.0-rc2/foo-2.0.0.tar.gz")], dev=True
    )
    assert [(r.version, r.rc) for r in dev] == [("2.0.0", 2)]


def test_a_slow_issuer_holds_up_only_its_own_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    jwk = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "k1", "alg": "HS256"}
    release = threading.Event()
    fetching = threading.Event()

    def fetch(_self: IssuerKeys, issuer: str) -> jwt.PyJWKSet:
        if issuer == "https://slow.example":
            fetching.set()
            assert release.wait(10)
        return jwt.PyJWKSet.from_dict({"keys": [jwk]})

    monkeypatch.setattr(IssuerKeys, "_fetch", fetch)
    keys = IssuerKeys(ttl=300)
    slow = threading.Thread(target=keys.key, args=("https://slow.example", "k1"))
    slow.start()
    assert fetching.wait(10)
    started = time.monotonic()
    assert keys.key("https://fast.example", "k1").key_id == "k1"  # not behind the slow one
    assert time.monotonic() - started < 5
    release.set()
    slow.join(10)
    assert not slow.is_alive()
