"""``atr-agent``: run the agent and administer it from the host's shell.

Commands that print a token print it as the LAST line of stdout, so scripts
can take it with ``tail -n 1``. Every error is one ``error: ...`` line (plus a
``hint: ...`` line where there is one) on stderr, and exit status 2.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agent import store
from agent.config import Settings, load_settings
from agent.db import models
from agent.db.session import (
    MigrationFailed,
    finish_migration,
    make_engine,
    make_session_factory,
    migrate,
    start_migration,
    transaction,
)
from agent.launcher import importing
from shared import openpgp  # pgpy loads when a command reads or makes a key, not for serve
from shared.atomicfile import PRIVATE_DIR, PRIVATE_FILE, PUBLIC_FILE, write_atomic
from shared.errors import AtrError, ValidationError
from shared.ids import check_key, check_user_name, check_version
from shared.protocol import (
    CommitteeCreate,
    Membership,
    ProjectCreate,
    Role,
    TokenCreate,
    UserCreate,
)
from shared.protocol.distribute import CredentialSet

if TYPE_CHECKING:
    from agent.keys import ProjectKeys

EXIT_ERROR = 2
DEMO_COMMITTEE = "demo"
DEMO_PROJECT = "demo-project"
DEMO_USER = "demo"
DEMO_EMAIL = "demo@example.invalid"
DEMO_KEY_BITS = 3072
DEMO_VOTERS = ("demo-voter1", "demo-voter2")
"""Two more PMC members with keys in DATA_DIR/demo: a demo vote needs three binding +1."""
DEMO_CONFIG = """\
# Written by 'atr-agent demo' for this demo agent only: NOT FOR PRODUCTION.
# A demo vote may last a minute (ASF policy: at least 72 hours), and the announcement
# need not wait for mirrors. Remove this file to get the real defaults back.
vote_min_hours_floor = 0.01
announce_delay_minutes = 0
scheduler_interval_seconds = 1
"""


# --- plumbing ------------------------------------------------------------------------------------


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Print ``error: message`` (and the hint) on stderr and exit with status 2."""
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(EXIT_ERROR)


class _Group(click.Group):
    """A click group that turns the product's errors into one ``error:`` line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtrError as exc:
            fail(exc.message, exc.hint)
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0]
            fail(f"database error: {first}", "check database_url and that the database is up")
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


@dataclass
class _Context:
    data_dir: Path | None
    config_file: Path | None
    overrides: dict[str, Any]

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(
            data_dir=self.data_dir,
            config_file=self.config_file,
            overrides={**self.overrides, **overrides},
        )


@contextmanager
def _database(settings: Settings) -> Iterator[sessionmaker[Session]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine: Engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def _operator(ctx: _Context) -> Iterator[store.Store]:
    """A store with the operator's rights in one transaction."""
    with _database(ctx.settings()) as factory, transaction(factory) as session:
        yield store.Store(session, store.Principal.operator())


def _read_key(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"key file {path} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read key file {path}: {exc}")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in text:
        if "PRIVATE KEY BLOCK" in text:
            fail(f"{path} holds a SECRET key; give the public key", "gpg --armor --export KEYID")
        fail(
            f"{path} is not an ASCII-armored OpenPGP public key",
            "export it with 'gpg --armor --export KEYID > key.asc'",
        )
    return text


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _token_role(session: Session, user: models.User, project: str | None) -> Role:
    if user.is_admin:
        return Role.ADMIN
    roles = {m.committee.name: Role(m.role) for m in user.memberships}
    if project is not None:
        return roles.get(store.project_row(session, project).committee.name, Role.PUBLIC)
    return max(roles.values(), key=lambda r: r.rank, default=Role.PUBLIC)


def _issue(
    s: store.Store,
    *,
    user: str,
    project: str | None,
    role: Role | None,
    label: str,
    days: int,
) -> str:
    row = s.session.scalar(select(models.User).where(models.User.name == user))
    if row is None:
        raise store.NotFound(f"no user named '{user}'", hint="list them with 'atr-agent user list'")
    chosen = role or _token_role(s.session, row, project)
    if chosen is Role.PUBLIC:
        raise ValidationError(
            f"user '{user}' has no role"
            + (f" on project '{project}'" if project else "")
            + "; a token would allow nothing",
            hint="add them to a committee with 'atr-agent user add ... --pmc/--committer'",
        )
    created = s.as_admin().create_token(
        TokenCreate(user=user, project=project, role=chosen, label=label, expires_in_days=days),
        max_days=days,  # the operator at the host's shell sets any lifetime the CLI accepts
    )
    info = created.info
    click.echo(
        f"token {info.id} for {info.user}: role {info.role}"
        + (f", project {info.project}" if info.project else "")
        + f", expires {info.expires_at:%Y-%m-%d}"
    )
    return created.token


# --- the command group ----------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="the agent's data dir (default: $ATR_DATA_DIR or ~/.local/share/atr-agent)",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file (default: DATA_DIR/agent.toml if it exists)",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config_file: Path | None) -> None:
    """The ATR agent: REST API, websocket stream and task workers."""
    ctx.obj = _Context(data_dir=data_dir, config_file=config_file, overrides={})


pass_ctx = click.make_pass_decorator(_Context)


@cli.command()
@click.option("--host", help="address to bind (default 127.0.0.1)")
@click.option("--port", type=int, help="port to listen on (default 8765)")
@click.option("--workers", type=int, help="worker processes (default 2; 0: none)")
@pass_ctx
def serve(ctx: _Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Run the agent: API, websocket and worker processes, until SIGTERM or Ctrl-C."""
    settings = ctx.settings(host=host, port=port, workers=workers)
    _serve(settings)


def _check_listen(host: str, port: int) -> None:
    """Fail with a clear error now if ``host:port`` cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"cannot resolve host {host!r}: {exc.strerror}", "use an IP address such as 127.0.0.1")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            fail(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                "is another agent running there? choose another port with --port",
            )


def _serve(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A database behind the code is migrated in a child process while this one imports
    # the web stack; either way it is reachable and migrated before the server starts.
    migration = start_migration(settings.db_url)
    with importing():
        # Imported here so administrative commands start fast without the web stack.
        import uvicorn  # noqa: PLC0415

        from agent.app import create_app  # noqa: PLC0415

        app = create_app(settings)
    _check_listen(settings.host, settings.port)
    try:
        finish_migration(migration)
    except MigrationFailed as exc:
        fail(str(exc).splitlines()[0], "check database_url and that the database is up")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s agent[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no request URLs in the log
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            fail(
                f"the agent could not start on {settings.host}:{settings.port}",
                "see the log lines above for the cause",
            )
        raise


@cli.command()
@click.option("--workers", type=int, help="worker processes (default: the configured number)")
@pass_ctx
def workers(ctx: _Context, workers: int | None) -> None:
    """Run task workers only (no API), e.g. on a second host sharing PostgreSQL."""
    from agent.engine import supervisor  # noqa: PLC0415 - workers need no admin imports

    settings = ctx.settings(workers=workers)
    argv = [
        "--data-dir", str(settings.data_dir),
        "--database-url", settings.db_url,
        "--workers", str(settings.workers),
        "--lease-seconds", str(settings.lease_seconds),
        "--poll-interval", str(settings.worker_poll_seconds),
        "--max-blob-size", str(settings.max_upload_bytes),
        "--log-level", settings.log_level.upper(),
    ]  # fmt: skip
    sys.exit(supervisor.main(argv))


@cli.command("migrate")
@pass_ctx
def migrate_cmd(ctx: _Context) -> None:
    """Create or upgrade the database schema."""
    settings = ctx.settings()
    with _database(settings):
        pass
    click.echo(f"database is up to date: {make_engine(settings.db_url).url!r}")


@cli.command()
@click.option("--admin", "admin_name", required=True, help="user name of the first admin")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the admin's ASCII-armored OpenPGP public key",
)
@click.option("--email", help="the admin's email (default: from the key's user id)")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@pass_ctx
def bootstrap(ctx: _Context, admin_name: str, key_file: Path, email: str | None, days: int) -> None:
    """Create the data dir, the database and the first admin; print an admin token LAST."""
    check_user_name(admin_name)
    armored = _read_key(key_file)
    if email is None:
        emails = openpgp.key_info(armored).emails
        if not emails:
            fail("the key has no email in its user ids", "give --email")
        email = emails[0]
    with _operator(ctx) as s:
        admins = s.session.scalars(select(models.User).where(models.User.is_admin)).all()
        if admins:
            names = ", ".join(a.name for a in admins)
            fail(
                f"the agent is bootstrapped already (admins: {names})",
                "create more users with 'atr-agent user add', tokens with 'atr-agent token create'",
            )
        admin = s.as_admin()
        admin.create_user(
            UserCreate(name=admin_name, email=email, public_key=armored, is_admin=True)
        )
        click.echo(f"data dir: {ctx.settings().data_dir}")
        click.echo(f"created admin '{admin_name}' <{email}>")
        token = _issue(
            s, user=admin_name, project=None, role=Role.ADMIN, label="bootstrap", days=days
        )
    click.echo(token)


# --- committees and projects ----------------------------------------------------------------------


@cli.group()
def committee() -> None:
    """Committees (PMCs and podlings)."""


@committee.command("add")
@click.argument("name")
@click.option("--display-name", help="e.g. 'Apache Widgets'")
@click.option("--podling", is_flag=True, help="an Incubator podling")
@pass_ctx
def committee_add(ctx: _Context, name: str, display_name: str | None, podling: bool) -> None:
    """Create a committee."""
    check_key(name, what="committee name")
    with _operator(ctx) as s:
        created = s.as_admin().create_committee(
            CommitteeCreate(name=name, display_name=display_name, podling=podling)
        )
    click.echo(f"created committee '{created.name}' ({created.display_name})")


@committee.command("list")
@pass_ctx
def committee_list(ctx: _Context) -> None:
    """List committees."""
    with _operator(ctx) as s:
        rows = store.list_committees(s.session)
    _table(
        [(c.name, c.display_name, "yes" if c.podling else "") for c in rows],
        ("NAME", "DISPLAY NAME", "PODLING"),
    )


@cli.group()
def project() -> None:
    """Projects."""


@project.command("add")
@click.argument("key")
@click.option("--committee", "committee_name", required=True, help="the owning committee")
@click.option("--name", help="human-readable name (default: the key)")
@pass_ctx
def project_add(ctx: _Context, key: str, committee_name: str, name: str | None) -> None:
    """Create a project owned by a committee."""
    check_key(key)
    check_key(committee_name, what="committee name")
    with _operator(ctx) as s:
        created = s.as_admin().create_project(
            ProjectCreate(key=key, name=name, committee=committee_name)
        )
    click.echo(f"created project '{created.key}' of committee '{created.committee}'")


@project.command("list")
@pass_ctx
def project_list(ctx: _Context) -> None:
    """List projects."""
    with _operator(ctx) as s:
        rows = store.list_projects(s.session)
    _table([(p.key, p.name, p.committee) for p in rows], ("KEY", "NAME", "COMMITTEE"))


# --- users ----------------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """Users and their OpenPGP keys."""


@user.command("add")
@click.argument("name")
@click.option("--email", required=True)
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="ASCII-armored OpenPGP public key",
)
@click.option("--pmc", "pmc", multiple=True, help="committee where the user is a PMC member")
@click.option(
    "--committer", "committer", multiple=True, help="committee where the user is a committer"
)
@click.option("--admin", "is_admin", is_flag=True, help="an agent administrator")
@pass_ctx
def user_add(
    ctx: _Context,
    *,
    name: str,
    email: str,
    key_file: Path,
    pmc: tuple[str, ...],
    committer: tuple[str, ...],
    is_admin: bool,
) -> None:
    """Create a user with a public key and memberships."""
    check_user_name(name)
    armored = _read_key(key_file)
    both = sorted(set(pmc) & set(committer))
    if both:
        fail(f"'{both[0]}' is given as both --pmc and --committer", "a PMC member is a committer")
    memberships = [Membership(committee=c, role=Role.PMC) for c in pmc]
    memberships += [Membership(committee=c, role=Role.COMMITTER) for c in committer]
    with _operator(ctx) as s:
        created = s.as_admin().create_user(
            UserCreate(
                name=name,
                email=email,
                public_key=armored,
                is_admin=is_admin,
                memberships=memberships,
            )
        )
    roles = ", ".join(f"{m.role} of {m.committee}" for m in created.memberships) or "no roles"
    click.echo(
        f"created user '{created.name}' <{created.email}>"
        f"{' (admin)' if created.is_admin else ''}: {roles}; key "
        f"{created.keys[0].fingerprint}"
    )


@user.command("list")
@pass_ctx
def user_list(ctx: _Context) -> None:
    """List users."""
    with _operator(ctx) as s:
        rows = store.list_users(s.session)
    _table(
        [
            (
                u.name,
                u.email,
                "yes" if u.is_admin else "",
                ", ".join(f"{m.role}:{m.committee}" for m in u.memberships),
                ", ".join(k.fingerprint for k in u.keys),
            )
            for u in rows
        ],
        ("NAME", "EMAIL", "ADMIN", "MEMBERSHIPS", "KEYS"),
    )


@user.command("key-add")
@click.argument("name")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def user_key_add(ctx: _Context, name: str, key_file: Path) -> None:
    """Register one more public key for a user."""
    armored = _read_key(key_file)
    fingerprint = openpgp.key_info(armored).fingerprint
    with _operator(ctx) as s:
        s.as_admin().add_user_key(name, armored)
    click.echo(f"added key {fingerprint} to user '{name}'")


# --- tokens ---------------------------------------------------------------------------------------


@cli.group()
def token() -> None:
    """API tokens (stored hashed; the secret is shown once)."""


@token.command("create")
@click.option("--user", "user_name", required=True)
@click.option("--project", help="limit the token to one project")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role if r is not Role.PUBLIC]),
    help="the token's highest role (default: the user's own)",
)
@click.option("--label", default="", help="what the token is for")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@pass_ctx
def token_create(
    ctx: _Context,
    *,
    user_name: str,
    project: str | None,
    role: str | None,
    label: str,
    days: int,
) -> None:
    """Create a token; the token is the LAST line printed."""
    with _operator(ctx) as s:
        secret = _issue(
            s,
            user=user_name,
            project=project,
            role=Role(role) if role else None,
            label=label,
            days=days,
        )
    click.echo(secret)


@token.command("list")
@click.option("--user", "user_name", help="only this user's tokens")
@pass_ctx
def token_list(ctx: _Context, user_name: str | None) -> None:
    """List tokens (never their secrets)."""
    with _operator(ctx) as s:
        rows = store.list_tokens(s.session, s.principal, all_users=True)
    now = datetime.now(UTC)

    def status(t: Any) -> str:
        if t.revoked_at is not None:
            return "revoked"
        return "expired" if t.expires_at <= now else "active"

    _table(
        [
            (
                t.id,
                t.user,
                t.role,
                t.project or "",
                t.label,
                f"{t.expires_at:%Y-%m-%d %H:%M}",
                status(t),
            )
            for t in rows
            if user_name is None or t.user == user_name
        ],
        ("ID", "USER", "ROLE", "PROJECT", "LABEL", "EXPIRES", "STATUS"),
    )


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_ctx
def token_revoke(ctx: _Context, token_id: int) -> None:
    """Revoke a token at once."""
    with _operator(ctx) as s:
        info = s.as_admin().revoke_token(token_id)
    click.echo(f"revoked token {info.id} of {info.user}")


# --- project keys --------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """A project's signing keys (the KEYS file)."""


def _project_keys(s: store.Store, settings: Settings) -> ProjectKeys:
    # Imported here: the keys service pulls in the checks (and their SBOM schema validator),
    # which the other administrative commands do not need to start.
    from agent.blobs import BlobStore  # noqa: PLC0415
    from agent.keys import ProjectKeys  # noqa: PLC0415

    blobs = BlobStore(settings.blob_dir, max_size=settings.max_upload_bytes)
    return ProjectKeys(s.session, s.principal, blob_path=blobs.path_for)


@keys_group.command("import")
@click.argument("project")
@click.argument("keys_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print {imported, skipped} as JSON")
@pass_ctx
def keys_import(ctx: _Context, project: str, keys_file: Path, as_json: bool) -> None:
    """Import a project's existing KEYS file, block by block (as the operator)."""
    from shared.protocol.keys import KeysImport  # noqa: PLC0415

    check_key(project)
    try:
        text = keys_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        fail(f"KEYS file {keys_file} does not exist")
    from agent.blobs import BlobStore  # noqa: PLC0415
    from agent.keys import import_keys_file  # noqa: PLC0415

    settings = ctx.settings()
    blobs = BlobStore(settings.blob_dir, max_size=settings.max_upload_bytes)
    with _database(settings) as factory:
        result = import_keys_file(
            project,
            KeysImport(keys_file=text),
            principal=store.Principal.operator(),
            read=lambda: transaction(factory),
            write=lambda: transaction(factory),
            blob_path=blobs.path_for,
        )
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    click.echo(
        f"imported {len(result.imported)} key(s) into '{project}'; "
        f"skipped {len(result.skipped)} block(s)"
    )
    for fingerprint in result.imported:
        click.echo(f"  imported  {fingerprint}")
    for skipped in result.skipped:
        click.echo(f"  skipped   block {skipped.block}: {skipped.reason}")


@keys_group.command("list")
@click.argument("project")
@pass_ctx
def keys_list(ctx: _Context, project: str) -> None:
    """List a project's keys in KEYS order."""
    from agent.keys import list_project_keys  # noqa: PLC0415

    check_key(project)
    with _operator(ctx) as s:
        rows = list_project_keys(s.session, project)
    _table(
        [
            (
                k.fingerprint,
                k.state,
                f"{k.algorithm} {k.bits or ''}".strip(),
                k.user_ids[0] if k.user_ids else "",
                k.owner or "",
                ",".join(k.flags),
            )
            for k in rows
        ],
        ("FINGERPRINT", "STATE", "KEY", "USER ID", "OWNER", "FLAGS"),
    )


# --- votes ----------------------------------------------------------------------------------------


@cli.group("vote")
def vote_group() -> None:
    """Release votes: the operator's overrides (agent.votes)."""


def _votes_scheduler(settings: Settings, factory: sessionmaker[Session]) -> Any:
    from agent.votes.scheduler import build_scheduler  # noqa: PLC0415 - keeps startup light

    return build_scheduler(settings, transaction=lambda: transaction(factory), read=factory)


@vote_group.command("close")
@click.argument("project")
@click.argument("version")
@click.option("--reason", required=True, help="why the vote ends early (kept in the event log)")
@pass_ctx
def vote_close(ctx: _Context, project: str, version: str, reason: str) -> None:
    """End a release's open vote NOW and decide it. An override of the 72-hour rule: the
    reason and the scheduled end are recorded in the vote.decided event."""
    check_key(project)
    check_version(version)
    settings = ctx.settings()
    with _database(settings) as factory:
        out = _votes_scheduler(settings, factory).votes.close_now(project, version, reason=reason)
    click.echo(f"vote {out.id} on {project} {version}: {out.tally.outcome} ({out.reason})")


@vote_group.command("tick")
@pass_ctx
def vote_tick(ctx: _Context) -> None:
    """Decide the votes whose time is up and deliver due mail now (the agent does it itself
    every scheduler_interval_seconds)."""
    settings = ctx.settings()
    with _database(settings) as factory:
        report = _votes_scheduler(settings, factory).tick()
    click.echo(
        f"decided {len(report.decided)} vote(s); counted {report.email_ballots} email ballot(s); "
        f"mail: {len(report.mail.sent)} sent, {len(report.mail.retrying)} to retry, "
        f"{len(report.mail.failed)} failed"
    )


# --- registry credentials and the vault ----------------------------------------------------------


@cli.group("credential")
def credential_group() -> None:
    """Registry credentials in the vault (encrypted; never shown again)."""


@credential_group.command("set")
@click.argument("name")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    required=True,
    metavar="KIND|PROJECT:CHANNEL",
    help="what may use it: a channel kind (pypi, npm, svn, ...) or one project's channel",
)
@click.option("--username", default="", help="the user name, if the registry wants one")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="read the secret from this file (default: standard input, one line)",
)
@pass_ctx
def credential_set(
    ctx: _Context, name: str, channels: tuple[str, ...], username: str, secret_file: Path | None
) -> None:
    """Store the secret of credential NAME (read from stdin or --secret-file, never an argument:
    arguments show in the process list)."""
    from agent.distribute.credentials import set_credential  # noqa: PLC0415

    if secret_file is not None:
        secret = secret_file.read_text("utf-8").strip()
    elif sys.stdin.isatty():
        secret = click.prompt("Secret", hide_input=True).strip()
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        fail("the secret is empty", "give it on standard input or with --secret-file")
    settings = ctx.settings()
    with _operator(ctx) as s:
        info = set_credential(
            s.session,
            settings,
            s.principal,
            name,
            CredentialSet(secret=secret, username=username, channels=list(channels)),
        )
    click.echo(f"stored credential '{info.name}' for {', '.join(info.channels)}")


@credential_group.command("list")
@pass_ctx
def credential_list(ctx: _Context) -> None:
    """The stored credentials (names, user names, bindings; never the secrets)."""
    from agent.distribute.credentials import list_credentials  # noqa: PLC0415

    with _operator(ctx) as s:
        rows = [
            (c.name, c.username, ", ".join(c.channels), c.updated_by, f"{c.updated_at:%Y-%m-%d}")
            for c in list_credentials(s.session, s.principal)
        ]
    _table(rows, ("name", "username", "channels", "by", "updated"))


@credential_group.command("delete")
@click.argument("name")
@pass_ctx
def credential_delete(ctx: _Context, name: str) -> None:
    from agent.distribute.credentials import delete_credential  # noqa: PLC0415

    with _operator(ctx) as s:
        delete_credential(s.session, s.principal, name)
    click.echo(f"deleted credential '{name}'")


@cli.group("vault")
def vault_group() -> None:
    """The vault's key (see docs/distribution.md)."""


@vault_group.command("new-key")
def vault_new_key() -> None:
    """Print a new vault key (32 random bytes, base64) for ATR_VAULT_KEY or vault_key_file."""
    from agent.vault import new_key  # noqa: PLC0415

    click.echo(new_key())


# --- demo -----------------------------------------------------------------------------------------


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), atomically."""
    write_atomic(path, text, mode=PRIVATE_FILE, make_dirs=True, dir_mode=PRIVATE_DIR)


def _demo_voter(s: store.Store, folder: Path, name: str) -> None:
    """A demo PMC member with an unprotected key in ``folder`` (for the demo's vote)."""
    path = folder / f"{name}-secret.asc"
    exists = s.session.scalar(select(models.User).where(models.User.name == name))
    if exists is not None and path.is_file():
        return
    key = openpgp.generate_key(f"{name} (DEMO KEY)", f"{name}@example.invalid", bits=2048)
    admin = s.as_admin()
    if exists is None:
        admin.create_user(
            UserCreate(
                name=name,
                email=f"{name}@example.invalid",
                public_key=openpgp.public_armor(key),
                memberships=[Membership(committee=DEMO_COMMITTEE, role=Role.PMC)],
            )
        )
    else:
        admin.add_user_key(name, openpgp.public_armor(key))
    _write_secret(path, f"# DEMO KEY of '{name}'. Never use it for releases.\n" + str(key))
    click.echo(f"demo PMC member '{name}': key {path}")


@cli.command()
@click.option("--serve", "then_serve", is_flag=True, help="then run the agent")
@pass_ctx
def demo(ctx: _Context, then_serve: bool) -> None:
    """Seed a demo committee, project and PMC user with a fresh key (idempotent).

    The demo user's SECRET key is written UNPROTECTED to DATA_DIR/demo/demo-secret.asc
    (mode 0600) so you can log in from the desktop at once. Never use it for real releases.
    Two more PMC members (demo-voter1, demo-voter2) get keys there too, so a demo vote can
    pass, and DATA_DIR/agent.toml (if absent) gets demo settings: a vote of a minute, no
    announce delay. scripts/demo_release.py then takes a release to 'announced'.
    """
    settings = ctx.settings()
    secret_path = settings.data_dir / "demo" / "demo-secret.asc"
    with _operator(ctx) as s:
        session = s.session
        admin = s.as_admin()
        if (
            session.scalar(select(models.Committee).where(models.Committee.name == DEMO_COMMITTEE))
            is None
        ):
            admin.create_committee(CommitteeCreate(name=DEMO_COMMITTEE, display_name="Demo"))
            click.echo(f"created committee '{DEMO_COMMITTEE}'")
        if session.scalar(select(models.Project).where(models.Project.key == DEMO_PROJECT)) is None:
            admin.create_project(
                ProjectCreate(key=DEMO_PROJECT, name="Demo Project", committee=DEMO_COMMITTEE)
            )
            click.echo(f"created project '{DEMO_PROJECT}'")
        demo_user = session.scalar(select(models.User).where(models.User.name == DEMO_USER))
        if demo_user is None or not secret_path.is_file():
            click.echo(f"generating an RSA-{DEMO_KEY_BITS} key for the demo user ...")
            key = openpgp.generate_key(
                "Demo User (DEMO KEY - NOT FOR REAL RELEASES)", DEMO_EMAIL, bits=DEMO_KEY_BITS
            )
            armored = openpgp.public_armor(key)
            if demo_user is None:
                admin.create_user(
                    UserCreate(
                        name=DEMO_USER,
                        email=DEMO_EMAIL,
                        public_key=armored,
                        memberships=[Membership(committee=DEMO_COMMITTEE, role=Role.PMC)],
                    )
                )
                click.echo(f"created PMC user '{DEMO_USER}'")
            else:
                admin.add_user_key(DEMO_USER, armored)
                click.echo(f"added a new key to user '{DEMO_USER}'")
            header = (
                "# DEMO KEY - UNPROTECTED SECRET KEY FOR THE ATR DEMO USER.\n"
                "# Anyone who reads this file can log in as 'demo'. Never use it for releases.\n"
            )
            _write_secret(secret_path, header + str(key))
            click.echo(f"wrote the demo secret key to {secret_path} (mode 0600)")
        else:
            admin.set_membership(DEMO_USER, DEMO_COMMITTEE, Role.PMC)
            click.echo(f"demo user '{DEMO_USER}' exists; its key is {secret_path}")
        for voter in DEMO_VOTERS:
            _demo_voter(s, settings.data_dir / "demo", voter)
        token = _issue(s, user=DEMO_USER, project=None, role=Role.PMC, label="demo", days=30)
    config = settings.data_dir / "agent.toml"
    if not config.exists():
        write_atomic(config, DEMO_CONFIG, mode=PUBLIC_FILE)
        click.echo(f"wrote the demo settings to {config} (short votes; NOT FOR PRODUCTION)")
    click.echo("")
    click.echo("Log in from the desktop:")
    click.echo(f"  agent URL : {settings.effective_public_url}")
    click.echo(f"  user      : {DEMO_USER}")
    click.echo(f"  key       : import {secret_path} (no passphrase)")
    click.echo("Or use the API token below (atr --token ..., Authorization: Bearer ...):")
    click.echo(token)
    if then_serve:
        _serve(settings)


# --- provenance: automation keys and attestations (agent/provenance/cli.py) ----------------------


def _add_provenance_commands() -> None:
    from agent.provenance.cli import attestation_group, automation_group  # noqa: PLC0415

    keys_group.add_command(automation_group)
    cli.add_command(attestation_group)


_add_provenance_commands()


# --- triggers: the history of a dist folder (agent/triggers/cli.py) ----------------------------


@cli.command("import-dist")
@click.argument("project")
@click.option(
    "--from", "release_url", required=True,
    help="the project's folder of the release area: …/dist/release/PROJECT",
)  # fmt: skip
@click.option(
    "--dev", "dev_url", help="its folder of the dev area (candidates): …/dist/dev/PROJECT"
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@pass_ctx
def import_dist(
    ctx: _Context, project: str, release_url: str, dev_url: str | None, as_json: bool
) -> None:
    """Record every release of an ASF-style dist folder: files, signatures checked against
    its KEYS, hashes and dates (a second run adds only what is new; docs/triggers.md)."""
    from agent.triggers.cli import run_import  # noqa: PLC0415 - imported when it runs

    run_import(ctx.settings(), project, release_url, dev_url, as_json=as_json)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``atr-agent``."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="atr-agent")
