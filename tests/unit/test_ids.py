import pytest

from shared.errors import ValidationError
from shared.ids import (
    check_fingerprint,
    check_key,
    check_relpath,
    check_sha256,
    check_user_name,
    check_version,
)


@pytest.mark.parametrize("value", ["tooling", "commons-lang", "a1"])
def test_good_keys(value):
    assert check_key(value) == value


@pytest.mark.parametrize("value", ["", "Tooling", "1abc", "a_b", "a" * 65, "a/b"])
def test_bad_keys(value):
    with pytest.raises(ValidationError, match="not a valid project key"):
        check_key(value)


@pytest.mark.parametrize("value", ["1.0.0", "2.0.0-M1", "1.0.0-rc1", "3.1+build.5"])
def test_good_versions(value):
    assert check_version(value) == value


@pytest.mark.parametrize("value", ["", "-1", "1..2", "1/2", "1 2", ".1"])
def test_bad_versions(value):
    with pytest.raises(ValidationError):
        check_version(value)


def test_user_names():
    assert check_user_name("wave.r_1") == "wave.r_1"
    with pytest.raises(ValidationError):
        check_user_name("Root")


@pytest.mark.parametrize(
    "value",
    ["a.tar.gz", "dir/a.txt", "x/y/z.asc", "a" * 255, "\u00e9" * 127, "/".join(["d" * 200] * 4)],
)
def test_good_paths(value):
    assert check_relpath(value) == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "1 to"),
        ("/etc/passwd", "absolute"),
        ("../x", "'..'"),
        ("a/../b", "'..'"),
        ("a//b", "empty"),
        ("a\\b", "'/'"),
        ("a\nb", "control"),
        ("e\u0301.txt", "NFC"),
        ("a" * 256, "at most 255 bytes"),
        ("dist/" + "b" * 300 + ".tar.gz", "at most 255 bytes"),
        ("\u00e9" * 128, "at most 255 bytes"),  # 128 characters, 256 bytes
        ("x/" * 600, "1 to 1024 bytes"),
    ],
)
def test_bad_paths(value, fragment):
    with pytest.raises(ValidationError, match=fragment):
        check_relpath(value)


def test_fingerprint_normalized():
    spaced = "7785 450E A112 8D48 0887  BFD6 96C5 2B36 4500 4ADE"
    assert check_fingerprint(spaced.lower()) == "7785450EA1128D480887BFD696C52B3645004ADE"
    with pytest.raises(ValidationError):
        check_fingerprint("ABCD")


def test_sha256():
    digest = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
    assert check_sha256(digest) == digest.lower()
    with pytest.raises(ValidationError):
        check_sha256("xyz")
