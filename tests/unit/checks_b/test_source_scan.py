"""The shared scan of a source archive: heads from the index, a second pass when needed, bounds."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from shared.checks import archive_reader, source_scan
from shared.checks.header_rules import HeaderKind
from shared.checks.license_notice import apache_license_text, compare_license
from shared.checks.source_scan import scan_archive, scan_members

from .conftest import ASF_HEADER_PY, base_tree, make_tar


def _big_tree() -> dict[str, bytes | str]:
    tree = base_tree()
    # Longer than the index keeps of one file (64 KiB): read whole in a second pass.
    tree["LICENSE"] = apache_license_text() + "\n\nThird-party: bundled lib (MIT)\n" + "x " * 60_000
    lock = {
        "lockfileVersion": 3,
        "packages": {f"node_modules/p{i}": {"version": f"1.0.{i}"} for i in range(3000)},
    }
    tree["web/package-lock.json"] = json.dumps(lock)
    return tree


def test_long_root_files_and_manifests_are_read_whole(tmp_path: Path) -> None:
    tree = _big_tree()
    scan = scan_archive(make_tar(tmp_path / "foo-1.0.tar.gz", tree))
    assert scan.error is None
    assert scan.roots == ("foo-1.0",)
    assert scan.root_files["LICENSE"] == tree["LICENSE"].encode()  # type: ignore[union-attr]
    assert compare_license(scan.root_files["LICENSE"].decode()).matches
    assert len(scan.manifests["web/package-lock.json"]) > archive_reader.HEAD_BYTES
    assert [f.relpath for f in scan.files] == list(tree)


def test_heads_missing_from_the_index_come_from_a_second_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first file is cut by the index's budget, the others are not in it at all.
    tree = {"src/first.py": ASF_HEADER_PY + "x = 1\n", **_big_tree(), "src/last.py": "x = 2\n"}
    expected = scan_archive(make_tar(tmp_path / "a-1.0.tar.gz", tree))
    assert expected.files[0].verdict.kind is HeaderKind.APACHE
    assert expected.files[-1].verdict.kind is HeaderKind.MISSING
    source_scan.clear_scan_cache()
    archive_reader.clear_index_cache()
    small_index = functools.partial(archive_reader.index_archive, budget=100)
    monkeypatch.setattr(source_scan, "index_archive", small_index)
    scan = scan_archive(make_tar(tmp_path / "b-1.0.tar.gz", tree))
    assert [(f.relpath, f.verdict) for f in scan.files] == [
        (f.relpath, f.verdict) for f in expected.files
    ]
    assert scan.root_files == expected.root_files
    assert scan.manifests == expected.manifests


def test_scans_are_remembered_until_the_file_changes(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "foo-1.0.tar.gz", base_tree())
    first = scan_archive(path)
    assert scan_archive(path) is first
    make_tar(path, {**base_tree(), "extra.py": "x = 1\n"})
    os.utime(path, ns=(1, 1))
    second = scan_archive(path)
    assert second is not first
    assert second.files[-1].verdict.kind is HeaderKind.MISSING


def test_manifest_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_scan, "MANIFEST_MAX_BYTES", 1000)
    monkeypatch.setattr(source_scan, "MANIFEST_BUDGET", 1500)
    tree = base_tree()
    tree["a/package.json"] = json.dumps({"name": "a", "description": "x" * 2000})
    tree["b/package.json"] = json.dumps({"name": "b", "description": "x" * 900})
    tree["c/package.json"] = json.dumps({"name": "c", "description": "x" * 900})
    scan = scan_archive(make_tar(tmp_path / "foo-1.0.tar.gz", tree))
    assert list(scan.manifests) == ["b/package.json"]
    assert "more than the 1,000 read" in scan.skipped_manifests["a/package.json"]
    assert "used up" in scan.skipped_manifests["c/package.json"]


def test_hostile_archive_stops_with_an_error(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "foo-1.0.tar.gz", base_tree())
    path.write_bytes(path.read_bytes()[:-40])
    scan = scan_archive(path)
    assert scan.error is not None


def test_in_memory_scan() -> None:
    scan = scan_members(
        [("LICENSE", b"x"), ("src/a.py", b"print(1)\n"), ("pom.xml", b"<project/>")]
    )
    assert scan.root_files == {"LICENSE": b"x"}
    assert scan.manifests == {"pom.xml": b"<project/>"}
    assert scan.files[1].verdict.kind is HeaderKind.MISSING
