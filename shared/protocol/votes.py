"""Wire models of release votes, ballots and mail (issue 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from shared.ids import ProjectKey, RelPath, Version
from shared.protocol.models import Model

BallotValue = Literal["+1", "0", "-1"]
VoteMailFrom = Literal["agent", "release_manager"]
"""Who a project's ``[VOTE]`` mail comes from: ``agent`` — the agent's address, with Reply-To
the list and the release manager; ``release_manager`` — From the release manager (Sender:
the agent), Reply-To the list."""
SourceRef = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/+@~^:-]{0,199}$",
        description="a git tag, branch or commit (e.g. 'v1.2.0', 'rel/1.2.0', a commit id)",
    ),
]
HttpUrl = Annotated[
    str, Field(pattern=r"^https?://[^\s<>\"]+$", max_length=2048, description="an http(s) URL")
]
BallotSource = Literal["desktop", "api", "email"]
"""Where a ballot came from: ``desktop`` — signed and cast from a desktop login session;
``api`` — signed (with GnuPG or a script) and cast with an API token, e.g. ``atr vote cast``;
``email`` — a reply on the vote's list."""
VoteOutcome = Literal["open", "passed", "failed", "cancelled"]
VoteRound = Literal["project", "incubator"]


MAX_VOTE_HOURS = 30 * 24
"""No vote lasts longer than 30 days."""


class Tally(Model):
    """Counts per value, binding and non-binding apart. The shape of `atr vote status --json`."""

    outcome: VoteOutcome
    ends_at: datetime
    binding: dict[BallotValue, int]
    non_binding: dict[BallotValue, int]


class BallotOut(Model):
    voter: str
    value: BallotValue
    binding: bool
    source: BallotSource
    comment: str
    fingerprint: str | None
    cast_at: datetime
    superseded: bool


class VoteOut(Model):
    """A vote (one round) with its live tally and every ballot, superseded ones included."""

    id: int
    project: ProjectKey
    version: Version
    revision: int
    round: VoteRound
    list_address: str
    security: bool
    started_by: str
    started_at: datetime
    ends_at: datetime
    tally: Tally
    ballots: list[BallotOut]
    candidate_url: str
    keys_url: str
    decided_at: datetime | None = None
    reason: str = Field(default="", description="why it passed or failed, once decided")
    source_ref: str | None = Field(default=None, description="the tag or commit it was built from")
    source_url: str | None = None
    release_notes_url: str | None = None
    thread_url: str | None = Field(
        default=None, description="the vote's thread in the list archive, once known"
    )


class VoteStart(Model):
    """Start the vote on the release's latest revision (a candidate without blockers)."""

    hours: float | None = Field(
        default=None, gt=0, description="default: the project's vote_min_hours (at most 720)"
    )
    security: bool = Field(
        default=False, description="a security release voted on the private list (may be shorter)"
    )
    round: VoteRound = "project"
    source_ref: SourceRef | None = Field(
        default=None, description="the tag or commit the candidate was built from (in [VOTE])"
    )
    source_url: HttpUrl | None = Field(
        default=None, description="where that source is: the repository, the tag or the commit"
    )
    release_notes_url: HttpUrl | None = Field(
        default=None,
        description="the release notes or CHANGES (else a CHANGES/RELEASE-NOTES file of the "
        "revision is linked)",
    )


class BallotContent(Model):
    """What a voter signs: the text inside the clear-signed ballot is this model as JSON."""

    project: ProjectKey
    version: Version
    revision: int
    value: BallotValue
    reviewed: dict[RelPath, str] = Field(description="artifact path → SHA-512 the voter checked")
    comment: str = ""
    binding: bool | None = Field(
        default=None,
        description="the voter's claim that the ballot is binding; refused if it does not hold",
    )


class BallotCast(Model):
    """A clear-signed ballot (the armored OpenPGP cleartext signature of a BallotContent JSON)."""

    signed: str


class MailSource(Model):
    """Email ballots to read: the raw text of an mbox, or a Pony Mail thread.lua JSON document."""

    format: Literal["mbox", "ponymail"]
    content: str


class MailImportResult(Model):
    counted: int
    ignored: list[str] = Field(description="why each message was not counted")
    tally: Tally


class VoteSettings(Model):
    """A project's vote settings: where vote mail goes and the shortest vote it allows."""

    dev_list: str = Field(description="votes and results go here")
    private_list: str = Field(description="security release votes go here")
    vote_min_hours: int = Field(ge=1, description="the default and shortest vote, in hours")
    vote_mail_from: VoteMailFrom = Field(
        default="agent", description="who the [VOTE] mail comes from (see VoteMailFrom)"
    )


class VoteSettingsUpdate(Model):
    """Change some of a project's vote settings (``None``: leave as it is)."""

    dev_list: str | None = None
    private_list: str | None = None
    vote_min_hours: int | None = Field(default=None, ge=1, le=MAX_VOTE_HOURS)
    vote_mail_from: VoteMailFrom | None = None


class OutboxItem(Model):
    """An email in the agent's outbox."""

    id: int
    kind: str
    project: str | None
    version: str | None
    message_id: str
    sender: str
    recipients: list[str]
    subject: str
    state: Literal["queued", "sent", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
