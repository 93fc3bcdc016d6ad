"""The ballot a voter clear-signs: its canonical text, reading it back, and what it must cover.

The text is the JSON of :class:`shared.protocol.votes.BallotContent` with sorted
keys, two-space indentation and ASCII only (non-ASCII characters escaped), so it
has no trailing blanks and survives any mail path unchanged. The agent accepts
any JSON object of that model; this form is what the desktop and ``atr`` make.

A ballot names the SHA-512 of each file the voter reviewed. Every entry must
match the revision voted on; a +1 must cover every *artifact* of the revision
(files that are not signatures or checksums: ``.asc``, ``.sig``, ``.sha512``, ...).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping

import pydantic

from shared.errors import ValidationError
from shared.protocol.votes import BallotContent, BallotSource

__all__ = [
    "SIDECAR_SUFFIXES",
    "SOURCE_TEXT",
    "ballot_text",
    "check_reviewed",
    "is_artifact",
    "parse_ballot_text",
]

SIDECAR_SUFFIXES = (".asc", ".sig", ".sha512", ".sha256", ".sha1", ".sha", ".md5")
"""Files that accompany an artifact (signatures and checksums) rather than being one."""


SOURCE_TEXT: dict[BallotSource, str] = {
    "desktop": "signed in the desktop",
    "api": "signed, cast with an API token (CLI)",
    "email": "email to the list",
}
"""Where a ballot came from, for people (mails, the desktop, ``atr vote status``)."""


def is_artifact(path: str) -> bool:
    """Whether ``path`` is an artifact rather than a signature or checksum file."""
    return not path.lower().endswith(SIDECAR_SUFFIXES)


def ballot_text(content: BallotContent) -> str:
    """The canonical text of a ballot, ready to clear-sign (ends with a line end)."""
    data = content.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def parse_ballot_text(text: str) -> BallotContent:
    """The ballot in a signed text; :class:`ValidationError` naming the problem otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"the signed text is not a JSON ballot: {exc.msg} (line {exc.lineno})",
            hint="sign the ballot text the desktop or 'atr vote ballot' makes",
        ) from exc
    if not isinstance(data, dict):
        raise ValidationError("the signed text must be a JSON object (a ballot)")
    try:
        return BallotContent.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "ballot"
        cause = first.get("ctx", {}).get("error")
        raise ValidationError(
            f"the ballot is not valid: {where}: {cause if cause is not None else first['msg']}"
        ) from exc


def check_reviewed(
    reviewed: Mapping[str, str],
    files: Mapping[str, str],
    *,
    value: str,
) -> None:
    """Check a ballot's ``reviewed`` (path → SHA-512) against the revision's ``files``.

    Every reviewed path must be a file of the revision with that SHA-512; a +1
    must review every artifact. Raises :class:`ValidationError` naming the first
    problem.
    """
    for path, digest in sorted(reviewed.items()):
        expected = files.get(path)
        if expected is None:
            raise ValidationError(f"the ballot reviews {path!r}, which is not in the revision")
        if not secrets.compare_digest(digest.strip().lower(), expected.lower()):
            raise ValidationError(
                f"the ballot's SHA-512 of {path!r} is not the revision's: the voter reviewed "
                "other bytes",
                hint="download the candidate again and verify it before voting",
            )
    if value == "+1":
        missing = sorted(p for p in files if is_artifact(p) and p not in reviewed)
        if missing:
            raise ValidationError(
                f"a +1 must review every artifact; the ballot leaves out {missing[0]!r}"
                + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            )
