"""``atr release next``, ``atr waiting`` and ``atr triggers``: what waits for whom, and what
starts releases by itself (docs/triggers.md)."""

from __future__ import annotations

from pathlib import Path

import click

from shared.cli.options import PROJECT, VERSION, json_option
from shared.cli.output import echo_json, table, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient
from shared.errors import ValidationError
from shared.protocol import Task
from shared.protocol.triggers import (
    GITHUB_ISSUER,
    ImportDist,
    ReleaseNext,
    ReleasePractice,
    ReleaseStats,
    TriggerSettings,
    TriggerSettingsUpdate,
    TrustedPublisher,
    TrustedPublisherCreate,
    WaitingItem,
)


def show_next(found: ReleaseNext) -> None:
    rm = f", release manager {found.release_manager}" if found.release_manager else ""
    click.echo(f"{found.project} {found.version}: {found.phase}{rm}")
    if not found.steps:
        click.echo("  nothing waits: the release is done")
    for number, step in enumerate(found.steps, 1):
        who = "waiting" if not step.waiting_for_person else f"waiting for {step.role or 'you'}"
        click.echo(f"  {number}. [{who}] {step.title}")
        if step.detail:
            click.echo(f"     {step.detail}")
        if step.command:
            click.echo(f"     $ {step.command}")


@click.command("next")
@click.argument("project", type=PROJECT)
@click.argument("version", type=VERSION)
@json_option
@pass_state
def release_next(state: CliState, *, project: str, version: str, as_json: bool) -> None:
    """What the release waits for, who can do it, and the command that does it."""

    async def work(client: AgentClient) -> ReleaseNext:
        return await client.release_next(project, version)

    found = state.run(work)
    if as_json:
        echo_json(found)
    else:
        show_next(found)


@click.command()
@json_option
@pass_state
def waiting(state: CliState, *, as_json: bool) -> None:
    """The steps waiting for you, in every release in progress."""

    async def work(client: AgentClient) -> list[WaitingItem]:
        return await client.waiting()

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    table(
        ("project", "version", "phase", "step", "since", "command"),
        (
            (w.project, w.version, w.phase, w.step.title, when(w.since), w.step.command)
            for w in found
        ),
        empty="nothing waits for you",
    )


@click.group()
def triggers() -> None:
    """Trusted publishers, webhooks, the dist watch, imports, practice and statistics."""


def _rules(found: list[TrustedPublisher]) -> None:
    table(
        ("id", "repository", "workflow", "refs", "environment", "issuer"),
        (
            (r.id, r.repository, r.workflow, " ".join(r.refs), r.environment or "-", r.issuer)
            for r in found
        ),
        empty="no trusted publisher",
    )


@triggers.command("publishers")
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def publishers(state: CliState, *, project: str, as_json: bool) -> None:
    """The workflows trusted to publish the project's candidates."""

    async def work(client: AgentClient) -> list[TrustedPublisher]:
        return await client.trusted_publishers(project)

    found = state.run(work)
    if as_json:
        echo_json(found)
    else:
        _rules(found)


@triggers.command("publisher-add")
@click.argument("project", type=PROJECT)
@click.option("--repository", required=True, help="owner/name on GitHub")
@click.option(
    "--workflow", required=True, help="the file under .github/workflows/, e.g. release.yml"
)
@click.option("--ref", "refs", multiple=True, help="allowed refs (fnmatch); default refs/tags/*")
@click.option("--environment", help="the deployment environment the job must run in")
@click.option("--issuer", default=GITHUB_ISSUER, show_default=True)
@json_option
@pass_state
def publisher_add(
    state: CliState,
    *,
    project: str,
    repository: str,
    workflow: str,
    refs: tuple[str, ...],
    environment: str | None,
    issuer: str,
    as_json: bool,
) -> None:
    """PMC: trust a workflow to publish candidates with its OIDC token (no stored secret)."""
    rule = TrustedPublisherCreate(
        issuer=issuer,
        repository=repository,
        workflow=workflow,
        refs=list(refs) or ["refs/tags/*"],
        environment=environment,
    )

    async def work(client: AgentClient) -> TrustedPublisher:
        return await client.add_trusted_publisher(project, rule)

    found = state.run(work)
    if as_json:
        echo_json(found)
    else:
        _rules([found])


@triggers.command("publisher-delete")
@click.argument("project", type=PROJECT)
@click.argument("rule_id", type=click.IntRange(min=1))
@pass_state
def publisher_delete(state: CliState, *, project: str, rule_id: int) -> None:
    """PMC: remove a rule that never handed out a token."""

    async def work(client: AgentClient) -> TrustedPublisher:
        return await client.delete_trusted_publisher(project, rule_id)

    state.run(work)
    click.echo(f"deleted rule {rule_id}")


def _show_settings(found: TriggerSettings) -> None:
    for key, value in found.model_dump().items():
        click.echo(f"{key:18} {'-' if value is None else value}")


@triggers.command("settings")
@click.argument("project", type=PROJECT)
@click.option("--git-url", help="the repository a pushed tag is fetched from")
@click.option("--tag-pattern", help="release tags, with {version} and optionally {rc}")
@click.option(
    "--archive-name", help="the source archive's name, e.g. apache-{project}-{version}-src"
)
@click.option("--release-manager", help="who is asked to sign what a trigger builds")
@click.option("--watch-dist/--no-watch-dist", default=None, help="act on release.toml commits")
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="a file holding the webhook's HMAC secret (stored encrypted)",
)
@json_option
@pass_state
def settings(
    state: CliState,
    *,
    project: str,
    git_url: str | None,
    tag_pattern: str | None,
    archive_name: str | None,
    release_manager: str | None,
    watch_dist: bool | None,
    webhook_secret_file: Path | None,
    as_json: bool,
) -> None:
    """Show the trigger settings; with options (PMC), change them."""
    changing = any(
        v is not None
        for v in (
            git_url,
            tag_pattern,
            archive_name,
            release_manager,
            watch_dist,
            webhook_secret_file,
        )
    )
    secret = None
    if webhook_secret_file is not None:
        try:
            secret = webhook_secret_file.read_text("utf-8").strip()
        except OSError as exc:
            raise ValidationError(f"cannot read {webhook_secret_file}: {exc.strerror}") from exc

    async def work(client: AgentClient) -> TriggerSettings:
        current = await client.trigger_settings(project)
        if not changing:
            return current
        body = TriggerSettingsUpdate(
            git_url=git_url if git_url is not None else current.git_url,
            tag_pattern=tag_pattern or current.tag_pattern,
            archive_name=archive_name or current.archive_name,
            release_manager=release_manager
            if release_manager is not None
            else current.release_manager,
            watch_dist=current.watch_dist if watch_dist is None else watch_dist,
            webhook_secret=secret,
        )
        return await client.set_trigger_settings(project, body)

    found = state.run(work)
    if as_json:
        echo_json(found)
    else:
        _show_settings(found)


@triggers.command("import-dist")
@click.argument("project", type=PROJECT)
@click.option("--from", "release_url", required=True, help="…/dist/release/PROJECT")
@click.option("--dev", "dev_url", help="…/dist/dev/PROJECT")
@json_option
@pass_state
def import_dist(
    state: CliState, *, project: str, release_url: str, dev_url: str | None, as_json: bool
) -> None:
    """Admin: record every past release of a dist folder (a task: follow it with atr watch)."""

    async def work(client: AgentClient) -> Task:
        return await client.import_dist(
            project, ImportDist(release_url=release_url, dev_url=dev_url)
        )

    task = state.run(work)
    if as_json:
        echo_json(task)
    else:
        click.echo(f"task {task.id} queued: atr watch {task.id}")


@triggers.command("practice")
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def practice(state: CliState, *, project: str, as_json: bool) -> None:
    """How the project releases: steps, channels, vote rules, release managers."""

    async def work(client: AgentClient) -> ReleasePractice:
        return await client.release_practice(project)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return
    click.echo(
        f"{found.name} ({found.committee}): {found.releases} releases, {found.imported} imported"
    )
    for number, step in enumerate(found.steps, 1):
        click.echo(f"  {number}. {step}")
    click.echo(
        f"vote: {found.vote_list}, at least {found.vote_min_hours} h; "
        f"binding: {found.binding_voters}"
    )
    for manager in found.release_managers:
        click.echo(
            f"release manager {manager.name}: {manager.releases} (latest {manager.last_version})"
        )
    for release in found.in_progress:
        show_next(release)


@triggers.command("stats")
@click.argument("project", type=PROJECT)
@json_option
@pass_state
def stats(state: CliState, *, project: str, as_json: bool) -> None:
    """Release statistics from the event log (hours from upload to vote, of the vote, …)."""

    async def work(client: AgentClient) -> ReleaseStats:
        return await client.release_stats(project)

    found = state.run(work)
    if as_json:
        echo_json(found)
        return

    def hours(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    table(
        ("version", "phase", "upload→vote h", "vote h", "passed→announced h", "check failures"),
        (
            (
                s.version,
                s.phase,
                hours(s.upload_to_vote_hours),
                hours(s.vote_hours),
                hours(s.passed_to_announced_hours),
                s.check_failures,
            )
            for s in found.releases
        ),
        empty="no releases",
    )
    click.echo(
        "releases per year: " + (", ".join(f"{y}: {n}" for y, n in found.per_year.items()) or "-")
    )
