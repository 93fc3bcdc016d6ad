"""``atr projects``, ``releases``, ``release create|show|transition``, ``upload``, ``revisions``,
``download`` and ``status``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import (
    TASK_HEADERS,
    Progress,
    echo_json,
    note,
    show_release,
    show_revision,
    table,
    task_rows,
    when,
)
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.errors import ValidationError
from shared.lifecycle import Phase
from shared.protocol import Project, Release, Revision, Task

RECENT_TASKS = 10
"""How many tasks ``atr status`` shows."""


@click.command()
@json_option
@pass_state
def projects(state: CliState, *, as_json: bool) -> None:
    """List the projects."""

    async def work(client: AgentClient) -> list[Project]:
        return await client.list_projects()

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(
        ("key", "name", "committee"),
        ((p.key, p.name, p.committee) for p in found),
        empty="no projects",
    )


def _release_rows(releases: list[Release]) -> list[tuple[str, ...]]:
    return [
        (r.version, r.phase, str(r.latest_revision or "-"), when(r.updated_at), r.created_by)
        for r in releases
    ]


RELEASE_HEADERS = ("version", "phase", "rev", "updated", "created by")


@click.command()
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def releases(state: CliState, *, project: str, as_json: bool) -> None:
    """List a project's releases."""

    async def work(client: AgentClient) -> list[Release]:
        return await client.list_releases(project)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(RELEASE_HEADERS, _release_rows(found), empty=f"no releases of {project}")


@click.group()
def release() -> None:
    """Create, show and move releases."""


def _print_release(found: Release, as_json: bool) -> None:
    if as_json:
        echo_json(found)
    else:
        show_release(found)


@release.command("create")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def release_create(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """Create a release (it starts in phase compose)."""

    async def work(client: AgentClient) -> Release:
        return await client.create_release(project, version)

    _print_release(state.run(work), as_json)


@release.command("show")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def release_show(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """Show one release."""

    async def work(client: AgentClient) -> Release:
        return await client.get_release(project, version)

    _print_release(state.run(work), as_json)


@release.command("transition")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("phase", type=click.Choice([p.value for p in Phase]))
@click.option("--reason", default="", help="Why; kept in the event log.")
@json_option
@pass_state
def release_transition(
    state: CliState, *, project: str, version: str, phase: str, reason: str, as_json: bool
) -> None:
    """Move a release to PHASE (exit 6 if the lifecycle does not allow it)."""

    async def work(client: AgentClient) -> Release:
        return await client.transition(project, version, Phase(phase), reason)

    _print_release(state.run(work), as_json)


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--message", "-m", default="", help="The revision's message.")
@json_option
@pass_state
def upload(
    state: CliState,
    *,
    project: str,
    version: str,
    files: tuple[Path, ...],
    message: str,
    as_json: bool,
) -> None:
    """Upload FILES and make one new revision of the release with them.

    Each file goes in under its own name (``dist/a.tar.gz`` and ``../a.tar.gz`` both become
    ``a.tar.gz``; stderr says so), on top of the latest revision's files. Progress goes to
    stderr when it is a terminal.
    """
    renamed = [(str(f), f.name) for f in files if str(f) != f.name]
    if renamed:
        note("each file goes into the release under its own name:")
        for given, name in renamed:
            note(f"  {given} → {name}")
    progress = Progress().reporter()

    async def work(client: AgentClient) -> Revision:
        return await client.upload_files(
            project, version, files, progress=progress, message=message
        )

    revision = state.run(work)
    if as_json:
        echo_json(revision)
    else:
        show_revision(revision)


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def revisions(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """List a release's revisions."""

    async def work(client: AgentClient) -> list[Revision]:
        return await client.list_revisions(project, version)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(
        ("rev", "files", "created", "by", "message"),
        (
            (str(r.number), str(len(r.files)), when(r.created_at), r.created_by, r.message)
            for r in found
        ),
        empty=f"no revisions of {project} {version}",
    )


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@click.argument("path")
@click.option("--revision", "number", type=click.IntRange(min=1), help="Default: the latest.")
@click.option(
    "--output",
    "-o",
    default=".",
    help="A file, or an existing folder (default: the current folder).",
)
@pass_state
def download(
    state: CliState, *, project: str, version: str, path: str, number: int | None, output: str
) -> None:
    """Download one file of a revision."""
    dest = Path(output)
    if output.endswith(("/", os.sep)) and not dest.is_dir():
        raise ValidationError(f"{output} is not an existing folder")
    progress = Progress()

    def report(received: int, total: int) -> None:
        progress(path, received, total)

    async def work(client: AgentClient) -> Path:
        return await client.download_file(
            project,
            version,
            "latest" if number is None else number,
            path,
            dest,
            progress=report if progress.enabled else None,
        )

    click.echo(str(state.run(work)))


@click.command()
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION, required=False)
@json_option
@pass_state
def status(state: CliState, *, project: str, version: str | None, as_json: bool) -> None:
    """Where a release stands (phase, latest files, recent tasks), or a whole project."""
    if version is None:
        _project_status(state, project=project, as_json=as_json)
    else:
        _release_status(state, project=project, version=version, as_json=as_json)


def _recent(tasks: list[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: t.id, reverse=True)[:RECENT_TASKS]


def _release_status(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    async def work(client: AgentClient) -> dict[str, Any]:
        found = await client.get_release(project, version)
        latest = None
        if found.latest_revision is not None:
            latest = await client.get_revision(project, version, found.latest_revision)
        tasks = await client.list_tasks(project=project, version=version)
        return {"release": found, "revision": latest, "tasks": _recent(tasks)}

    report = state.run(work)
    if as_json:
        echo_json(report)
        return
    show_release(report["release"])
    click.echo()
    if report["revision"] is None:
        click.echo("no revision yet: `atr upload` adds files")
    else:
        show_revision(report["revision"])
    click.echo()
    click.echo("recent tasks:")
    table(TASK_HEADERS, task_rows(report["tasks"]), empty="  none")


def _project_status(state: CliState, *, project: str, as_json: bool) -> None:
    async def work(client: AgentClient) -> dict[str, Any]:
        found = await client.get_project(project)
        all_releases = await client.list_releases(project)
        tasks = await client.list_tasks(project=project)
        return {"project": found, "releases": all_releases, "tasks": _recent(tasks)}

    report = state.run(work)
    if as_json:
        echo_json(report)
        return
    found: Project = report["project"]
    click.echo(f"{found.key}: {found.name} (committee {found.committee})")
    click.echo()
    table(RELEASE_HEADERS, _release_rows(report["releases"]), empty="no releases")
    click.echo()
    click.echo("recent tasks:")
    table(TASK_HEADERS, task_rows(report["tasks"]), empty="  none")


def _add_distribution_commands() -> None:
    """``atr release announce`` and ``archive`` live with the distribution commands."""
    from shared.cli.cmd_distribute import announce, archive  # noqa: PLC0415

    release.add_command(announce)
    release.add_command(archive)
    from shared.cli.cmd_triggers import release_next  # noqa: PLC0415

    release.add_command(release_next)


_add_distribution_commands()
