"""``atr login``, ``logout``, ``whoami`` and ``token create|list|revoke``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from shared.challenge import Challenge
from shared.cli.config import Config, save_config
from shared.cli.options import PROJECT, json_option
from shared.cli.output import echo_json, note, table, when
from shared.cli.state import CliState, pass_state
from shared.client import AgentClient, normalize_agent_url
from shared.errors import ValidationError
from shared.ids import check_fingerprint
from shared.openpgp.gnupg import sign_challenge_gpg
from shared.protocol import Role, TokenCreate, TokenCreated, TokenInfo, TokenRequest, User


@click.command()
@click.option("--agent", "agent", metavar="URL", help="The agent to log in to.")
@click.option("--token", "token", metavar="TOKEN", help="An API token (asked for if missing).")
@pass_state
def login(state: CliState, *, agent: str | None, token: str | None) -> None:
    """Check a token against the agent and save both to the config file (mode 0600)."""
    url = normalize_agent_url(agent) if agent else state.agent()
    secret = token or state.token_option
    if not secret:
        if not sys.stdin.isatty():
            raise ValidationError("no token given", hint="pass --token TOKEN or set ATR_TOKEN")
        secret = click.prompt("Token", hide_input=True).strip()

    async def check(client: AgentClient) -> User:
        return await client.me()

    user = state.run(check, agent=url, token=secret)
    save_config(state.path, replace(state.config(), agent=url, token=secret))
    click.echo(f"logged in to {url} as {user.name}; saved in {state.path}")


@click.command()
@pass_state
def logout(state: CliState) -> None:
    """Forget the saved token (the agent URL stays)."""
    saved = state.config()
    if not saved.token:
        click.echo("not logged in")
        return
    save_config(state.path, Config(agent=saved.agent))
    click.echo(f"logged out of {saved.agent or 'the agent'}")


@click.command()
@json_option
@pass_state
def whoami(state: CliState, *, as_json: bool) -> None:
    """Show the user the token belongs to."""

    async def work(client: AgentClient) -> User:
        return await client.me()

    user = state.run(work)
    if as_json:
        echo_json(user)
        return
    admin = " (admin)" if user.is_admin else ""
    click.echo(f"{user.name} <{user.email}>{admin} at {state.agent()}")
    for membership in user.memberships:
        click.echo(f"  {membership.committee}: {membership.role}")
    for key in user.keys:
        click.echo(f"  key {key.fingerprint} {key.algorithm}{key.bits or ''}")


@click.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--user", metavar="NAME", help="Whose token (admins only; default: yourself).")
@click.option("--project", type=PROJECT, help="Limit the token to one project.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.COMMITTER.value,
    show_default=True,
    help="The highest role the token may use.",
)
@click.option("--label", default="", help="A note to recognize the token by.")
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Default: 90 days, or until the token used expires if that is sooner.",
)
@click.option(
    "--sign-with",
    "sign_with",
    metavar="FINGERPRINT",
    help="Ask with a fresh signature of this key of your GnuPG instead of a token: the new "
    "token may then outlive your current one (up to the agent's max_token_days).",
)
@click.option(
    "--gnupg-home",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The GnuPG home holding the key of --sign-with (default: GnuPG's own).",
)
@json_option
@pass_state
def token_create(
    state: CliState,
    *,
    user: str | None,
    project: str | None,
    role: str,
    label: str,
    expires_in_days: int | None,
    sign_with: str | None,
    gnupg_home: Path | None,
    as_json: bool,
) -> None:
    """Create a token; prints the secret (shown only once) on stdout.

    A token never reaches further than the token that creates it (its project, role and
    lifetime). With --sign-with, no token is used: your key signs a one-time request
    naming exactly this token, and the agent issues it for --user (your own name).
    """
    if sign_with is not None:
        created = _create_signed(
            state,
            user=user,
            request=TokenRequest(
                project=project,
                role=Role(role),
                label=label,
                expires_in_days=expires_in_days or DEFAULT_SIGNED_DAYS,
            ),
            fingerprint=check_fingerprint(sign_with),
            home=gnupg_home,
        )
    else:
        body = TokenCreate(
            user=user,
            project=project,
            role=Role(role),
            label=label,
            expires_in_days=expires_in_days,
        )

        async def work(client: AgentClient) -> TokenCreated:
            return await client.create_token(body)

        created = state.run(work)
    if as_json:
        echo_json(created)
        return
    click.echo(created.token)
    info = created.info
    scope = f" for {info.project}" if info.project else ""
    note(
        f"token {info.id} of {info.user}{scope}, role {info.role}, expires {when(info.expires_at)}"
    )
    note("the secret is shown only this once")


DEFAULT_SIGNED_DAYS = 90


def _create_signed(
    state: CliState,
    *,
    user: str | None,
    request: TokenRequest,
    fingerprint: str,
    home: Path | None,
) -> TokenCreated:
    if user is None:
        raise ValidationError(
            "--sign-with needs --user NAME: the user whose registered key signs",
            hint="e.g. atr token create --user alice --sign-with FINGERPRINT",
        )

    def sign(challenge: Challenge) -> str:
        return sign_challenge_gpg(
            fingerprint, challenge.render(), challenge.purpose.value, home=home
        )

    async def work(client: AgentClient) -> TokenCreated:
        return await client.create_token_signed(user, request, sign)

    return state.run(work, token="")


def _token_rows(tokens: list[TokenInfo]) -> list[tuple[str, ...]]:
    return [
        (
            str(t.id),
            t.user,
            t.project or "*",
            t.role,
            t.label,
            when(t.expires_at),
            "revoked" if t.revoked_at else when(t.last_used_at),
        )
        for t in tokens
    ]


@token.command("list")
@json_option
@pass_state
def token_list(state: CliState, *, as_json: bool) -> None:
    """List your tokens (an admin sees everyone's)."""

    async def work(client: AgentClient) -> list[TokenInfo]:
        return await client.list_tokens()

    tokens = state.run(work)
    if as_json:
        echo_json(tokens)
        return
    table(
        ("id", "user", "project", "role", "label", "expires", "last used"),
        _token_rows(tokens),
        empty="no tokens",
    )


@token.command("revoke")
@click.argument("token_id", type=int)
@json_option
@pass_state
def token_revoke(state: CliState, *, token_id: int, as_json: bool) -> None:
    """Revoke a token by id."""

    async def work(client: AgentClient) -> TokenInfo:
        return await client.revoke_token(token_id)

    info = state.run(work)
    if as_json:
        echo_json(info)
        return
    click.echo(f"revoked token {info.id} of {info.user} at {when(info.revoked_at)}")
