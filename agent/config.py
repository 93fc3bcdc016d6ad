"""The agent's settings: defaults, then a TOML file, then ``ATR_*`` environment variables.

Where each value comes from, lowest precedence first:

1. the defaults below (SQLite and blobs under the data dir, 127.0.0.1:8765);
2. ``DATA_DIR/agent.toml``, or the file given with ``--config``;
3. environment variables ``ATR_<KEY>`` (``ATR_DATABASE_URL``, ``ATR_WORKERS``, ...; a list
   setting as its items separated by commas or spaces: ``ATR_OPERATOR_EMAILS="a@x b@x"``);
4. command-line flags (``--data-dir``, ``serve --port``, ...), passed as ``overrides``.

The data dir itself comes from ``--data-dir``, else ``ATR_DATA_DIR``, else the
``data_dir`` key of the ``--config`` file, else ``~/.local/share/atr-agent``.
A bad value is refused with a :class:`ConfigError` naming the key and the source.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from agent.db.session import sqlite_url
from shared.checks.policy import ArchiveLimits
from shared.errors import AtrError

ENV_PREFIX = "ATR_"
CONFIG_FILE_NAME = "agent.toml"
GIB = 1024**3


class ConfigError(AtrError):
    """The agent's configuration cannot be used (a bad key, value or file)."""


def default_data_dir() -> Path:
    """``~/.local/share/atr-agent`` (or under ``$XDG_DATA_HOME``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "atr-agent"


class Settings(BaseModel):
    """Everything the agent needs to run. Immutable once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file agent.db in the data dir"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    workers: int = Field(default=2, ge=0, le=64)
    lease_seconds: int = Field(default=30, ge=1)
    worker_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    worker_recycle_mb: int = Field(
        default=120,
        ge=0,
        description="a worker whose resident memory passed this many MiB after a task "
        "ends and is started afresh (0: never)",
    )
    max_upload_bytes: int = Field(default=4 * GIB, ge=1)
    tmp_max_bytes: int | None = Field(
        default=None,
        ge=1,
        description="bytes the temporary area (uploads in progress) may hold; "
        "default: twice max_upload_bytes",
    )
    session_token_hours: float = Field(default=12, gt=0)
    challenge_ttl_seconds: float = Field(
        default=300, gt=0, le=600, description="how long a login challenge may be signed"
    )
    challenge_limit_per_minute: int = Field(
        default=10, ge=1, description="login challenges a user name (or a client address) gets"
    )
    max_token_days: int = Field(
        default=366, ge=1, le=3650, description="the longest an API token may be valid"
    )
    max_json_bytes: int = Field(
        default=4 * 1024**2, ge=1024, description="the largest JSON request body"
    )
    max_mail_import_bytes: int = Field(
        default=64 * 1024**2, ge=1024, description="the largest mail import (mbox, Pony Mail)"
    )
    archive_max_uncompressed_bytes: int = Field(
        default=16 * GIB, ge=1, description="ceiling of a project's archive.max_uncompressed_bytes"
    )
    archive_max_members: int = Field(
        default=1_000_000, ge=1, description="ceiling of a project's archive.max_members"
    )
    archive_max_ratio: float = Field(
        default=1000.0, gt=1, description="ceiling of a project's archive.max_ratio"
    )
    archive_max_depth: int = Field(
        default=64, ge=1, description="ceiling of a project's archive.max_depth"
    )
    ws_revalidate_seconds: float = Field(
        default=15, gt=0, description="how often an open websocket's token is checked again"
    )
    ws_max_pending_events: int = Field(
        default=10_000,
        ge=100,
        description="events a websocket client may fall behind before it is closed as too slow",
    )
    public_url: str | None = Field(
        default=None, description="how clients reach the agent; default http://host:port"
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    # --- mail (agent.mail) and votes (agent.votes); see docs/votes.md ---
    outbox: Literal["file", "smtp"] = Field(
        default="file", description="file: write DATA_DIR/outbox/<id>.eml; smtp: send"
    )
    mail_from: str = "ATR <atr-agent@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificates to trust for STARTTLS (default: the system's)"
    )
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_retry_seconds: float = Field(
        default=60, gt=0, description="first retry delay; doubles after each failed attempt"
    )
    scheduler_interval_seconds: float = Field(
        default=5, gt=0, description="how often due votes are decided and due mail delivered"
    )
    vote_maildir: Path | None = Field(
        default=None, description="a Maildir receiving the lists' mail: email ballots read from it"
    )
    incubator_list: str = "general@incubator.apache.org"
    # --- distribution (agent.distribute); see docs/distribution.md ---
    dist_svn_url: str | None = Field(
        default=None,
        description="the dist repository's root URL (holding dev/ and release/); default: an "
        "embedded repository under the data dir (file://DATA_DIR/dist-svn)",
    )
    dist_svn_credential: str | None = Field(
        default=None, description="the vault credential to commit to the dist repository with"
    )
    dist_public_url: str | None = Field(
        default=None,
        description="where the public downloads release/ (e.g. https://downloads.apache.org); "
        "default: the agent's own download pages serve the files",
    )
    archive_url: str = Field(
        default="https://archive.apache.org/dist",
        description="where older releases stay (linked from the download page)",
    )
    announce_list: str = "announce@apache.org"
    announce_delay_minutes: float = Field(
        default=60,
        ge=0,
        description="how long after the files reach the dist repository the announcement may "
        "go out (mirrors catch up)",
    )
    publish_attempts: int = Field(
        default=3, ge=1, le=10, description="tries of a failing upload before it is 'failed'"
    )
    publish_retry_seconds: float = Field(
        default=2, ge=0, description="the first wait between tries; doubles each time"
    )
    vault_key_file: Path | None = Field(
        default=None,
        description="the vault's key (else $ATR_VAULT_KEY, systemd's credential, or "
        "DATA_DIR/vault.key made on first use)",
    )
    mail_archive_url: str | None = Field(
        default="https://lists.apache.org",
        description="the Pony Mail archive of the lists: [RESULT] mails link the vote's thread "
        "there; none: no archive links",
    )
    key_expiry_alarm_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="an automation key or certificate expiring within this many days raises an "
        "event and mails the operators (again at 14, 7 and 1 days, and when expired)",
    )
    key_expiry_check_seconds: float = Field(
        default=3600, gt=0, description="how often the agent looks for expiring keys"
    )
    operator_emails: list[str] = Field(
        default_factory=list,
        description="who gets the agent's own alarms (expiring keys); default: the admins",
    )
    osslsigncode: str = Field(
        default="osslsigncode", description="the Authenticode signing tool (Debian's package)"
    )
    rcodesign: str = Field(
        default="rcodesign",
        description="apple-codesign's rcodesign, for Apple signatures and notarization",
    )
    macos_signing_url: str | None = Field(
        default=None,
        description="a remote macOS signing host (POST a file, get it back signed); "
        "used when rcodesign is not installed",
    )
    macos_signing_credential: str | None = Field(
        default=None, description="the vault credential (a bearer token) for that host"
    )
    apple_api_key_credential: str | None = Field(
        default=None,
        description="the vault credential holding the App Store Connect API key (JSON from "
        "'rcodesign encode-app-store-connect-api-key') for notarization",
    )
    # --- triggers, metrics (agent.triggers); see docs/triggers.md and docs/metrics.md ---
    oidc_issuers: list[str] = Field(
        default=["https://token.actions.githubusercontent.com"],
        description="OIDC issuers whose tokens may be exchanged for upload tokens (trusted "
        "publishing); their keys come from ISSUER/.well-known/openid-configuration",
    )
    oidc_audience: str = Field(
        default="atr", description="the audience ('aud') a workflow must ask its OIDC token for"
    )
    oidc_token_minutes: float = Field(
        default=15, gt=0, le=360, description="how long an upload token from an OIDC exchange lives"
    )
    oidc_jwks_seconds: float = Field(
        default=300, ge=0, description="how long an issuer's keys are cached"
    )
    dist_watch_seconds: float = Field(
        default=60,
        ge=0,
        description="how often the dist repository is polled for release.toml commits (0: "
        "only when its post-commit hook calls POST /api/v1/triggers/svn)",
    )
    dist_watch_url: str | None = Field(
        default=None, description="the repository watched (default: dist_svn_url's)"
    )
    git_local_allowed: bool = Field(
        default=False,
        description="let a project's git_url (or a push's clone_url) be a path or file:// URL "
        "on the agent host: for tests and single-host setups only (a PMC could otherwise read "
        "any git repository on the host)",
    )
    metrics_public: bool = Field(
        default=True,
        description="serve /metrics without credentials (false: an admin token is needed)",
    )
    vote_min_hours_floor: float = Field(
        default=72,
        gt=0,
        description="NOT FOR PRODUCTION: the shortest vote (ASF policy: 72 h); tests lower it",
    )

    @field_validator("oidc_issuers", "operator_emails", mode="before")
    @classmethod
    def _list_from_text(cls, value: object) -> object:
        """From the environment (``ATR_OIDC_ISSUERS``, ``ATR_OPERATOR_EMAILS``): the items
        separated by commas or spaces."""
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def db_url(self) -> str:
        """The database URL in effect (the SQLite default when none is configured)."""
        return self.database_url or sqlite_url(self.data_dir)

    @property
    def effective_public_url(self) -> str:
        """The URL clients use to reach this agent (it appears in login challenges)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("tmp_max_bytes")
    @classmethod
    def _tmp_fits_an_upload(cls, value: int | None, info: ValidationInfo) -> int | None:
        largest = info.data.get("max_upload_bytes")
        if value is not None and isinstance(largest, int) and value < largest:
            raise ValueError(
                f"smaller than max_upload_bytes ({largest}): the largest upload could never "
                "be stored"
            )
        return value

    @property
    def effective_tmp_max_bytes(self) -> int:
        """The bound of the temporary area in effect."""
        return self.tmp_max_bytes or 2 * self.max_upload_bytes

    @property
    def effective_dist_svn_url(self) -> str:
        """The dist repository's root URL (the embedded one when none is configured)."""
        return (self.dist_svn_url or (self.data_dir / "dist-svn").resolve().as_uri()).rstrip("/")

    @property
    def archive_ceiling(self) -> ArchiveLimits:
        """The highest archive limits a project's policy may set."""
        return ArchiveLimits(
            max_uncompressed_bytes=self.archive_max_uncompressed_bytes,
            max_members=self.archive_max_members,
            max_ratio=self.archive_max_ratio,
            max_depth=self.archive_max_depth,
        )

    @property
    def blob_dir(self) -> Path:
        """Where uploaded blobs live."""
        return self.data_dir / "blobs"


_FIELDS = tuple(Settings.model_fields)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    # An optional [agent] table is accepted as well as top-level keys.
    table = data.pop("agent", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [agent] must be a table")
    merged = {**data, **table}
    unknown = sorted(set(merged) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key {unknown[0]!r}",
            hint="known keys: " + ", ".join(_FIELDS),
        )
    return merged


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _FIELDS:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None and value != "":
            out[name] = value
    return out


def _build(values: dict[str, Any], sources: dict[str, str]) -> Settings:
    try:
        return Settings.model_validate(values)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(
            f"bad configuration value for {key!r} (from {sources.get(key, 'defaults')}): "
            f"{first['msg']}",
            hint=f"fix {key!r} or remove it to use the default",
        ) from exc


def load_settings(
    *,
    data_dir: Path | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load the settings as the module docstring describes.

    ``overrides`` (command-line flags) win over everything; ``None`` values in it are ignored.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = _read_toml(config_file)
    env_values = _from_env(env)

    chosen_dir: Path
    if data_dir is not None:
        chosen_dir = data_dir
    elif "data_dir" in env_values:
        chosen_dir = Path(env_values["data_dir"])
    elif "data_dir" in file_values:
        chosen_dir = Path(str(file_values["data_dir"]))
    else:
        chosen_dir = default_data_dir()
    chosen_dir = chosen_dir.expanduser()

    if config_file is None:
        candidate = chosen_dir / CONFIG_FILE_NAME
        if candidate.is_file():
            config_file = candidate
            file_values = _read_toml(candidate)

    for key, value in file_values.items():
        values[key] = value
        sources[key] = f"config file {config_file}"
    for key, value in env_values.items():
        values[key] = value
        sources[key] = f"environment variable {ENV_PREFIX}{key.upper()}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            sources[key] = "command line"
    values["data_dir"] = chosen_dir
    return _build(values, sources)
