"""Checksum files in the formats people publish, against real digests."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from shared.checks import checksums
from shared.checks.base import Status
from shared.checks.checksums import ChecksumFormatError, hash_file, parse_checksum_file
from tests.unit.checks.util import inputs_for, run

ARTIFACT = "apache-foo-1.0-src.tar.gz"
CONTENT = b"some release bytes\n" * 100_000


def release(tmp_path: Path) -> Path:
    path = tmp_path / ARTIFACT
    path.write_bytes(CONTENT)
    return path


def gpg_print_md(path: Path, algorithm: str, home: Path) -> str:
    home.mkdir(mode=0o700, exist_ok=True)
    out = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--print-md", algorithm, path.name],
        cwd=path.parent,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode()


def formats(tmp_path: Path) -> dict[str, str]:
    digest = hashlib.sha512(CONTENT).hexdigest()
    return {
        "gnu": f"{digest}  {ARTIFACT}\n",
        "gnu binary": f"{digest} *{ARTIFACT}\n",
        "upper case": f"{digest.upper()}  ./{ARTIFACT}\r\n",
        "bsd": f"SHA512 ({ARTIFACT}) = {digest}\n",
        "openssl": f"SHA2-512({ARTIFACT})= {digest}\n",
        "bare": f"{digest}\n",
        "gpg --print-md": gpg_print_md(tmp_path / ARTIFACT, "SHA512", tmp_path / "gpghome"),
        "several files": f"{'0' * 128}  other.tar.gz\n{digest}  {ARTIFACT}\n",
    }


def test_every_format_matches(tmp_path: Path) -> None:
    release(tmp_path)
    for name, text in formats(tmp_path).items():
        (tmp_path / (ARTIFACT + ".sha512")).write_text(text)
        [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
        assert (name, result.status) == (name, Status.PASS), result.message
        assert result.data["expected"] == hashlib.sha512(CONTENT).hexdigest()


def test_print_md_layout_spans_lines(tmp_path: Path) -> None:
    release(tmp_path)
    text = gpg_print_md(tmp_path / ARTIFACT, "SHA512", tmp_path / "gpghome")
    assert len(text.splitlines()) > 1
    [entry] = parse_checksum_file(text)
    assert entry.name == ARTIFACT
    assert entry.digest == hashlib.sha512(CONTENT).hexdigest()


def test_sha256_and_sha512_together(tmp_path: Path) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".sha256")).write_text(
        gpg_print_md(tmp_path / ARTIFACT, "SHA256", tmp_path / "gpghome")
    )
    (tmp_path / (ARTIFACT + ".sha512")).write_text(hashlib.sha512(CONTENT).hexdigest())
    results = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert [(r.path, r.status) for r in results] == [
        (ARTIFACT + ".sha256", Status.PASS),
        (ARTIFACT + ".sha512", Status.PASS),
    ]


def test_mismatch_is_a_blocker(tmp_path: Path) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".sha512")).write_text(f"{'ab' * 64}  {ARTIFACT}\n")
    [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert result.status is Status.BLOCKER
    assert "MISMATCH" in result.message
    assert result.data["actual"] == hashlib.sha512(CONTENT).hexdigest()


def test_md5_sha1_and_none(tmp_path: Path) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".md5")).write_text(hashlib.md5(CONTENT).hexdigest())
    (tmp_path / (ARTIFACT + ".sha1")).write_text(hashlib.sha1(CONTENT).hexdigest())
    results = run(checksums, inputs_for(tmp_path), ARTIFACT)
    by_path = {r.path: r.status for r in results}
    assert by_path == {
        ARTIFACT: Status.BLOCKER,  # no SHA-256/512 at all
        ARTIFACT + ".md5": Status.BLOCKER,
        ARTIFACT + ".sha1": Status.WARNING,
    }


def test_wrong_algorithm_and_length(tmp_path: Path) -> None:
    release(tmp_path)
    digest256 = hashlib.sha256(CONTENT).hexdigest()
    (tmp_path / (ARTIFACT + ".sha512")).write_text(f"SHA256 ({ARTIFACT}) = {digest256}\n")
    [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert "holds a SHA-256 digest" in result.message
    (tmp_path / (ARTIFACT + ".sha512")).write_text(f"{digest256}  {ARTIFACT}\n")
    [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert "64 hex digits instead of 128" in result.message


def test_names_another_file(tmp_path: Path) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".sha512")).write_text(
        f"{hashlib.sha512(CONTENT).hexdigest()}  old.tgz\n"
    )
    [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert result.status is Status.WARNING
    assert "'old.tgz'" in result.message


@pytest.mark.parametrize(
    "text",
    ["", "hello world\n", "SHA999 (x) = abcd\n", "abc  x\n" + "not a line\n"],
)
def test_unreadable_checksum_files(text: str) -> None:
    with pytest.raises(ChecksumFormatError):
        parse_checksum_file(text)


def test_unreadable_checksum_file_is_a_blocker(tmp_path: Path) -> None:
    release(tmp_path)
    (tmp_path / (ARTIFACT + ".sha512")).write_bytes(b"\xff\xfe binary")
    [result] = run(checksums, inputs_for(tmp_path), ARTIFACT)
    assert result.status is Status.BLOCKER
    assert "not a text file" in result.message


def test_no_catastrophic_backtracking_on_long_hex() -> None:
    with pytest.raises(ChecksumFormatError):
        parse_checksum_file("ab" * 5000 + " !\n")


def test_hash_file_streams_several_algorithms(tmp_path: Path) -> None:
    path = release(tmp_path)
    got = hash_file(path, {"sha256", "sha512"})
    assert got == {
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
        "sha512": hashlib.sha512(CONTENT).hexdigest(),
    }
