from __future__ import annotations

from pathlib import Path

from shared.checks import keys
from shared.checks.base import Status
from tests.support.gpg import GpgFactory
from tests.unit.checks.util import inputs_for, run


def test_keys_report(tmp_path: Path, gpg_factory: GpgFactory) -> None:
    text = gpg_factory.keys_file(
        ["rsa4096", "rsa1024", "revoked", "ed25519"], fillers=2, broken=True
    )
    results = run(keys, inputs_for(tmp_path, keys=[text]))
    assert all(r.path == "KEYS" for r in results)
    assert all(r.status is not Status.BLOCKER for r in results)
    notes = [r.message for r in results if r.status is Status.NOTE]
    assert sum("skipped" in n for n in notes) == 5
    assert any(n.startswith("block 1 (line ") and "GnuPG did not import" in n for n in notes)
    assert any("rsa1024" in n and "cannot sign releases" in n for n in notes)
    assert any("revoked" in n and "the key is revoked" in n for n in notes)
    [passed] = [r for r in results if r.status is Status.PASS]
    assert passed.message == "4 key(s) can sign releases"
    assert gpg_factory.key("rsa4096").fingerprint in passed.data["fingerprints"]


def test_no_keys(tmp_path: Path) -> None:
    [result] = run(keys, inputs_for(tmp_path))
    assert result.status is Status.WARNING
