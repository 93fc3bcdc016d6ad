"""``atr checks`` (the agent's check report of a revision) and ``atr policy show|set``.

``atr checks PROJECT VERSION [--revision N] [--wait] [--rerun [--everything]] [--all] [--json]``
prints the report grouped by file, worst first (passing results counted, listed
with ``--all``; ignored results carry the rule's reason). ``--rerun`` first asks
the agent to redo the runs whose inputs changed; ``--wait`` waits until every run
has finished. Exit codes: 0 the checks are done and no blocker stands; 1 a
blocker stands; 6 the checks are not finished (or out of date); the usual codes
for errors (see ``atr --help``).

``atr policy show PROJECT [--json]`` prints the project's policy as JSON;
``atr policy set PROJECT [FILE] --reason TEXT`` replaces it with the TOML or JSON
document in FILE (``-`` or none: standard input), validated here first and again
by the agent (PMC only).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import ValidationError as PydanticValidationError

from shared.checks.policy import Policy
from shared.cli.exit_codes import ExitCode
from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import echo_json, note, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.errors import ValidationError
from shared.protocol.checks import CheckReport, CheckResultOut, PolicyOut, PolicyUpdate

__all__ = ["checks", "load_policy_document", "policy"]

_COLOURS = {"blocker": "red", "warning": "yellow", "note": "cyan", "pass": "green"}
_RANK = {"blocker": 0, "warning": 1, "note": 2, "pass": 3}
POLL_SECONDS = 1.0
MAX_POLICY_BYTES = 1 << 20


def _tag(status: str) -> str:
    return click.style(f"{status.upper():<7}", fg=_COLOURS[status], bold=True)


def show_report(report: CheckReport, *, show_all: bool) -> None:
    """The report in lines for people."""
    click.echo(
        f"checks of {report.project} {report.version} revision {report.revision}: {report.state}"
        + (f", {report.stale} runs out of date" if report.stale else "")
    )
    unfinished = [r for r in report.runs if r.state in ("queued", "running")]
    errors = [r for r in report.runs if r.state == "error"]
    if unfinished:
        click.echo(f"  {len(unfinished)} of {len(report.runs)} runs queued or running")
    for run in errors:
        click.echo(f"  {_tag('blocker')} {run.check} could not run: {run.error or 'unknown error'}")
    click.echo()
    by_path: dict[str, list[CheckResultOut]] = defaultdict(list)
    for result in report.results:
        by_path[result.path].append(result)
    hidden = 0
    for path in sorted(by_path, key=lambda p: (min(_RANK[r.status] for r in by_path[p]), p)):
        shown = [r for r in by_path[path] if show_all or r.status != "pass"]
        hidden += len(by_path[path]) - len(shown)
        if not shown:
            continue
        click.echo(click.style(path or "(release)", bold=True))
        for result in sorted(shown, key=lambda r: _RANK[r.status]):
            suffix = ""
            if result.ignored is not None:
                suffix = f"  [ignored {result.ignored.original_status}: {result.ignored.reason}]"
            click.echo(f"  {_tag(result.status)} {result.check:<15} {result.message}{suffix}")
        click.echo()
    counts = ", ".join(f"{n} {status}" for status, n in report.summary.items())
    extra = f"; {report.ignored} ignored by policy" if report.ignored else ""
    if hidden:
        extra += f" ({hidden} passing results not shown; --all lists them)"
    click.echo(f"{counts}{extra}")
    if report.blocked:
        click.echo("a blocker stands: the release cannot go to the vote")


def _exit_code(report: CheckReport) -> ExitCode:
    if report.blocked:
        return ExitCode.FAILED
    if report.state != "done" or report.stale:
        return ExitCode.CONFLICT
    return ExitCode.OK


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.option("--revision", type=click.IntRange(min=1), help="Default: the latest revision.")
@click.option("--wait", is_flag=True, help="Wait until every run has finished.")
@click.option("--timeout", "wait_timeout", type=float, default=3600.0, show_default=True,
              help="Seconds --wait waits at most.")  # fmt: skip
@click.option("--rerun", is_flag=True, help="First redo the runs whose inputs changed.")
@click.option("--everything", is_flag=True, help="With --rerun: redo every run, reuse nothing.")
@click.option("--all", "show_all", is_flag=True, help="Also list passing results.")
@json_option
@pass_state
def checks(
    state: CliState,
    *,
    project: str,
    version: str,
    revision: int | None,
    wait: bool,
    wait_timeout: float,
    rerun: bool,
    everything: bool,
    show_all: bool,
    as_json: bool,
) -> None:
    """Show the agent's check report of a release revision.

    Exit 0: checks done, no blocker; 1: a blocker stands; 6: not finished or out of date.
    """
    ref: int | Literal["latest"] = revision if revision is not None else "latest"

    async def work(client: AgentClient) -> CheckReport:
        if rerun:
            report = await client.rerun_checks(project, version, ref, everything=everything)
        else:
            report = await client.get_checks(project, version, ref)
        deadline = time.monotonic() + wait_timeout
        while wait and report.state != "done" and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            report = await client.get_checks(project, version, report.revision)
        return report

    report = state.run(work)
    if as_json:
        echo_json(report)
    else:
        show_report(report, show_all=show_all)
    raise click.exceptions.Exit(_exit_code(report))


def load_policy_document(text: str, *, name: str) -> dict[str, Any]:
    """A policy document from TOML or JSON text, validated (``ValidationError`` names the field)."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{name} is neither a JSON object nor TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise ValidationError(f"{name}: {where}: {first['msg']}") from exc
    return policy.model_dump(mode="json", exclude_defaults=True)


def _read_text(file: str | None) -> tuple[str, str]:
    if file is None or file == "-":
        return sys.stdin.read(MAX_POLICY_BYTES + 1), "standard input"
    path = Path(file)
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise ValidationError(f"{file} is too large to be a policy file")
        return path.read_text("utf-8"), file
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the policy file {file}: {exc}") from exc


def _show_policy(out: PolicyOut) -> None:
    who = f" (changed {when(out.updated_at)} by {out.updated_by})" if out.updated_by else ""
    note(f"policy of {out.project}{who}")
    click.echo(json.dumps(out.policy, indent=2, ensure_ascii=False))


@click.group()
def policy() -> None:
    """Show and replace a project's check policy (limits, switches, ignore rules)."""


@policy.command("show")
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def policy_show(state: CliState, *, project: str, as_json: bool) -> None:
    """Print the project's policy (every field)."""

    async def work(client: AgentClient) -> PolicyOut:
        return await client.get_policy(project)

    out = state.run(work)
    if as_json:
        echo_json(out)
    else:
        _show_policy(out)


@policy.command("set")
@click.argument("project", type=PROJECT)
@click.argument("file", required=False)
@click.option("--reason", default="", help="Why the policy changes (kept in the event log).")
@json_option
@pass_state
def policy_set(
    state: CliState, *, project: str, file: str | None, reason: str, as_json: bool
) -> None:
    """Replace the project's policy with FILE (TOML or JSON; - or none: standard input). PMC."""
    text, name = _read_text(file)
    document = load_policy_document(text, name=name)

    async def work(client: AgentClient) -> PolicyOut:
        return await client.update_policy(project, PolicyUpdate(policy=document, reason=reason))

    out = state.run(work)
    if as_json:
        echo_json(out)
    else:
        _show_policy(out)
