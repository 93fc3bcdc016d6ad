"""``shared.atomicfile``: the one atomic write of the product, and that everyone uses it."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from shared.atomicfile import PRIVATE_DIR, PUBLIC_FILE, AtomicFile, write_atomic

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_replaces_the_file_with_its_mode_set_and_leaves_nothing_else(
    tmp_path: Path,
) -> None:
    target = tmp_path / "secret" / "file.bin"
    write_atomic(target, b"one", make_dirs=True, dir_mode=PRIVATE_DIR)
    assert target.read_bytes() == b"one" and _mode(target) == 0o600
    assert _mode(target.parent) == 0o700
    target.chmod(0o644)  # an old file with loose permissions is replaced by a 0600 one
    write_atomic(target, "twö")
    assert target.read_text(encoding="utf-8") == "twö" and _mode(target) == 0o600
    write_atomic(target, "public", mode=PUBLIC_FILE)
    assert _mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_the_mode_is_set_before_the_first_byte(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "key.asc")
    handle = atomic.open()
    assert atomic.temporary is not None and _mode(atomic.temporary) == 0o600
    handle.write(b"secret")
    atomic.commit()
    assert (tmp_path / "key.asc").read_bytes() == b"secret"


def test_a_failure_in_the_block_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "settings.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), AtomicFile(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["settings.json"]


def test_a_failed_rename_keeps_the_old_file_and_removes_the_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "folder-in-the-way"
    target.mkdir()
    (target / "x").write_text("x")
    with pytest.raises(OSError):
        write_atomic(target, b"cannot replace a non-empty folder")
    assert sorted(os.listdir(tmp_path)) == ["folder-in-the-way"]


def test_no_module_writes_files_atomically_by_itself() -> None:
    """``os.replace`` appears only in shared/atomicfile.py (and the blob store, which moves a
    finished temporary upload into the content-addressed store)."""
    allowed = {Path("shared/atomicfile.py"), Path("agent/blobs.py")}
    found = []
    for package in ("shared", "agent", "desktop"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "replace"
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "os"
                ):
                    found.append(path.relative_to(ROOT))
    assert {p for p in found if p not in allowed} == set()
