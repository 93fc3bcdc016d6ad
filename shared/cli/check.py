"""``atr check DIR [--keys KEYS] [--policy FILE] [--json]``: the compliance checks, offline.

Runs every registered check over the files under DIR (no agent needed) and exits
0 when no blocker stands, 1 when one does, 2 when the checks could not run (a
missing folder, an unreadable keys or policy file, no GnuPG, a check that failed).

Without ``--json`` the results are printed grouped by file, worst first, coloured
on a terminal; passing results are counted but listed only with ``--all``. With
``--json`` one object is printed::

    {"results": [{"check": ID, "path": NAME, "status": "blocker"|"warning"|"note"|"pass",
                  "message": TEXT, "data": {...}}],
     "summary": {"blocker": N, "warning": N, "note": N, "pass": N}}
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import NoReturn

import click

from shared.checks.base import CheckResult, Status
from shared.checks.policy import Policy
from shared.checks.runner import Report, inputs_from_directory, run_checks
from shared.errors import AtrError
from shared.openpgp.gnupg import GPG

__all__ = ["check"]

_COLOURS = {
    Status.BLOCKER: "red",
    Status.WARNING: "yellow",
    Status.NOTE: "cyan",
    Status.PASS: "green",
}
_EXIT_HELP = """\b
Exit codes:
  0  no blocker
  1  at least one blocker
  2  the checks could not run
"""


def _fail(message: str, hint: str | None = None) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    raise click.exceptions.Exit(2)


def _tag(status: Status) -> str:
    return click.style(f"{status.value.upper():<7}", fg=_COLOURS[status], bold=True)


def _print_human(report: Report, *, show_all: bool) -> None:
    by_path: dict[str, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        by_path[result.path].append(result)

    def worst(path: str) -> tuple[int, str]:
        return (min(r.status.rank for r in by_path[path]), path)

    hidden = 0
    for path in sorted(by_path, key=worst):
        shown = [r for r in by_path[path] if show_all or r.status is not Status.PASS]
        hidden += len(by_path[path]) - len(shown)
        if not shown:
            continue
        click.echo(click.style(path or "(release)", bold=True))
        for result in sorted(shown, key=lambda r: r.status.rank):
            ignored = result.data.get("ignored")
            suffix = f"  [ignored: {ignored['reason']}]" if isinstance(ignored, dict) else ""
            click.echo(f"  {_tag(result.status)} {result.check:<12} {result.message}{suffix}")
        click.echo()
    summary = report.summary
    parts = [
        click.style(f"{summary[s.value]} {s.value}", fg=_COLOURS[s], bold=s is Status.BLOCKER)
        for s in Status
    ]
    line = ", ".join(parts)
    if hidden:
        line += f" ({hidden} passing results not shown; --all lists them)"
    click.echo(line)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)


@click.command("check", epilog=_EXIT_HELP)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--keys",
    "keys_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The project's KEYS file (default: DIR/KEYS if there is one).",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A policy file (.toml or .json): limits, podling, ignore rules.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--all", "show_all", is_flag=True, help="Also list passing results.")
def check(
    directory: Path,
    keys_file: Path | None,
    policy_file: Path | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """Check the release artifacts in DIRECTORY, offline: signatures, checksums, paths,
    archives and the other registered checks."""
    if shutil.which(GPG) is None:
        _fail(f"GnuPG ({GPG}) is not installed", "install GnuPG 2.2+ or set ATR_GPG")
    try:
        policy = Policy.load(policy_file) if policy_file is not None else Policy()
        inputs = inputs_from_directory(directory, keys_file, policy)
    except AtrError as error:
        _fail(error.message, error.hint)
    report = run_checks(inputs)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print_human(report, show_all=show_all)
    raise click.exceptions.Exit(report.exit_code)
