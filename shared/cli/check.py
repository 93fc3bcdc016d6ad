"""``atr check DIR [--keys KEYS] [--policy FILE] [--version V] [--json] [--all]``: the
compliance checks, offline.

Runs every registered check over the files under DIR (no agent needed) and exits
0 when no blocker stands, 1 when one does, 2 when the checks could not run (a
missing folder, an unreadable keys or policy file, no GnuPG, a check that failed).

Without ``--json`` the results are printed grouped by artifact (or file), worst
first, coloured on a terminal: an artifact's own results first (the license-header
summary with its counts by reason and by folder), then those about files inside it,
at most ten per check; passing results are counted. ``--all`` lists everything. With
``--json`` one object is printed::

    {"results": [{"check": ID, "path": NAME, "status": "blocker"|"warning"|"note"|"pass",
                  "message": TEXT, "data": {...}}],
     "summary": {"blocker": N, "warning": N, "note": N, "pass": N}}
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from shared.errors import AtrError
from shared.openpgp.gnupg import GPG

if TYPE_CHECKING:
    from shared.checks.base import CheckResult, Status
    from shared.checks.runner import Report

__all__ = ["check"]

_COLOURS = {
    "blocker": "red",
    "warning": "yellow",
    "note": "cyan",
    "pass": "green",
}
"""Colour of each status (by its value: a Status is the same key)."""
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


MEMBER_LIMIT = 10
"""Results about files inside an archive shown per check and artifact, without ``--all``."""


def _top(path: str) -> str:
    return path.split("!/", 1)[0]


def _folder_lines(data: Mapping[str, Any]) -> list[str]:
    """The header summary's reasons and folders, as a few indented lines."""
    lines: list[str] = []
    reasons = data.get("reasons")
    if isinstance(reasons, list) and reasons:
        parts = [f"{r['files']:,} {r['reason']} ({r['status']})" for r in reasons]
        lines.append("by reason: " + ", ".join(parts))
    folders = data.get("folders")
    if isinstance(folders, list) and folders:
        lines.append("by folder:")
        for folder in folders:
            kinds = ", ".join(f"{n:,} {k}" for k, n in folder["reasons"].items())
            lines.append(f"  {folder['pattern']:<48} {folder['files']:>6,}  {kinds}")
    return lines


def _echo_result(result: CheckResult, *, label: str | None = None) -> None:
    ignored = result.data.get("ignored")
    suffix = f"  [ignored: {ignored['reason']}]" if isinstance(ignored, dict) else ""
    text = result.message if label is None else f"{label}: {result.message}"
    click.echo(f"  {_tag(result.status)} {result.check:<15} {text}{suffix}")
    for line in _folder_lines(result.data):
        click.echo(f"{'':27}{line}")


def _print_group(results: list[CheckResult], *, show_all: bool) -> int:
    """Print one artifact's (or file's) results: its own first, then those about its members,
    at most MEMBER_LIMIT per check without ``--all``. Returns how many passing ones were hidden."""
    from shared.checks.base import Status  # noqa: PLC0415 - imported with the checks

    own = sorted((r for r in results if "!/" not in r.path), key=lambda r: r.status.rank)
    members = [r for r in results if "!/" in r.path]
    hidden = 0
    for result in own:
        if show_all or result.status is not Status.PASS:
            _echo_result(result)
        else:
            hidden += 1
    by_check: dict[str, list[CheckResult]] = defaultdict(list)
    for result in members:
        by_check[result.check].append(result)
    for check_results in by_check.values():
        shown = [r for r in check_results if show_all or r.status is not Status.PASS]
        hidden += len(check_results) - len(shown)
        shown.sort(key=lambda r: r.status.rank)
        limit = len(shown) if show_all else MEMBER_LIMIT
        for result in shown[:limit]:
            _echo_result(result)
        if len(shown) > limit:
            left = Counter(r.status.value for r in shown[limit:])
            counts = ", ".join(
                f"{n:,} {status}{'s' if n != 1 else ''}" for status, n in left.items()
            )
            click.echo(
                f"  {'':7} {check_results[0].check:<15} … and {counts} more (--all lists them)"
            )
    return hidden


def _print_human(report: Report, *, show_all: bool) -> None:
    from shared.checks.base import Status  # noqa: PLC0415 - imported with the checks

    groups: dict[str, list[CheckResult]] = defaultdict(list)
    for result in report.results:
        groups[_top(result.path)].append(result)

    def worst(path: str) -> tuple[int, str]:
        return (min(r.status.rank for r in groups[path]), path)

    hidden = 0
    for path in sorted(groups, key=worst):
        if not show_all and all(r.status is Status.PASS for r in groups[path]):
            hidden += len(groups[path])
            continue
        click.echo(click.style(path or "(release)", bold=True))
        hidden += _print_group(groups[path], show_all=show_all)
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
@click.option(
    "--version",
    "release_version",
    metavar="VERSION",
    help="The release's version (default: read from the source archive's name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--all", "show_all", is_flag=True, help="Also list passing results.")
def check(  # noqa: PLR0917 - click passes every option by name
    directory: Path,
    keys_file: Path | None,
    policy_file: Path | None,
    release_version: str | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """Check the release artifacts in DIRECTORY, offline: signatures, checksums, paths,
    archives and the other registered checks."""
    if shutil.which(GPG) is None:
        _fail(f"GnuPG ({GPG}) is not installed", "install GnuPG 2.2+ or set ATR_GPG")
    # What needs no check code starts first, on the other core (shared/checks/prefetch.py);
    # the checks are imported meanwhile.
    from shared.checks.prefetch import prefetching  # noqa: PLC0415

    with prefetching(directory, keys_file):
        from shared.checks.policy import Policy  # noqa: PLC0415
        from shared.checks.runner import inputs_from_directory, run_checks  # noqa: PLC0415

        try:
            policy = Policy.load(policy_file) if policy_file is not None else Policy()
            inputs = inputs_from_directory(directory, keys_file, policy, version=release_version)
        except AtrError as error:
            _fail(error.message, error.hint)
        report = run_checks(inputs)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print_human(report, show_all=show_all)
    raise click.exceptions.Exit(report.exit_code)
