"""``atr keys list|add|import|revoke|file``: a project's signing keys and its KEYS file."""

from __future__ import annotations

from pathlib import Path

import click

from shared.cli.options import PROJECT, json_option
from shared.cli.output import echo_json, table, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.client.keys import read_key_text
from shared.protocol.keys import KeyRevoked, KeysImportResult, ProjectKeyOut

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.group()
def keys() -> None:
    """A project's signing keys and its KEYS file."""


def _kind(key: ProjectKeyOut) -> str:
    return f"{key.algorithm} {key.bits}" if key.bits else key.algorithm


def _show_key(key: ProjectKeyOut) -> None:
    click.echo(f"{key.fingerprint}  {key.state}")
    for uid in key.user_ids:
        click.echo(f"  uid:      {uid}")
    click.echo(f"  key:      {_kind(key)}, created {when(key.created_at)}")
    if key.expires_at is not None:
        click.echo(f"  expires:  {when(key.expires_at)}")
    if key.revoked_at is not None:
        click.echo(f"  revoked:  {when(key.revoked_at)} ({key.revocation_reason or 'no reason'})")
    if key.flags:
        click.echo(f"  flags:    {', '.join(key.flags)}")
    click.echo(f"  owner:    {key.owner or '-'}; added {when(key.added_at)} by {key.added_by}")


@keys.command("list")
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def keys_list(state: CliState, *, project: str, as_json: bool) -> None:
    """List the project's keys in KEYS order, with their state and flags."""

    async def work(client: AgentClient) -> list[ProjectKeyOut]:
        return await client.list_project_keys(project)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(
        ("fingerprint", "state", "key", "user id", "owner", "flags"),
        (
            (
                k.fingerprint,
                k.state,
                _kind(k),
                k.user_ids[0] if k.user_ids else "-",
                k.owner or "-",
                ",".join(k.flags),
            )
            for k in found
        ),
        empty=f"project {project} has no keys",
    )


@keys.command("add")
@click.argument("project", type=PROJECT)
@click.argument("key_file", metavar="KEY.asc", type=_FILE)
@json_option
@pass_state
def keys_add(state: CliState, *, project: str, key_file: Path, as_json: bool) -> None:
    """Publish one ASCII-armored public key to the project's KEYS.

    The key must belong to a committer of the project (a committer publishes their own
    key; a PMC member anyone's) and pass the key policy: RSA of at least 2048 bits, not
    expired, not revoked.
    """
    armored = read_key_text(key_file, what="key file")

    async def work(client: AgentClient) -> ProjectKeyOut:
        return await client.add_project_key(project, armored)

    added = state.run(work)
    if as_json:
        echo_json(added)
        return
    click.echo(f"key {added.fingerprint} is in the KEYS of {project}")
    _show_key(added)


@keys.command("import")
@click.argument("project", type=PROJECT)
@click.argument("keys_file", metavar="KEYS_FILE", type=_FILE)
@json_option
@pass_state
def keys_import(state: CliState, *, project: str, keys_file: Path, as_json: bool) -> None:
    """Import a whole KEYS file, block by block (PMC).

    Every key GnuPG can read is kept — expired, weak and revoked ones too, flagged —
    and every block that cannot be read is reported. With --json prints
    {"imported": [FINGERPRINT, ...], "skipped": [{"block": N, "reason": TEXT}, ...]}.
    """
    text = read_key_text(keys_file, what="KEYS file")

    async def work(client: AgentClient) -> KeysImportResult:
        return await client.import_keys(project, text)

    result = state.run(work)
    if as_json:
        echo_json(result)
        return
    click.echo(
        f"imported {len(result.imported)} key(s) into {project}; "
        f"skipped {len(result.skipped)} block(s)"
    )
    for fingerprint in result.imported:
        click.echo(f"  imported  {fingerprint}")
    for skipped in result.skipped:
        click.echo(f"  skipped   block {skipped.block}: {skipped.reason}")


@keys.command("revoke")
@click.argument("project", type=PROJECT)
@click.argument("revocation_file", metavar="REVOCATION.asc", type=_FILE)
@click.option("--reason", default="", help="Why the key is revoked (kept with the key).")
@json_option
@pass_state
def keys_revoke(
    state: CliState, *, project: str, revocation_file: Path, reason: str, as_json: bool
) -> None:
    """Revoke a key of the project with its revocation certificate.

    REVOCATION.asc is a certificate from 'gpg --armor --gen-revoke KEY' (or the one GnuPG
    keeps in openpgp-revocs.d), or the key exported with its revocation signature. The
    key stays in KEYS with its revocation; releases it signed are flagged.
    """
    text = read_key_text(revocation_file, what="revocation file")

    async def work(client: AgentClient) -> KeyRevoked:
        return await client.revoke_key(project, text, reason=reason)

    revoked = state.run(work)
    if as_json:
        echo_json(revoked)
        return
    click.echo(f"key {revoked.key.fingerprint} of {project} is revoked")
    _show_key(revoked.key)
    releases = revoked.flagged.releases
    if releases:
        click.echo(f"releases signed by it, now flagged: {', '.join(releases)}")
    else:
        click.echo("no release of the project carries a signature by it")


@keys.command("file")
@click.argument("project", type=PROJECT)
@click.option("-o", "--output", type=_FILE, help="Write it to this file instead of stdout.")
@pass_state
def keys_file(state: CliState, *, project: str, output: Path | None) -> None:
    """Print the project's generated KEYS file (public; no token needed)."""

    async def work(client: AgentClient) -> str:
        return await client.get_keys_file(project)

    text = state.run(work)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)
