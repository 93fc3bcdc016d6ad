"""Keys: what the project's KEYS (and registered keys) give the signatures check to work with.

Run once per release; every result's ``path`` is ``KEYS``. KEYS files keep every
key ever used (old releases need them), so nothing here is a blocker:

* note — a block that cannot be used (a PGP 2.x key, damaged armor, a truncated
  block, a secret key) and is skipped; a block GnuPG would not import; a key that
  can no longer sign releases (revoked, expired, too weak);
* warning — no keys at all (every signature will then fail);
* pass — how many keys are usable, with their fingerprints.
"""

from __future__ import annotations

from shared.checks.base import CheckInputs, Recorder, Scope
from shared.openpgp.gnupg import GpgKey, Keyring
from shared.openpgp.keysfile import parse_keys_texts
from shared.openpgp.policy import KeyMaterial, evaluate

CHECK_ID = "keys"
CHECK_VERSION = 1
SCOPE = Scope.RELEASE
POLICY_FIELDS: tuple[str, ...] = ()
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

PATH = "KEYS"


def _can_release(key: GpgKey) -> tuple[bool, list[str]]:
    """Whether some signing key of ``key`` passes the policy, and the reasons when none does."""
    reasons = [p.message for p in evaluate(KeyMaterial.of_listed(key.primary)) if p.fatal]
    if reasons:
        return False, reasons
    signers = [k for k in (key.primary, *key.subkeys) if k.can_sign]
    if not signers:
        return False, ["no key of it can sign"]
    sub_reasons: list[str] = []
    for signer in signers:
        fatal = [p.message for p in evaluate(KeyMaterial.of_listed(signer)) if p.fatal]
        if not fatal:
            return True, []
        sub_reasons.extend(fatal)
    return False, sub_reasons


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Describe the keys given to the signatures check."""
    keys = parse_keys_texts(inputs.keys)
    for block in keys.skipped:
        recorder.note(
            PATH,
            f"{block.label} skipped: {block.problem}",
            block=block.number,
            line=block.line,
            fingerprints=list(block.fingerprints),
        )
    if not keys.usable:
        recorder.warning(
            PATH,
            "no usable public key was given: no signature can verify",
            fingerprints=[],
        )
        return
    with Keyring.for_blocks(keys.usable) as ring:
        imported = ring.keys
        for block in keys.usable:
            missing = [f for f in block.fingerprints if f not in imported]
            if missing or not block.fingerprints:
                recorder.note(
                    PATH,
                    f"{block.label}: GnuPG did not import the key in it; skipped",
                    block=block.number,
                    line=block.line,
                    fingerprints=missing,
                )
        usable: list[str] = []
        for key in imported.values():
            ok, reasons = _can_release(key)
            if ok:
                usable.append(key.fingerprint)
                continue
            name = key.user_ids[0] if key.user_ids else key.fingerprint
            recorder.note(
                PATH,
                f"{name} ({key.fingerprint}) cannot sign releases: {'; '.join(reasons)}",
                fingerprints=[key.fingerprint],
                user_ids=list(key.user_ids),
            )
    if usable:
        recorder.passed(
            PATH,
            f"{len(usable)} key(s) can sign releases",
            fingerprints=sorted(usable),
        )
    else:
        recorder.warning(PATH, "no key in KEYS can sign releases", fingerprints=[])
