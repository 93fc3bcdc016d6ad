"""Signatures: every artifact's detached ``.asc``, verified by GnuPG against the project's keys.

For each artifact, each signature in its ``.asc`` (a file may hold several) gets
one result, ``path`` being the ``.asc``:

* pass — a good signature by a key in the project's keys that the key policy accepts;
* blocker — a bad signature, a signer not in the keys, a revoked or expired key, a
  signing key the policy refuses (RSA under 2048 bits, DSA…), an MD5 signature hash,
  an ``.asc`` that is not ASCII-armored or holds no signature;
* warning — a signature made with SHA-1.

An artifact without an ``.asc`` is a blocker, and so is a binary ``.sig``.
``data.fingerprints`` lists the primary-key fingerprints (40 upper-case hex) whose
signature verified cryptographically (whatever else is wrong with the key);
``data.user_ids`` names them. Key size and algorithm are those of the key that made
the signature (a signing subkey when there is one) and of its primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.checks.artifacts import companions
from shared.checks.base import CheckInputs, Recorder, Scope
from shared.openpgp.gnupg import Keyring, SignatureResult, SignatureStatus
from shared.openpgp.keysfile import parse_keys_texts
from shared.openpgp.policy import KeyMaterial, evaluate

CHECK_ID = "signatures"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ()
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

MAX_SIGNATURE_BYTES = 1 << 20
"""An ``.asc`` larger than this is not a signature file; it is not given to GnuPG."""

_HASHES = {1: "MD5", 2: "SHA-1", 3: "RIPEMD-160", 8: "SHA-256", 9: "SHA-384", 10: "SHA-512"}
_HASHES.update({11: "SHA-224", 12: "SHA3-256", 14: "SHA3-512"})
_REFUSED_HASHES = frozenset({1, 3})
_WEAK_HASHES = frozenset({2})

_FAILURES = {
    SignatureStatus.BAD: "BAD signature: the artifact does not match it (changed after signing?)",
    SignatureStatus.EXPIRED_KEY: "signature by an expired key",
    SignatureStatus.REVOKED_KEY: "signature by a revoked key",
    SignatureStatus.EXPIRED_SIGNATURE: "the signature has expired",
    SignatureStatus.ERROR: "GnuPG cannot check this signature (unknown algorithm or damaged data)",
}


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Verify every signature of ``artifact``."""
    if artifact is None:
        return
    found = companions(artifact, inputs.files)
    for sig in found.binary_signatures:
        recorder.blocker(
            sig,
            "a binary .sig signature: releases are signed with ASCII-armored detached .asc files",
            artifact=artifact,
            fingerprints=[],
        )
    if not found.signatures:
        recorder.blocker(
            artifact,
            f"no signature: {_basename(artifact)}.asc is missing",
            artifact=artifact,
            fingerprints=[],
        )
        return
    keys = parse_keys_texts(inputs.keys)
    with Keyring.for_blocks(keys.usable) as ring:
        for asc in found.signatures:
            _verify_file(
                ring,
                recorder,
                data=inputs.files[artifact],
                sig_path=inputs.files[asc],
                asc=asc,
                artifact=artifact,
            )


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _read_signature(path: Path, asc: str, artifact: str, recorder: Recorder) -> bytes | None:
    size = path.stat().st_size
    if size > MAX_SIGNATURE_BYTES:
        recorder.blocker(
            asc,
            f"{size:,} bytes: too large to be a detached signature",
            artifact=artifact,
            fingerprints=[],
        )
        return None
    data = path.read_bytes()
    if b"-----BEGIN PGP SIGNATURE-----" not in data:
        recorder.blocker(
            asc,
            "not an ASCII-armored signature (no BEGIN PGP SIGNATURE line)",
            artifact=artifact,
            fingerprints=[],
        )
        return None
    return data


def _verify_file(
    ring: Keyring, recorder: Recorder, *, data: Path, sig_path: Path, asc: str, artifact: str
) -> None:
    signature = _read_signature(sig_path, asc, artifact, recorder)
    if signature is None:
        return
    results = ring.verify(data, signature)
    if not results:
        recorder.blocker(
            asc, "holds no signature GnuPG can read", artifact=artifact, fingerprints=[]
        )
        return
    for number, result in enumerate(results, start=1):
        prefix = f"signature {number} of {len(results)}: " if len(results) > 1 else ""
        _report(ring, result, asc=asc, artifact=artifact, prefix=prefix, recorder=recorder)


def _signer_data(ring: Keyring, result: SignatureResult) -> tuple[dict[str, Any], list[str]]:
    """The result's data about its signer, and the policy problems of the signing key."""
    data: dict[str, Any] = {
        "key_id": result.key_id,
        "signing_key": result.fingerprint,
        "fingerprints": [],
        "user_ids": [result.user_id] if result.user_id else [],
    }
    if result.hash_algorithm is not None:
        data["hash"] = _HASHES.get(result.hash_algorithm, f"hash {result.hash_algorithm}")
    if result.created is not None:
        data["signed_at"] = datetime.fromtimestamp(result.created, UTC).isoformat()
    verified = result.status is not SignatureStatus.BAD and result.primary_fingerprint
    if verified and result.primary_fingerprint:
        data["fingerprints"] = [result.primary_fingerprint]
    key = ring.key_for(result.fingerprint) if result.fingerprint else None
    problems: list[str] = []
    advice: list[str] = []
    if key is not None:
        data["user_ids"] = list(key.user_ids) or data["user_ids"]
        signing = key.find(result.fingerprint or "") or key.primary
        data["algorithm"] = KeyMaterial.of_listed(signing).description
        for which, part in (("signing key", signing), ("primary key", key.primary)):
            if which == "primary key" and part is signing:
                continue
            for problem in evaluate(KeyMaterial.of_listed(part)):
                if problem.code in ("revoked", "expired") and result.status in (
                    SignatureStatus.REVOKED_KEY,
                    SignatureStatus.EXPIRED_KEY,
                ):
                    continue  # said by the status already
                (problems if problem.fatal else advice).append(f"{which}: {problem.message}")
    if advice:
        data["advice"] = advice
    return data, problems


def _report(
    ring: Keyring,
    result: SignatureResult,
    *,
    asc: str,
    artifact: str,
    prefix: str,
    recorder: Recorder,
) -> None:
    data, problems = _signer_data(ring, result)
    data["artifact"] = artifact
    data["signature_status"] = result.status.value
    who = data["user_ids"][0] if data["user_ids"] else "an unnamed key"
    fpr = result.primary_fingerprint or result.fingerprint or result.key_id
    signer = f"{who} ({fpr})"
    if result.status is SignatureStatus.NO_PUBLIC_KEY:
        recorder.blocker(
            asc,
            f"{prefix}signed by key {result.fingerprint or result.key_id}, "
            "which is not in the project's keys (KEYS)",
            **data,
        )
        return
    if result.status is not SignatureStatus.GOOD:
        recorder.blocker(asc, f"{prefix}{_FAILURES[result.status]}: {signer}", **data)
        return
    if problems:
        recorder.blocker(
            asc, f"{prefix}good signature by {signer}, but {'; '.join(problems)}", **data
        )
        return
    if result.hash_algorithm in _REFUSED_HASHES:
        recorder.blocker(
            asc, f"{prefix}signature by {signer} uses the broken hash {data['hash']}", **data
        )
        return
    if result.hash_algorithm in _WEAK_HASHES:
        recorder.warning(
            asc, f"{prefix}good signature by {signer}, made with SHA-1: use SHA-512", **data
        )
        return
    recorder.passed(asc, f"{prefix}good signature by {signer}", **data)
