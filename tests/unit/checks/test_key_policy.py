from datetime import UTC, datetime, timedelta

from shared.openpgp.keys import generate_key, key_info
from shared.openpgp.policy import (
    KeyMaterial,
    algorithm_name,
    evaluate,
    is_acceptable,
    material_from_key_info,
)


def codes(key: KeyMaterial) -> list[tuple[str, bool]]:
    return [(p.code, p.fatal) for p in evaluate(key)]


def test_rsa_sizes() -> None:
    assert codes(KeyMaterial("RSA", 4096)) == []
    assert codes(KeyMaterial("RSA", 3072)) == [("rsa_below_recommended", False)]
    assert codes(KeyMaterial("RSA", 2048)) == [("rsa_below_recommended", False)]
    assert codes(KeyMaterial("RSA", 1024)) == [("rsa_too_small", True)]
    assert codes(KeyMaterial("RSA", None)) == [("rsa_too_small", True)]
    assert evaluate(KeyMaterial("RSA", 1024))[0].message == (
        "RSA 1024 bits is under the minimum of 2048 bits for RSA"
    )


def test_algorithms_and_curves() -> None:
    assert codes(KeyMaterial("DSA", 3072)) == [("dsa", True)]
    assert codes(KeyMaterial("ElGamal", 4096)) == [("cannot_sign", True)]
    assert codes(KeyMaterial("EdDSA", 255, "ed25519")) == []
    assert codes(KeyMaterial("ECDSA", 256, "nistp256")) == []
    assert codes(KeyMaterial("ECDSA", 256, "secp256k1")) == [("unknown_curve", True)]
    assert codes(KeyMaterial("Ed25519", 256)) == []
    assert codes(KeyMaterial("algorithm 99", None)) == [("unknown_algorithm", True)]
    assert [algorithm_name(i) for i in (1, 17, 22, 99)] == ["RSA", "DSA", "EdDSA", "algorithm 99"]


def test_revoked_and_expired() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    past = now - timedelta(days=1)
    assert codes(KeyMaterial("RSA", 4096, revoked=True)) == [("revoked", True)]
    assert [p.code for p in evaluate(KeyMaterial("RSA", 4096, expires_at=past), now=now)] == [
        "expired"
    ]
    assert evaluate(KeyMaterial("RSA", 4096, expires_at=now + timedelta(days=1)), now=now) == []
    # GnuPG's verdict wins over the date.
    assert codes(KeyMaterial("RSA", 4096, expires_at=None, expired=True)) == [("expired", True)]
    fatal_first = evaluate(KeyMaterial("RSA", 2048, revoked=True))
    assert [p.fatal for p in fatal_first] == [True, False]
    assert not is_acceptable(KeyMaterial("RSA", 2048, revoked=True))
    assert is_acceptable(KeyMaterial("RSA", 2048))


def test_pgpy_keys_go_through_the_same_policy() -> None:
    weak = material_from_key_info(key_info(generate_key("Weak", "weak@example.org", bits=1024)))
    assert weak.algorithm == "RSA" and weak.bits == 1024
    assert not is_acceptable(weak)
