"""``atr attestation …``, ``atr verify`` (offline) and ``atr codesign …``.

::

    atr attestation download PROJECT VERSION -o BUNDLE     the release's DSSE envelopes (JSON Lines)
    atr attestation key -o KEYS.pem                        the agent's published keys (public)
    atr attestation show PROJECT VERSION [--json]          who voted, which checks, which key
    atr verify DIR [--keys KEYS] [--attestations BUNDLE] [--agent-key KEYS.pem] [--json]
    atr codesign start PROJECT VERSION windows|macos       sign Windows / Apple files (new revision)
    atr codesign status PROJECT VERSION [--json]
    atr codesign settings PROJECT [--set FILE]             the project's OS signing settings (PMC)
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import echo_json, note, table, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.errors import ValidationError
from shared.protocol.provenance import (
    CodesignOut,
    CodesignStart,
    ReleaseAttestations,
    SigningSettings,
)

__all__ = ["attestation", "codesign", "verify"]

_OUT = click.Path(dir_okay=False, path_type=Path)
_EXIT_HELP = """\b
Exit codes:
  0  valid: signatures, checksums, attestations and subjects all verify
  1  invalid (each problem is named)
  2  could not run (a missing file, no GnuPG)
"""


def _write(output: Path | None, text: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {output}: {exc.strerror or exc}") from exc
    note(f"wrote {output}")


@click.group()
def attestation() -> None:
    """A release's signed attestations and the agent's keys that sign them."""


@attestation.command("download")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("-o", "--output", type=_OUT, help="Write the bundle here instead of stdout.")
@pass_state
def attestation_download(
    state: CliState, *, project: str, version: str, output: Path | None
) -> None:
    """Download the release's attestations: one DSSE envelope per line (*.intoto.jsonl)."""

    async def work(client: AgentClient) -> str:
        return await client.attestation_bundle(project, version)

    _write(output, state.run(work))


@attestation.command("key")
@click.option("-o", "--output", type=_OUT, help="Write the keys here instead of stdout.")
@pass_state
def attestation_key(state: CliState, *, output: Path | None) -> None:
    """Download the agent's attestation keys and certificates (current and retired, PEM)."""

    async def work(client: AgentClient) -> str:
        return await client.published_keys_pem()

    _write(output, state.run(work))


@attestation.command("show")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def attestation_show(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """Show the release's attestations: what each says, which key signed it, valid or not."""

    async def work(client: AgentClient) -> ReleaseAttestations:
        return await client.attestations(project, version)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    rows = []
    for item in found.attestations:
        status = "valid" if item.valid else f"INVALID: {item.problem}"
        rows.append(
            (item.id, item.kind, item.trigger, f"{item.key_fingerprint[:16]}… ({item.key_state})",
             status, when(item.written_at))
        )  # fmt: skip
    table(("id", "kind", "written when", "key", "status", "at"), rows,
          empty="no attestations yet: they are written when the vote passes")  # fmt: skip
    if found.pending:
        note("attestations are being written")
    for item in found.attestations:
        if item.kind == "vote":
            for vote_round in item.statement.get("predicate", {}).get("rounds", []):
                click.echo(f"\nvote ({vote_round.get('round')}): {vote_round.get('outcome')}")
                for b in vote_round.get("ballots", []):
                    mark = " (superseded)" if b.get("superseded") else ""
                    binding = "binding" if b.get("binding") else "non-binding"
                    click.echo(
                        f"  {b.get('value'):>3} {b.get('voter')} ({binding}, {b.get('source')}"
                        f"{', key ' + b['fingerprint'] if b.get('fingerprint') else ''}){mark}"
                    )
        if item.kind == "release":
            checks = item.statement.get("predicate", {}).get("checks", {})
            summary = checks.get("summary", {})
            click.echo(
                f"\nchecks of revision {checks.get('revision')}: "
                + ", ".join(f"{n} {s}" for s, n in summary.items())
                + f"; {len(checks.get('ignored', []))} ignored by rules"
            )
    click.echo(f"\nbundle: {found.bundle_name} ({found.bundle_url})")


@click.command("verify", epilog=_EXIT_HELP)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The project's KEYS file (default: DIR/KEYS).",
)
@click.option(
    "--attestations",
    "bundle",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The attestation bundle (default: the one *.intoto.jsonl in DIR).",
)
@click.option(
    "--agent-key",
    "agent_key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The agent's published keys (default: the one *.pem in DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(
    directory: Path,
    keys_file: Path | None,
    bundle: Path | None,
    agent_key: Path | None,
    as_json: bool,
) -> None:
    """Verify a downloaded release offline: OpenPGP signatures against KEYS, checksums, the
    attestations' signatures against the agent's key, and that every subject is a file here."""
    from shared.provenance.verify import verify_release  # noqa: PLC0415

    report = verify_release(directory, keys_file=keys_file, bundle=bundle, agent_keys=agent_key)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        raise click.exceptions.Exit(report.exit_code)
    if report.could_not_run is not None:
        click.echo(f"error: {report.could_not_run}", err=True)
        if report.hint:
            click.echo(f"hint: {report.hint}", err=True)
        raise click.exceptions.Exit(2)
    colours = {"ok": "green", "warning": "yellow", "error": "red"}
    for finding in report.findings:
        tag = click.style(f"{finding.level.upper():<7}", fg=colours[finding.level], bold=True)
        click.echo(f"{tag} {finding.area:<11} {finding.path}: {finding.message}")
    kinds = ", ".join(f"{a.kind} {'✓' if a.valid else '✗'}" for a in report.attestations)
    click.echo(f"attestations: {kinds or 'none'}")
    if report.valid:
        click.echo(click.style("VALID", fg="green", bold=True) + ": every check passed")
    else:
        click.echo(
            click.style("INVALID", fg="red", bold=True)
            + f": {len(report.errors)} problem{'s' if len(report.errors) != 1 else ''}"
        )
    raise click.exceptions.Exit(report.exit_code)


@click.group()
def codesign() -> None:
    """Windows (Authenticode) and Apple signatures of a release's files, before its vote."""


def _show_run(run: CodesignOut) -> None:
    head = (
        f"{run.kind} signing #{run.id} of {run.project} {run.version}: {run.state} ({run.method})"
    )
    click.echo(head)
    target = f" → revision {run.to_revision}" if run.to_revision else ""
    click.echo(f"revision {run.from_revision}{target}")
    table(("file", "state", "message"), [(f.path, f.state, f.message) for f in run.files],
          empty="no file to sign")  # fmt: skip
    if run.error:
        click.echo(f"error: {run.error}")
    if run.instructions:
        click.echo("\n" + run.instructions)
    if run.resign:
        click.echo(
            "\nthese files changed: sign them again with your OpenPGP key and upload the .asc "
            "files: " + ", ".join(run.resign)
        )


@codesign.command("start")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("kind", type=click.Choice(["windows", "macos"]))
@click.option("--revision", type=click.IntRange(min=1), help="default: the latest")
@json_option
@pass_state
def codesign_start(
    state: CliState, *, project: str, version: str, kind: str, revision: int | None, as_json: bool
) -> None:
    """Sign the release's Windows or macOS files with the agent's code-signing certificate."""

    async def work(client: AgentClient) -> CodesignOut:
        body = CodesignStart(kind="windows" if kind == "windows" else "macos", revision=revision)
        return await client.start_codesign(project, version, body)

    run = state.run(work)
    if as_json:
        echo_json(run)
    else:
        _show_run(run)


@codesign.command("status")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def codesign_status(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """The release's code-signing runs, the latest last."""

    async def work(client: AgentClient) -> list[CodesignOut]:
        return await client.codesign_runs(project, version)

    runs = state.run(work)
    if as_json:
        echo_json(runs)
        return
    if not runs:
        click.echo("no code-signing run")
    for run in runs:
        _show_run(run)
        click.echo()


@codesign.command("settings")
@click.argument("project", type=PROJECT)
@click.option(
    "--set",
    "settings_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Replace them with this JSON file (PMC).",
)
@pass_state
def codesign_settings(state: CliState, *, project: str, settings_file: Path | None) -> None:
    """Show (or replace) the project's Windows and macOS signing settings."""
    body: SigningSettings | None = None
    if settings_file is not None:
        try:
            body = SigningSettings.model_validate_json(settings_file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(f"cannot use {settings_file}: {exc}") from exc

    async def work(client: AgentClient) -> SigningSettings:
        if body is not None:
            return await client.set_signing_settings(project, body)
        return await client.signing_settings(project)

    echo_json(state.run(work))
