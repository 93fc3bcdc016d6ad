"""Validated identifiers, checked once at the edges so the inside never re-checks them.

Each identifier has a ``check_*`` function that returns the normalized value or
raises :class:`shared.errors.ValidationError`, and an ``Annotated`` type that
runs the same function when a pydantic model is built. The functions live in
:mod:`shared.id_checks`, which does not import pydantic.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator, WithJsonSchema

from shared.id_checks import (
    _KEY_RE,
    _MAX_PATH,
    _USER_RE,
    _VERSION_RE,
    MAX_ID,
    MAX_PATH_SEGMENT_BYTES,
    check_fingerprint,
    check_key,
    check_relpath,
    check_sha256,
    check_user_name,
    check_version,
)

__all__ = [
    "MAX_ID",
    "MAX_PATH_SEGMENT_BYTES",
    "CommitteeName",
    "EventId",
    "Fingerprint",
    "Id",
    "ProjectKey",
    "RelPath",
    "Sha256",
    "TaskId",
    "UserName",
    "Version",
    "check_fingerprint",
    "check_key",
    "check_relpath",
    "check_sha256",
    "check_user_name",
    "check_version",
]


def _committee(value: str) -> str:
    return check_key(value, what="committee name")


def _schema(pattern: str | None = None, *, max_length: int, **extra: object) -> WithJsonSchema:
    """The JSON schema of an identifier, so generated clients and fuzzers know its format
    (the check function above stays the one that decides, with its clearer message)."""
    schema: dict[str, object] = {"type": "string", "minLength": 1, "maxLength": max_length}
    if pattern is not None:
        schema["pattern"] = pattern
    schema.update(extra)
    return WithJsonSchema(schema)


ProjectKey = Annotated[str, AfterValidator(check_key), _schema(_KEY_RE.pattern, max_length=64)]
CommitteeName = Annotated[str, AfterValidator(_committee), _schema(_KEY_RE.pattern, max_length=64)]
UserName = Annotated[str, AfterValidator(check_user_name), _schema(_USER_RE.pattern, max_length=64)]
Version = Annotated[str, AfterValidator(check_version), _schema(_VERSION_RE.pattern, max_length=64)]
RelPath = Annotated[
    str,
    AfterValidator(check_relpath),
    _schema(
        r"^[^/\\\x00-\x1f][^\\\x00-\x1f]*$",
        max_length=_MAX_PATH,
        description="a relative path inside the release: '/' separated, no '.' or '..' parts",
    ),
]
Fingerprint = Annotated[
    str,
    AfterValidator(check_fingerprint),
    _schema("^(0[xX])?[0-9A-Fa-f ]{40,}$", max_length=60, description="40 hex characters"),
]
Sha256 = Annotated[str, AfterValidator(check_sha256), _schema("^[0-9a-fA-F]{64}$", max_length=64)]

Id = Annotated[int, Ge(1), Le(MAX_ID)]
"""A database id, revision or task number: 1 to :data:`MAX_ID`."""
EventId = Annotated[int, Ge(0), Le(MAX_ID)]
"""An event id, or 0 for 'before the first event'."""
TaskId = Id
