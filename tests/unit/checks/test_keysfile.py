"""KEYS files read block by block: dozens of real keys, and blocks no library reads."""

from __future__ import annotations

from shared.openpgp.gnupg import Keyring
from shared.openpgp.keysfile import parse_keys, parse_keys_texts
from tests.support.gpg import KINDS, GpgFactory, armor, garbage_block, pgp2_key_block


def test_a_long_keys_file_with_broken_blocks(gpg_factory: GpgFactory) -> None:
    kinds = [k for k in KINDS if k != "outsider"]
    text = gpg_factory.keys_file(kinds, fillers=24, broken=True)
    parsed = parse_keys(text)
    assert len(parsed.blocks) == 1 + len(kinds) + 24 + 4
    problems = [b.problem or "" for b in parsed.skipped]
    assert len(problems) == 4
    assert "PGP 2.x" in problems[0]
    assert "not valid base64" in problems[1]
    assert "checksum does not match" in problems[2]
    assert "no END line" in problems[3]
    # The fingerprints read from the packets are the ones GnuPG computes.
    by_kind = {gpg_factory.key(k).fingerprint for k in kinds}
    malformed, *good = parsed.usable
    found = {f for b in good for f in b.fingerprints}
    assert by_kind <= found
    # One malformed block makes GnuPG drop the rest of a bulk import ...
    with Keyring.open(parsed.armored_keys()) as ring:
        assert len(ring.keys) < len(found)
    # ... so the blocks it missed are imported one by one.
    with Keyring.for_blocks(parsed.blocks) as ring:
        assert set(ring.keys) == found
        assert malformed.fingerprints[0] not in ring.keys


def test_block_numbers_and_lines(gpg_factory: GpgFactory) -> None:
    key = gpg_factory.key("ed25519").public
    text = "header line\n\n" + key + "\nsome listing\n" + garbage_block()
    parsed = parse_keys(text)
    assert [(b.number, b.line) for b in parsed.blocks] == [
        (1, 3),
        (2, 3 + len(key.splitlines()) + 2),
    ]
    assert parsed.blocks[0].label == "block 1 (line 3)"


def test_several_texts_are_numbered_in_order(gpg_factory: GpgFactory) -> None:
    parsed = parse_keys_texts(
        [gpg_factory.key("ed25519").public, gpg_factory.key("rsa2048").public]
    )
    assert [b.number for b in parsed.blocks] == [1, 2]
    assert [b.fingerprints for b in parsed.blocks] == [
        (gpg_factory.key("ed25519").fingerprint,),
        (gpg_factory.key("rsa2048").fingerprint,),
    ]


def test_pgp2_key_is_version_3() -> None:
    [block] = parse_keys(pgp2_key_block()).blocks
    assert block.versions == (3,)
    assert not block.usable


def test_secret_keys_and_non_keys_are_skipped() -> None:
    secret = armor(b"\x95\x01\x00" + bytes(256), "PRIVATE KEY BLOCK")
    user_id_only = armor(b"\xb4\x05hello")
    not_openpgp = armor(b"\x00\x01\x02\x03")
    cut = armor(b"\x99\x01\x00\x04")  # a key packet claiming 256 bytes, holding 1
    problems = [b.problem for b in parse_keys(secret + user_id_only + not_openpgp + cut).blocks]
    assert problems == [
        "a secret key block: secret keys never belong in KEYS",
        "the block holds no public key",
        "the data is not OpenPGP packets",
        "a packet is cut short: the block is truncated",
    ]


def test_secret_key_packets_inside_a_public_armor(gpg_factory: GpgFactory) -> None:
    hidden = armor(b"\x95\x00\x03\x04\x00\x00")  # tag 5 (secret key) in a PUBLIC KEY armor
    [block] = parse_keys(hidden).blocks
    assert block.problem == "the block holds secret key material, which never belongs in KEYS"


def test_text_without_blocks() -> None:
    assert parse_keys("pub 1024D/12345678\nno key here\n").blocks == ()


def test_the_armor_checksum_is_rfc_4880s_crc24() -> None:
    """The folded CRC-24 against RFC 4880's bit-at-a-time definition (the tests' own), at
    every length around the folds' powers of two and on long random data."""
    import random  # noqa: PLC0415

    from shared.openpgp.keysfile import _crc24  # noqa: PLC0415
    from tests.support.gpg import _crc24 as reference  # noqa: PLC0415

    rng = random.Random(24)
    lengths = [*range(70), *(2**k + d for k in range(3, 16) for d in (-4, -3, -1, 0, 1, 3))]
    for length in [*lengths, 100_003, 300_000]:
        data = rng.randbytes(length)
        assert _crc24(data) == reference(data), length
    for data in (b"\x00" * 1000, b"\xff" * 1000, b"\x80" + b"\x00" * 999):
        assert _crc24(data) == reference(data)
