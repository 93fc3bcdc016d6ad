"""shared.provenance.verify on a release folder made here (no agent): a valid release, and each
way it can be wrong — a changed artifact, a changed statement, an unknown or revoked key, a
missing subject, an SBOM that is not the attested one, an artifact signed by another key."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.provenance import (
    PublishedKey,
    bundle_text,
    fingerprint_of,
    render_published_keys,
    sign_statement,
    statement,
    subject,
)
from shared.provenance.statement import file_digests
from shared.provenance.verify import verify_release
from tests.integration.vote_support import source_release
from tests.support.keys import user_key

pytestmark = pytest.mark.skipif(
    __import__("shutil").which("gpg") is None, reason="GnuPG is installed by ./dev setup"
)


def _published(key: ed25519.Ed25519PrivateKey, **extra: object) -> PublishedKey:
    public = key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return PublishedKey(fingerprint_of(public), public, pem=pem, algorithm="ed25519", **extra)  # type: ignore[arg-type]


def _release(tmp_path: Path, *, signer: str = "bob") -> tuple[Path, ed25519.Ed25519PrivateKey]:
    folder = tmp_path / "release"
    rm = user_key(signer)
    files = source_release(folder, "1.0.0", sign=rm.sign)
    (folder / "KEYS").write_text(user_key("bob").public_armor)
    archive = files[0]
    digests = file_digests(archive)
    sbom = folder / (archive.name + ".cdx.json")
    sbom.write_text('{"bomFormat": "CycloneDX"}\n')
    subjects = [subject(archive.name, **digests)]
    release = statement(
        "release",
        subjects,
        {
            "purl": "pkg:generic/apache/acme-lib@1.0.0",
            "artifacts": [{"name": archive.name,
                           "signers": [{"fingerprint": user_key("bob").fingerprint}]}],
            "sboms": [{"name": sbom.name, "digest": file_digests(sbom)}],
        },
    )  # fmt: skip
    vote = statement("vote", subjects, {"outcome": "passed", "rounds": [{"ballots": [
        {"voter": "dave", "value": "+1", "binding": True}]}]})  # fmt: skip
    key = ed25519.Ed25519PrivateKey.generate()
    (folder / "acme-lib-1.0.0.intoto.jsonl").write_text(
        bundle_text([sign_statement(release, key), sign_statement(vote, key)])
    )
    (folder / "automation-keys.pem").write_text(
        render_published_keys([_published(key)], origin="https://atr.example.org")
    )
    return folder, key


def test_a_good_release_is_valid(tmp_path: Path) -> None:
    folder, _key = _release(tmp_path)
    report = verify_release(folder)
    assert report.exit_code == 0, report.to_json()
    assert [a.kind for a in report.attestations] == ["release", "vote"]
    assert all(a.valid for a in report.attestations)
    assert any(f.area == "sbom" and f.level == "ok" for f in report.findings)


def test_a_changed_artifact(tmp_path: Path) -> None:
    folder, _key = _release(tmp_path)
    archive = next(folder.glob("*.tar.gz"))
    data = bytearray(archive.read_bytes())
    data[-1] ^= 1
    archive.write_bytes(bytes(data))
    report = verify_release(folder)
    assert report.exit_code == 1
    messages = [f.message for f in report.errors]
    assert any("is not the file the release attestation is about" in m for m in messages)
    assert any("BAD signature" in m for m in messages)


def test_a_changed_statement_and_signature(tmp_path: Path) -> None:
    folder, _key = _release(tmp_path)
    bundle = folder / "acme-lib-1.0.0.intoto.jsonl"
    lines = bundle.read_text().splitlines()
    envelope = json.loads(lines[1])
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    bundle.write_text("\n".join([lines[0], json.dumps(envelope)]) + "\n")
    report = verify_release(folder)
    assert report.exit_code == 1
    assert "attestation #2" in report.errors[0].message


def test_an_unknown_and_a_revoked_key(tmp_path: Path) -> None:
    folder, key = _release(tmp_path)
    other = ed25519.Ed25519PrivateKey.generate()
    keys = folder / "automation-keys.pem"
    keys.write_text(render_published_keys([_published(other)], origin="x"))
    report = verify_release(folder)
    assert report.exit_code == 1
    assert "not among the agent keys given" in report.errors[0].message
    keys.write_text(
        render_published_keys(
            [_published(key, state="revoked", revoked_at=datetime.now(UTC), reason="leaked")],
            origin="x",
        )
    )
    report = verify_release(folder)
    assert report.exit_code == 1
    assert all(not a.valid for a in report.attestations)
    assert "signed by a revoked key" in report.errors[0].message
    assert "leaked" in report.errors[0].message
    retired = _published(key, state="retired", retired_at=datetime.now(UTC))
    keys.write_text(render_published_keys([retired], origin="x"))
    report = verify_release(folder)
    assert report.exit_code == 0
    assert any("retired" in f.message for f in report.findings)


def test_a_missing_subject_a_changed_sbom_another_signer(tmp_path: Path) -> None:
    folder, _key = _release(tmp_path, signer="carol")  # KEYS has bob; the .asc is carol's
    (folder / next(folder.glob("*.cdx.json")).name).write_text("{}\n")
    report = verify_release(folder)
    messages = " / ".join(f.message for f in report.errors)
    assert "is not the SBOM the release attestation lists" in messages
    assert report.exit_code == 1
    next(folder.glob("*.tar.gz")).unlink()
    report = verify_release(folder)
    assert any("which is not in" in f.message for f in report.errors)


def test_could_not_run(tmp_path: Path) -> None:
    folder, _key = _release(tmp_path)
    (folder / "automation-keys.pem").unlink()
    report = verify_release(folder)
    assert report.exit_code == 2 and "agent key file" in (report.could_not_run or "")
    report = verify_release(tmp_path / "nowhere")
    assert report.exit_code == 2
    (folder / "KEYS").unlink()
    report = verify_release(folder, agent_keys=tmp_path / "missing.pem")
    assert report.exit_code == 2 and "missing.pem" in (report.could_not_run or "")


def test_the_subject_digest_is_sha256_and_sha512(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"abc")
    assert file_digests(path) == {
        "sha256": hashlib.sha256(b"abc").hexdigest(),
        "sha512": hashlib.sha512(b"abc").hexdigest(),
    }
