"""``atr vote start|status|ballot|cast|import-mail|list``: release votes from the command line.

``atr vote status PROJECT VERSION --json`` prints exactly
``{"outcome", "ends_at", "binding": {"+1", "0", "-1"}, "non_binding": {...}}`` — a
fixed interface for scripts and the GitHub Action.

A signed ballot from the command line, with GnuPG::

    atr vote ballot acme-lib 1.0.0 --value=+1 --dir ./downloaded > ballot.json
    gpg --clearsign ballot.json          # writes ballot.json.asc
    atr vote cast acme-lib 1.0.0 ballot.json.asc
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import echo_json, table, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.client.votes import ballot_for
from shared.errors import ValidationError
from shared.protocol import Revision
from shared.protocol.votes import BallotOut, MailImportResult, Tally, VoteOut
from shared.votes import ballot_text
from shared.votes.ballot import check_reviewed

__all__ = ["vote"]

_FILE = click.Path(dir_okay=False, path_type=Path)
MAX_TEXT = 64 * 1024 * 1024


def _counts(tally: Tally) -> str:
    b, n = tally.binding, tally.non_binding
    return (
        f"binding +1: {b['+1']}  0: {b['0']}  -1: {b['-1']}   |   "
        f"non-binding +1: {n['+1']}  0: {n['0']}  -1: {n['-1']}"
    )


def _show(vote: VoteOut) -> None:
    click.echo(f"{vote.project} {vote.version}, revision {vote.revision} — {vote.tally.outcome}")
    click.echo(f"  round:      {vote.round} on {vote.list_address}")
    click.echo(f"  started:    {when(vote.started_at)} by {vote.started_by}")
    click.echo(f"  ends:       {when(vote.ends_at)}")
    click.echo(f"  tally:      {_counts(vote.tally)}")
    if vote.reason:
        click.echo(f"  reason:     {vote.reason}")
    click.echo(f"  candidate:  {vote.candidate_url}")
    if vote.source_ref or vote.source_url:
        click.echo(f"  source:     {' '.join(p for p in (vote.source_ref, vote.source_url) if p)}")
    if vote.thread_url:
        click.echo(f"  thread:     {vote.thread_url}")
    current = [b for b in vote.ballots if not b.superseded]
    table(
        ("  voter", "vote", "binding", "source", "cast"),
        (
            (f"  {b.voter}", b.value, "yes" if b.binding else "no", b.source, when(b.cast_at))
            for b in current
        ),
        empty="  no ballots yet",
    )


@click.group()
def vote() -> None:
    """Release votes: start one, follow the tally, cast a signed ballot, count email votes."""


@vote.command("start")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option(
    "--hours", type=click.FloatRange(min=0, min_open=True), help="Default: the project's."
)
@click.option("--security", is_flag=True, help="A security release, voted on the private list.")
@click.option("--source-ref", metavar="REF", help="The tag or commit it was built from.")
@click.option("--source-url", metavar="URL", help="Where that source is (repository, tag).")
@click.option("--release-notes-url", metavar="URL", help="The release notes or CHANGES.")
@json_option
@pass_state
def vote_start(
    state: CliState,
    *,
    project: str,
    version: str,
    hours: float | None,
    security: bool,
    source_ref: str | None,
    source_url: str | None,
    release_notes_url: str | None,
    as_json: bool,
) -> None:
    """Start the vote on a candidate (PMC member or the release manager); mails [VOTE]
    (with the source reference and links given here, the signers and their keys)."""

    async def work(client: AgentClient) -> VoteOut:
        return await client.start_vote(
            project,
            version,
            hours=hours,
            security=security,
            source_ref=source_ref,
            source_url=source_url,
            release_notes_url=release_notes_url,
        )

    started = state.run(work)
    if as_json:
        echo_json(started)
        return
    _show(started)


@vote.command("status")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def vote_status(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """The live tally of the release's vote.

    With --json prints {"outcome": "open"|"passed"|"failed", "ends_at": ISO-8601,
    "binding": {"+1": N, "0": N, "-1": N}, "non_binding": {...}}.
    """
    if as_json:

        async def tally(client: AgentClient) -> Tally:
            return await client.vote_tally(project, version)

        echo_json(state.run(tally))
        return

    async def full(client: AgentClient) -> VoteOut:
        return await client.get_vote(project, version)

    _show(state.run(full))


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _reviewed(revision: Revision, folder: Path | None) -> dict[str, str]:
    """SHA-512 of the voter's own copies in ``folder`` of the revision's files."""
    if folder is None:
        return {}
    if not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder")
    out: dict[str, str] = {}
    for f in revision.files:
        local = folder / f.path
        if not local.is_file():
            local = folder / Path(f.path).name
        if not local.is_file():
            continue
        digest = _sha512(local)
        if digest != f.sha512.lower():
            raise ValidationError(
                f"your copy {local} differs from the candidate's {f.path} (SHA-512 mismatch)",
                hint="download it again; do not vote +1 on files you could not verify",
            )
        out[f.path] = digest
    if not out:
        raise ValidationError(f"none of the candidate's files is in {folder}")
    return out


@vote.command("ballot")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option(
    "--value",
    type=click.Choice(["+1", "0", "-1"]),
    required=True,
    help="Your vote (write --value=-1 for -1).",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Your downloaded, verified copies of the candidate's files (needed for +1).",
)
@click.option("--comment", default="", help="An optional comment, signed with the ballot.")
@click.option(
    "--binding/--no-binding",
    default=None,
    help="Claim (or decline) a binding vote; the agent refuses a claim that does not hold.",
)
@pass_state
def vote_ballot(
    state: CliState,
    *,
    project: str,
    version: str,
    value: str,
    folder: Path | None,
    comment: str,
    binding: bool | None,
) -> None:
    """Print the ballot to clear-sign (e.g. with 'gpg --clearsign'), then 'atr vote cast' it.

    The ballot names the revision under vote and the SHA-512 of each file in --dir
    (checked against the candidate's).
    """

    async def work(client: AgentClient) -> Revision:
        current = await client.get_vote(project, version)
        return await client.get_revision(project, version, current.revision)

    revision = state.run(work)
    reviewed = _reviewed(revision, folder)
    if value == "+1" and folder is None:
        raise ValidationError(
            "a +1 ballot names the SHA-512 of every artifact you verified: give --dir",
            hint="download and verify the candidate's files, then: atr vote ballot "
            f"{project} {version} --value=+1 --dir DOWNLOADED",
        )
    # the agent's own rules, before anything is signed: a +1 reviews every artifact
    check_reviewed(reviewed, {f.path: f.sha512 for f in revision.files}, value=value)
    content = ballot_for(
        revision,
        value,  # type: ignore[arg-type]
        reviewed=reviewed,
        comment=comment,
        binding=binding,
    )
    click.echo(ballot_text(content), nl=False)


def _read_text(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_TEXT:
            raise ValidationError(f"{path} is larger than {MAX_TEXT} bytes")
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise ValidationError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


@vote.command("cast")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("signed_file", metavar="SIGNED_BALLOT", type=_FILE)
@json_option
@pass_state
def vote_cast(
    state: CliState, *, project: str, version: str, signed_file: Path, as_json: bool
) -> None:
    """Cast a clear-signed ballot (made with 'atr vote ballot' and 'gpg --clearsign')."""
    signed = _read_text(signed_file, "signed ballot")

    async def work(client: AgentClient) -> BallotOut:
        return await client.cast_ballot(project, version, signed)

    cast = state.run(work)
    if as_json:
        echo_json(cast)
        return
    kind = "binding" if cast.binding else "non-binding"
    click.echo(f"{cast.voter} votes {cast.value} ({kind}), signed by {cast.fingerprint}")


@vote.command("import-mail")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("mail_file", metavar="FILE", type=_FILE)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mbox", "ponymail"]),
    help="Default: ponymail for a .json file, else mbox.",
)
@json_option
@pass_state
def vote_import_mail(
    state: CliState,
    *,
    project: str,
    version: str,
    mail_file: Path,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Count the email votes in an mbox or a Pony Mail thread.lua JSON (PMC or RM)."""
    content = _read_text(mail_file, "mail file")
    chosen = fmt or ("ponymail" if mail_file.suffix.lower() == ".json" else "mbox")

    async def work(client: AgentClient) -> MailImportResult:
        return await client.import_mail(
            project,
            version,
            content,
            format="ponymail" if chosen == "ponymail" else "mbox",
        )

    result = state.run(work)
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"counted {result.counted} email ballot(s); ignored {len(result.ignored)} message(s)"
    )
    for why in result.ignored:
        click.echo(f"  ignored  {why}")
    click.echo(f"tally: {_counts(result.tally)}")


@vote.command("list")
@click.option("--project", type=PROJECT, help="Only this project's votes.")
@click.option(
    "--state",
    "vote_state",
    type=click.Choice(["open", "passed", "failed", "cancelled"]),
    help="Only votes in this state.",
)
@json_option
@pass_state
def vote_list(
    state: CliState, *, project: str | None, vote_state: str | None, as_json: bool
) -> None:
    """List votes, newest first."""

    async def work(client: AgentClient) -> list[VoteOut]:
        return await client.list_votes(project=project, state=vote_state)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(
        ("project", "version", "round", "outcome", "ends", "binding +1/0/-1"),
        (
            (
                v.project,
                v.version,
                v.round,
                v.tally.outcome,
                when(v.ends_at),
                "/".join(str(v.tally.binding[k]) for k in ("+1", "0", "-1")),
            )
            for v in found
        ),
        empty="no votes",
    )
