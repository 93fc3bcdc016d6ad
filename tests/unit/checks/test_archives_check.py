"""The archives check: each hostile archive ends in one clear blocker; good ones pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.checks import archives
from shared.checks.base import Status
from shared.checks.policy import ArchiveLimits, Policy
from tests.unit.checks import hostile
from tests.unit.checks.util import blockers, inputs_for, run

NAME = "apache-foo-1.0-src"


def check(path: Path, policy: Policy | None = None):
    return run(archives, inputs_for(path.parent, policy=policy), path.name)


@pytest.mark.parametrize("root", [NAME, "apache-foo-1.0"])
def test_good_source_archive_passes(tmp_path: Path, root: str) -> None:
    path = hostile.write_tar(tmp_path / f"{NAME}.tar.gz", hostile.source_tree(root))
    [result] = check(path)
    assert result.status is Status.PASS
    assert result.data["members"] == 7
    assert result.data["root"] == root


def test_zip_passes_too(tmp_path: Path) -> None:
    path = hostile.write_zip(tmp_path / f"{NAME}.zip", {f"{NAME}/LICENSE": b"x", f"{NAME}/a": b"y"})
    assert [r.status for r in check(path)] == [Status.PASS]


def test_root_folder_named_otherwise(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / f"{NAME}.tar.gz", hostile.source_tree("foo"))
    [result] = check(path)
    assert result.status is Status.BLOCKER
    assert "not named after the archive" in result.message
    assert result.data["expected"] == [NAME, "apache-foo-1.0"]


def test_several_roots_or_files_at_the_top(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / f"{NAME}.tar.gz", [(f"{NAME}/a", b"a"), ("other/b", b"b"), ("c", b"c")]
    )
    [result] = check(path)
    assert result.status is Status.BLOCKER
    assert "not one root folder" in result.message
    assert result.data["examples"] == ["c"]


def test_binary_archive_root_is_not_a_blocker(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / "apache-foo-1.0-bin.tar.gz", [("a", b"a"), ("b/c", b"c")])
    assert [r.status for r in check(path)] == [Status.WARNING, Status.PASS]


def test_dotdot_and_absolute_paths(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / f"{NAME}.tar.gz",
        [
            (f"{NAME}/ok", b"ok"),
            (f"{NAME}/../../evil.sh", b"x"),
            ("/etc/cron.d/evil", b"x"),
        ],
    )
    results = {r.data.get("code"): r for r in blockers(check(path))}
    assert results["dotdot"].data["examples"] == [f"{NAME}/../../evil.sh"]
    assert results["absolute"].data["examples"] == ["/etc/cron.d/evil"]


def test_zip_traversal_names(tmp_path: Path) -> None:
    path = hostile.write_zip(
        tmp_path / f"{NAME}.zip", {f"{NAME}/ok": b"", f"{NAME}/..\\..\\evil.bat": b"", "C:/x": b""}
    )
    codes = {r.data.get("code") for r in blockers(check(path))}
    assert {"dotdot", "absolute"} <= codes


def test_links_out_of_the_root(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / f"{NAME}.tar.gz",
        [
            (f"{NAME}/README", b"r"),
            hostile.link(f"{NAME}/inside", "README"),
            hostile.link(f"{NAME}/docs/up", "../README"),
            hostile.link(f"{NAME}/passwd", "/etc/passwd"),
            hostile.link(f"{NAME}/escape", "../../etc/shadow"),
            hostile.link(f"{NAME}/sibling", "../other/x"),
            hostile.link(f"{NAME}/hard", "../x", hard=True),
            hostile.link(f"{NAME}/d/l1", ".."),
            hostile.link(f"{NAME}/l2", "d/l1/.."),
        ],
    )
    [result] = [r for r in check(path) if r.data.get("code") == "link_out"]
    assert result.status is Status.BLOCKER
    assert result.data["count"] == 5
    escaped = {e.split(" -> ")[0] for e in result.data["examples"]}
    assert escaped == {f"{NAME}/{n}" for n in ("passwd", "escape", "sibling", "hard", "l2")}


def test_zip_symlink_out_of_root(tmp_path: Path) -> None:
    path = hostile.write_zip(
        tmp_path / f"{NAME}.zip", {f"{NAME}/a": b"a"}, symlinks={f"{NAME}/l": "../../../etc/passwd"}
    )
    assert {r.data.get("code") for r in blockers(check(path))} == {"link_out"}


def test_device_files(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / f"{NAME}.tar.gz", [(f"{NAME}/a", b"a"), hostile.device(f"{NAME}/null")]
    )
    [result] = blockers(check(path))
    assert result.data["code"] == "device"


def test_duplicate_names_warn(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / f"{NAME}.tar.gz", [(f"{NAME}/a", b"1"), (f"{NAME}/a", b"2")]
    )
    assert [r.status for r in check(path)] == [Status.WARNING, Status.PASS]


def test_empty_archive(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / f"{NAME}.tar.gz", [])
    results = check(path)
    assert [r.status for r in results] == [Status.BLOCKER]


def test_truncated_gzip(tmp_path: Path) -> None:
    good = hostile.write_tar(tmp_path / "g.tar.gz", [(f"{NAME}/r", os.urandom(100_000))])
    path = hostile.truncated(good, tmp_path / f"{NAME}.tar.gz")
    good.unlink()
    [result] = blockers(check(path))
    assert result.data["code"] == "truncated"
    assert "truncated" in result.message


def test_bomb(tmp_path: Path) -> None:
    path = hostile.gzip_bomb(tmp_path / f"{NAME}.tar.gz", NAME, 200 << 20)
    [result] = check(path)
    assert result.status is Status.BLOCKER
    assert result.data["code"] == "max_ratio"
    assert "compression bomb" in result.message


def test_overlapping_zip(tmp_path: Path) -> None:
    path = hostile.overlapping_zip(tmp_path / f"{NAME}.zip", NAME)
    [result] = check(path)
    assert result.status is Status.BLOCKER
    assert result.data["code"] == "overlapping_entries"


def test_limits_come_from_the_policy(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / f"{NAME}.tar.gz", hostile.source_tree(NAME, files=30))
    policy = Policy(archive=ArchiveLimits(max_members=10))
    [result] = check(path, policy)
    assert result.status is Status.BLOCKER
    assert (result.data["code"], result.data["limit"]) == ("max_members", 10)


def test_other_artifacts_are_noted(tmp_path: Path) -> None:
    jar = tmp_path / "foo-1.0.jar"
    jar.write_bytes(b"PK")
    assert [r.status for r in check(jar)] == [Status.NOTE]


def test_an_npm_package_tarball_keeps_npms_root(tmp_path: Path) -> None:
    tree = [("package/package.json", b'{"name": "acme"}'), ("package/index.js", b"1")]
    path = hostile.write_tar(tmp_path / "apache-foo-1.0.tgz", tree)
    statuses = [r.status for r in check(path)]
    assert Status.BLOCKER not in statuses and Status.NOTE in statuses
    # a package/ root without npm's manifest is a misnamed source root as before
    (tmp_path / "x").mkdir()
    other = hostile.write_tar(tmp_path / "x" / "apache-foo-1.0.tgz", [("package/index.js", b"1")])
    [result] = check(other)
    assert result.status is Status.BLOCKER and "not named after the archive" in result.message
