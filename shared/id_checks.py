"""The identifier checks of :mod:`shared.ids`, without pydantic.

Each ``check_*`` function returns the normalized value or raises
:class:`shared.errors.ValidationError`. :mod:`shared.ids` re-exports them with the
``Annotated`` types that run them when a pydantic model is built; code that needs only
the checks (the compliance checks of ``atr check``) imports them from here, so it does
not import pydantic (0.08 s of a cold process).
"""

from __future__ import annotations

import re
import unicodedata

from shared.errors import ValidationError

_KEY_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,63}$")
_HEX40_RE = re.compile(r"^[0-9A-F]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_PATH = 1024
"""The longest release path, in bytes of UTF-8 (checks link each file under its path, below
the agent's data dir: the whole must stay well under the system's 4096-byte limit)."""
MAX_PATH_SEGMENT_BYTES = 255
"""The longest file or folder name of a release path, in bytes of UTF-8: what Linux, macOS
and Windows file systems (and tar's ustar names) store; the checks and voters' desktops
write each file under its name."""

MAX_ID = 2**63 - 1
"""The largest id, number or count the protocol carries (a signed 64-bit integer, as the
databases store them): anything larger is refused as invalid input, never a 500."""


def check_key(value: str, *, what: str = "project key") -> str:
    """A project or committee key: lower-case letters, digits and dashes, starting with a letter."""
    if not _KEY_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid {what}",
            hint="use lower-case letters, digits and '-', starting with a letter (at most 64)",
        )
    return value


def check_user_name(value: str) -> str:
    """A user name, as the ASF's LDAP ids: lower case, digits, '_', '.', '-'."""
    if not _USER_RE.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid user name",
            hint="use lower-case letters, digits, '_', '.' and '-' (at most 64)",
        )
    return value


def check_version(value: str) -> str:
    """A release version such as ``1.2.0``, ``2.0.0-M1`` or ``1.0.0-rc1``."""
    if not _VERSION_RE.fullmatch(value) or ".." in value:
        raise ValidationError(
            f"{value!r} is not a valid release version",
            hint="use letters, digits and . + _ ~ - (at most 64), starting with a letter or digit",
        )
    return value


def check_relpath(value: str) -> str:
    """A relative path inside a release: no ``..``, not absolute, NFC-normalized, '/' separated,
    at most 1024 bytes, each name at most :data:`MAX_PATH_SEGMENT_BYTES` (255) bytes."""
    if not value or len(value.encode("utf-8")) > _MAX_PATH:
        raise ValidationError(
            f"path must have 1 to {_MAX_PATH} bytes (UTF-8), got {len(value.encode('utf-8'))}"
        )
    if unicodedata.normalize("NFC", value) != value:
        raise ValidationError(f"path {value!r} is not in Unicode NFC form")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationError(f"path {value!r} contains control characters")
    if "\\" in value:
        raise ValidationError(f"path {value!r} uses '\\'; separate folders with '/'")
    if value.startswith("/"):
        raise ValidationError(f"path {value!r} is absolute; paths are relative to the release")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValidationError(f"path {value!r} has an empty, '.' or '..' segment")
    for part in parts:
        size = len(part.encode("utf-8"))
        if size > MAX_PATH_SEGMENT_BYTES:
            raise ValidationError(
                f"the name {part[:40]!r}… in path is {size} bytes long; a file or folder name "
                f"may have at most {MAX_PATH_SEGMENT_BYTES} bytes (UTF-8)",
                hint="file systems cannot store longer names: shorten it",
            )
    return value


def check_fingerprint(value: str) -> str:
    """An OpenPGP v4 fingerprint, normalized to 40 upper-case hex characters without spaces."""
    normalized = value.replace(" ", "").upper()
    if normalized.startswith("0X"):
        normalized = normalized[2:]
    if not _HEX40_RE.fullmatch(normalized):
        raise ValidationError(f"{value!r} is not an OpenPGP fingerprint (40 hex characters)")
    return normalized


def check_sha256(value: str) -> str:
    """A SHA-256 digest in lower-case hex."""
    normalized = value.lower()
    if not _SHA256_RE.fullmatch(normalized):
        raise ValidationError(f"{value!r} is not a SHA-256 digest (64 hex characters)")
    return normalized
