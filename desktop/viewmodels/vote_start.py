"""Moving a release to its vote: what the ``[VOTE]`` mail says about where it came from.

The release manager may give the tag or commit the candidate was built from, where that
source is (the repository, the tag or the commit), and the release notes; each is
optional and checked here with the same model the agent takes
(:class:`~shared.protocol.votes.VoteStart`), so a wrong value is named before anything is
sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError as PydanticValidationError

from desktop.errors import DesktopError
from shared.protocol.votes import VoteStart

FIELD_NAMES = {
    "source_ref": "Source tag or commit",
    "source_url": "Source URL",
    "release_notes_url": "Release notes",
}
"""What the dialog calls each field (its problems name it so)."""


@dataclass(frozen=True, slots=True)
class VoteStartDraft:
    """The fields of the vote dialog as typed (blank: not given)."""

    source_ref: str = ""
    source_url: str = ""
    release_notes_url: str = ""

    def request(self) -> VoteStart:
        """The request the agent takes; :class:`DesktopError` naming the first wrong field."""
        values = {
            name: value.strip() or None
            for name, value in (
                ("source_ref", self.source_ref),
                ("source_url", self.source_url),
                ("release_notes_url", self.release_notes_url),
            )
        }
        try:
            return VoteStart(**values)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first.get("loc") else ""
            label = FIELD_NAMES.get(field, field or "the vote")
            raise DesktopError(f"{label}: {_explain(field)}") from exc


def _explain(field: str) -> str:
    if field == "source_ref":
        return "a git tag, branch or commit id (letters, digits and . _ / + @ ~ ^ : -)"
    return "an http:// or https:// address without spaces"


def vote_start_problem(draft: VoteStartDraft) -> str:
    """What is wrong with the dialog's fields ("" when nothing is)."""
    try:
        draft.request()
    except DesktopError as exc:
        return exc.message
    return ""
