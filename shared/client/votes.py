"""The votes part of :class:`shared.client.AgentClient` (a mixin it inherits).

* :meth:`VotesMethods.start_vote` — ``POST /projects/{p}/releases/{v}/vote``
* :meth:`VotesMethods.get_vote` / :meth:`VotesMethods.list_release_votes` — the vote(s)
* :meth:`VotesMethods.vote_tally` — ``GET .../vote/tally`` (the ``atr vote status --json`` shape)
* :meth:`VotesMethods.cast_ballot` — a clear-signed ballot (see :func:`sign_ballot`)
* :meth:`VotesMethods.import_mail` — email ballots from an mbox or a Pony Mail thread
* :meth:`VotesMethods.list_votes` — ``GET /votes?state=open``
* :meth:`VotesMethods.vote_settings`, :meth:`VotesMethods.update_vote_settings` — where vote
  mail goes, the shortest vote

:func:`ballot_for` builds the ballot of a revision from the SHA-512s the voter
computed on their own copies; :func:`sign_ballot` clear-signs it with a pgpy key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

import pydantic

from shared.client._requests import RequestMethods
from shared.errors import ValidationError
from shared.ids import check_key, check_version
from shared.openpgp.cleartext import clear_sign
from shared.protocol.votes import (
    BallotCast,
    BallotContent,
    BallotOut,
    BallotValue,
    MailImportResult,
    MailSource,
    Tally,
    VoteOut,
    VoteSettings,
    VoteSettingsUpdate,
    VoteStart,
)
from shared.votes import ballot_text

if TYPE_CHECKING:
    import pgpy

    from shared.protocol import Revision

__all__ = ["VotesMethods", "ballot_for", "sign_ballot"]


def _release(project: str, version: str) -> str:
    check_key(project)
    check_version(version)
    return f"/projects/{quote(project, safe='')}/releases/{quote(version, safe='')}"


def ballot_for(
    revision: Revision,
    value: BallotValue,
    *,
    reviewed: Mapping[str, str],
    comment: str = "",
    binding: bool | None = None,
) -> BallotContent:
    """The ballot on ``revision`` with the SHA-512s the voter computed (path → hex digest)."""
    try:
        return BallotContent(
            project=revision.project,
            version=revision.version,
            revision=revision.number,
            value=value,
            reviewed=dict(reviewed),
            comment=comment,
            binding=binding,
        )
    except ValueError as exc:
        raise ValidationError(f"invalid ballot: {exc}") from exc


def sign_ballot(key: pgpy.PGPKey, content: BallotContent, *, passphrase: str | None = None) -> str:
    """The clear-signed text of ``content`` (its canonical JSON), ready for :meth:`cast_ballot`."""
    return clear_sign(key, ballot_text(content), passphrase=passphrase)


class VotesMethods(RequestMethods):
    """Release votes: start, read, cast a signed ballot, import email ballots."""

    if TYPE_CHECKING:
        base_url: str

    async def start_vote(
        self,
        project: str,
        version: str,
        *,
        hours: float | None = None,
        security: bool = False,
        source_ref: str | None = None,
        source_url: str | None = None,
        release_notes_url: str | None = None,
    ) -> VoteOut:
        """Start the vote on the release's latest revision (PMC member or release manager).

        ``source_ref`` (a tag or commit), ``source_url`` and ``release_notes_url`` go into the
        ``[VOTE]`` mail."""
        try:
            body = VoteStart(
                hours=hours,
                security=security,
                source_ref=source_ref,
                source_url=source_url,
                release_notes_url=release_notes_url,
            )
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(f"invalid vote start: {where}: {first['msg']}") from exc
        return await self._call(VoteOut, "POST", _release(project, version) + "/vote", body=body)

    async def get_vote(self, project: str, version: str) -> VoteOut:
        """The release's latest vote, with its live tally and ballots."""
        return await self._call(VoteOut, "GET", _release(project, version) + "/vote")

    async def list_release_votes(self, project: str, version: str) -> list[VoteOut]:
        """Every vote (round) of the release, newest first."""
        return await self._call(list[VoteOut], "GET", _release(project, version) + "/votes")

    async def vote_tally(self, project: str, version: str) -> Tally:
        """The live tally of the release's latest vote."""
        return await self._call(Tally, "GET", _release(project, version) + "/vote/tally")

    async def cast_ballot(self, project: str, version: str, signed: str) -> BallotOut:
        """Cast a clear-signed ballot (see :func:`sign_ballot`)."""
        return await self._call(
            BallotOut,
            "POST",
            _release(project, version) + "/vote/ballots",
            body=BallotCast(signed=signed),
        )

    async def import_mail(
        self, project: str, version: str, content: str, *, format: Literal["mbox", "ponymail"]
    ) -> MailImportResult:
        """Count the email ballots of an mbox or a Pony Mail ``thread.lua`` JSON document."""
        return await self._call(
            MailImportResult,
            "POST",
            _release(project, version) + "/vote/mail",
            body=MailSource(format=format, content=content),
        )

    async def list_votes(
        self, *, project: str | None = None, state: str | None = None
    ) -> list[VoteOut]:
        """Votes, newest first (``state="open"``: the ones running)."""
        params: dict[str, str | int] = {}
        if project is not None:
            params["project"] = check_key(project)
        if state is not None:
            params["state"] = state
        return await self._call(list[VoteOut], "GET", "/votes", params=params)

    async def update_vote_settings(
        self,
        project: str,
        *,
        dev_list: str | None = None,
        private_list: str | None = None,
        vote_min_hours: int | None = None,
    ) -> VoteSettings:
        """Change the project's lists or shortest vote (PMC; never under 72 hours)."""
        check_key(project)
        body = VoteSettingsUpdate(
            dev_list=dev_list, private_list=private_list, vote_min_hours=vote_min_hours
        )
        return await self._call(
            VoteSettings, "PUT", f"/projects/{quote(project, safe='')}/vote-settings", body=body
        )

    async def vote_settings(self, project: str) -> VoteSettings:
        """The project's dev and private lists and its shortest vote."""
        check_key(project)
        return await self._call(
            VoteSettings, "GET", f"/projects/{quote(project, safe='')}/vote-settings"
        )
