"""Local verification of a downloaded candidate: signatures against KEYS with real GnuPG,
checksum files, and the agent's recorded hashes."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from desktop.keystore import Keystore
from desktop.verify import checksum_in, file_kind, reviewed_matches, verify_candidate
from shared.protocol import RevisionFile
from tests.desktop.gpg_home import GPG
from tests.support.keys import KeyPair, fresh_key

PASSPHRASE = "verify passphrase"


def _record(folder: Path, path: str) -> RevisionFile:
    data = (folder / path).read_bytes()
    return RevisionFile(
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        sha512=hashlib.sha512(data).hexdigest(),
    )


def _candidate(folder: Path, keystore: Keystore, key: KeyPair) -> list[RevisionFile]:
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = keystore.import_armored(key.secret_armor, passphrase=PASSPHRASE).fingerprint
    names = []
    for name, size in (("apache-acme-1.0-src.tar.gz", 2_500_000), ("apache-acme-1.0-bin.zip", 9)):
        (folder / name).write_bytes(os.urandom(size))
        keystore.sign_file(fingerprint, folder / name, passphrase=PASSPHRASE)
        names += [name, name + ".asc", name + ".sha512"]
    return [_record(folder, n) for n in names]


@pytest.fixture
def rm() -> KeyPair:
    return fresh_key("rm")


def test_a_good_candidate_verifies(keystore: Keystore, tmp_path: Path, rm: KeyPair) -> None:
    folder = tmp_path / "rc1"
    files = _candidate(folder, keystore, rm)
    seen: list[str] = []

    result = verify_candidate(
        folder, files, f"KEYS\n\n{rm.public_armor}", progress=lambda p, d, t: seen.append(p)
    )

    assert result.ok, result.problems
    assert result.keys == 1
    assert [f.path for f in result.artifacts] == [
        "apache-acme-1.0-bin.zip",
        "apache-acme-1.0-src.tar.gz",
    ]
    for check in result.artifacts:
        assert check.signature == "good signature"
        assert rm.fingerprint in check.signer and "Rm <rm@example.org>" in check.signer
        assert check.checksum == "SHA-512 match"
    assert result.reviewed == {
        f.path: f.sha512 for f in files if not f.path.endswith((".asc", ".sha512"))
    }
    assert reviewed_matches(result.reviewed, files)
    assert set(seen) == {f.path for f in files}


def test_every_kind_of_problem_is_named(keystore: Keystore, tmp_path: Path, rm: KeyPair) -> None:
    folder = tmp_path / "rc1"
    files = _candidate(folder, keystore, rm)
    src, binary = "apache-acme-1.0-src.tar.gz", "apache-acme-1.0-bin.zip"

    # a key that is not in KEYS
    other = fresh_key("other")
    result = verify_candidate(folder, files, other.public_armor)
    assert not result.ok
    assert any("not in the project's KEYS" in p for p in result.problems)

    # a download that is not what the agent holds
    (folder / binary).write_bytes(b"tampered")
    result = verify_candidate(folder, files, rm.public_armor)
    problems = {c.path: c.problems for c in result.files}
    assert "the download differs from the file the agent holds" in problems[binary]
    assert any("BAD signature" in p for p in problems[binary])
    assert "apache-acme-1.0-bin.zip.sha512 does not match the file" in problems[binary]
    assert problems[src] == []

    # missing signature and checksum files
    kept = [f for f in files if f.path == src]
    result = verify_candidate(folder, kept, rm.public_armor)
    assert result.files[0].problems == ["no .sha512 or .sha256 file", "no .asc signature"]
    assert not result.ok and result.reviewed == {src: kept[0].sha512}

    # the key revoked in KEYS (last: pgpy keeps the revocation on the key's public half)
    kept = [f for f in files if f.path.startswith(src)]
    result = verify_candidate(folder, kept, rm.revoked_public_armor())
    assert result.files[0].problems == ["signature made by a REVOKED key"]


def test_an_empty_candidate_is_not_ok(tmp_path: Path) -> None:
    assert not verify_candidate(tmp_path, [], "").ok


def test_checksum_file_formats() -> None:
    h512 = "ab" * 64
    assert checksum_in(f"{h512}  a.tar.gz\n", "a.tar.gz") == h512
    assert checksum_in(f"{h512.upper()} *dist/a.tar.gz\n", "a.tar.gz") == h512
    assert checksum_in(f"SHA512 (a.tar.gz) = {h512}\n", "a.tar.gz") == h512
    assert checksum_in(f"{h512}\n", "a.tar.gz") == h512
    assert checksum_in(f"{h512}  b.tar.gz\n", "a.tar.gz") is None
    assert checksum_in("not a checksum", "a.tar.gz") is None
    assert file_kind("a.tar.gz") == "artifact"
    assert file_kind("a.tar.gz.asc") == "signature"
    assert file_kind("a.tar.gz.sha512") == "checksum"


def test_a_checksum_file_in_gnupgs_print_md_layout_verifies(
    keystore: Keystore, tmp_path: Path, rm: KeyPair
) -> None:
    """``gpg --print-md SHA512 FILE > FILE.sha512`` — hex groups over several lines — is what
    some projects publish; the checks accept it, and so must the voter's desktop."""
    folder = tmp_path / "rc1"
    files = _candidate(folder, keystore, rm)
    artifact = folder / "apache-acme-1.0-src.tar.gz"
    printed = subprocess.run(
        [GPG, "--print-md", "SHA512", artifact.name],
        cwd=folder,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert len(printed.splitlines()) > 1  # the layout this test is about
    (folder / (artifact.name + ".sha512")).write_text(printed)
    files = [_record(folder, f.path) if f.path == artifact.name + ".sha512" else f for f in files]

    result = verify_candidate(folder, files, f"KEYS\n\n{rm.public_armor}")

    assert result.ok, result.problems
    checked = next(f for f in result.artifacts if f.path == artifact.name)
    assert checked.checksum == "SHA-512 match"
    assert checksum_in(printed, artifact.name) == hashlib.sha512(artifact.read_bytes()).hexdigest()
