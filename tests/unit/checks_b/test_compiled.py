"""Compiled code inside source archives: by extension and by magic bytes, severity by policy."""

from __future__ import annotations

import struct

import pytest

from shared.checks import compiled
from shared.checks.base import Status
from shared.checks.policy import Policy

from .conftest import RunCheck, base_tree

JAVA_CLASS = b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + b"\x00" * 32
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56


def _pe() -> bytes:
    head = bytearray(0x100)
    head[:2] = b"MZ"
    head[0x3C:0x40] = struct.pack("<I", 0x80)
    head[0x80:0x84] = b"PE\x00\x00"
    return bytes(head)


def _tree() -> dict[str, bytes | str]:
    tree = base_tree()
    tree.update(
        {
            "lib/Foo.class": JAVA_CLASS,
            "gradle/wrapper/gradle-wrapper.jar": b"PK\x03\x04" + b"\x00" * 26,
            "native/libfoo.so": ELF,
            "tools/helper.dat": _pe(),  # an executable under an innocent name
            "docs/MZ-notes.txt": "MZ is also how these notes start\n",
        }
    )
    return tree


def test_compiled_files_are_blockers_by_default(run_check: RunCheck) -> None:
    results = run_check(compiled, _tree())
    per_file = {r.data["member"]: r.data["kind"] for r in results if "member" in r.data}
    assert per_file == {
        "lib/Foo.class": "Java bytecode",
        "gradle/wrapper/gradle-wrapper.jar": "Java archive",
        "native/libfoo.so": "ELF binary",
        "tools/helper.dat": "Windows executable",
    }
    assert [r.status for r in results] == [Status.BLOCKER] * 4 + [Status.NOTE]
    summary = results[-1]
    assert summary.path == "foo-1.0-src.tar.gz"
    assert summary.data["omitted"] == 0
    assert summary.data["count"] == 4
    assert [f["path"] for f in summary.data["files"]] == list(per_file)


def test_policy_can_make_them_warnings(run_check: RunCheck) -> None:
    results = run_check(compiled, _tree(), policy=Policy(compiled_code="warning"))
    assert [r.status for r in results] == [Status.WARNING] * 4 + [Status.NOTE]


def test_files_past_the_bound_make_the_summary_carry_the_severity(
    run_check: RunCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled, "MAX_FILE_RESULTS", 2)
    results = run_check(compiled, _tree())
    assert [r.status for r in results] == [Status.BLOCKER] * 3
    assert results[-1].data["omitted"] == 2
    assert len(results[-1].data["files"]) == 4


def test_clean_tree_passes(run_check: RunCheck) -> None:
    results = run_check(compiled, base_tree(), name="foo-1.0-src.zip")
    assert [(r.status, r.message) for r in results] == [
        (Status.PASS, "no compiled code among 5 files")
    ]
