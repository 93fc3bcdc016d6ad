"""Triggers, next steps, imported history, practice and statistics: the wire models (issue 9).

* trusted publishing: :class:`TrustedPublisher` rules; :class:`OidcExchange` → :class:`OidcToken`
* webhooks and the dist-repository watcher: :class:`TriggerSettings`, :class:`TriggerAccepted`
* what waits for whom: :class:`NextStep`, :class:`ReleaseNext`, :class:`WaitingItem`
* all past releases: :class:`ImportDist` → :class:`ImportReport`
* the project page: :class:`ReleasePractice`; the dashboard: :class:`ReleaseStats`
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.ids import ProjectKey, UserName, Version
from shared.lifecycle import Phase
from shared.protocol.models import Model

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"

# --- trusted publishing (GitHub Actions OIDC) ----------------------------------------------------


class TrustedPublisherCreate(Model):
    """Which workflow runs may publish candidates of a project without a stored secret."""

    issuer: str = Field(default=GITHUB_ISSUER, max_length=500)
    repository: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        max_length=200,
        description="owner/name, as the token's 'repository' claim says it",
    )
    workflow: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+\.ya?ml$",
        max_length=200,
        description="the workflow file under .github/workflows/ (from 'job_workflow_ref')",
    )
    refs: list[str] = Field(
        default=["refs/tags/*"],
        min_length=1,
        max_length=20,
        description="fnmatch patterns the token's 'ref' must match, e.g. refs/tags/v*",
    )
    environment: str | None = Field(
        default=None, max_length=200, description="if set, the token's 'environment' must be it"
    )


class TrustedPublisher(TrustedPublisherCreate):
    id: int
    project: ProjectKey
    created_by: str
    created_at: datetime


class OidcExchange(Model):
    """``POST /oidc/exchange``: the workflow's OIDC token (a JWT)."""

    token: str = Field(min_length=16, max_length=16384)


class OidcToken(Model):
    """A short-lived upload token scoped to the project the rule names."""

    token: str = Field(description="shown once; a committer token of the project only")
    project: ProjectKey
    expires_at: datetime
    publisher: int = Field(description="the id of the trusted-publisher rule that matched")
    run_url: str | None = None


# --- webhooks and the dist repository -------------------------------------------------------------


class TriggerSettings(Model):
    """How a project's releases may start by themselves (PMC)."""

    git_url: str | None = Field(
        default=None, max_length=2048, description="the repository a tag push is fetched from"
    )
    tag_pattern: str = Field(
        default="v{version}-rc{rc}",
        max_length=200,
        description="release tags: {version} and optionally {rc}; e.g. 'v{version}' or "
        "'rel/{version}'",
    )
    archive_name: str = Field(
        default="apache-{project}-{version}-src",
        max_length=200,
        description="the source archive's name without '.tar.gz' (also its top folder)",
    )
    release_manager: UserName | None = Field(
        default=None,
        description="who is asked to sign what a trigger builds (they become the release's "
        "release manager); default: the person the trigger names, else the PMC",
    )
    watch_dist: bool = Field(
        default=True, description="start a release from a release.toml committed to dist/dev"
    )
    webhook_secret_set: bool = Field(
        default=False, description="read only: whether a webhook secret is stored"
    )


class TriggerSettingsUpdate(Model):
    git_url: str | None = Field(default=None, max_length=2048)
    tag_pattern: str = Field(default="v{version}-rc{rc}", max_length=200)
    archive_name: str = Field(default="apache-{project}-{version}-src", max_length=200)
    release_manager: UserName | None = None
    watch_dist: bool = True
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="the HMAC secret of the webhook (stored encrypted; never returned); "
        "omit to keep the stored one",
    )


TriggerSource = Literal["github-oidc", "webhook", "svn", "manual"]


class TriggerAccepted(Model):
    """What a trigger endpoint did with a delivery."""

    status: Literal["accepted", "duplicate", "ignored"]
    source: TriggerSource
    delivery: str
    detail: str
    project: ProjectKey | None = None
    version: Version | None = None
    task_id: int | None = None


# --- next steps ---------------------------------------------------------------------------------

StepKind = Literal[
    "sign",
    "upload",
    "start_checks",
    "fix_checks",
    "wait_checks",
    "start_vote",
    "cast_ballot",
    "wait_vote",
    "approve_plan",
    "start_distribution",
    "retry_channel",
    "wait_distribution",
    "manual_step",
    "announce",
    "fix_failure",
]


class NextStep(Model):
    """One step of a release that waits for a person (or for time)."""

    kind: StepKind
    title: str
    detail: str = ""
    who: list[str] = Field(
        default=[], description="user names who may do it (empty: nobody needs to act)"
    )
    role: str = Field(default="", description="who, in words: 'the release manager', 'PMC'…")
    command: str = Field(default="", description="the atr command that does it")
    waiting_for_person: bool = True
    args: dict[str, str] = {}


class ReleaseNext(Model):
    project: ProjectKey
    version: Version
    phase: Phase
    release_manager: str
    steps: list[NextStep]


class WaitingItem(Model):
    """A step waiting for the user who asks (``GET /waiting``)."""

    project: ProjectKey
    version: Version
    phase: Phase
    step: NextStep
    since: datetime


# --- all past releases ----------------------------------------------------------------------------


class ImportDist(Model):
    release_url: str = Field(
        max_length=2048, description="…/dist/release/<project> (a Subversion URL)"
    )
    dev_url: str | None = Field(default=None, max_length=2048, description="…/dist/dev/<project>")


class ImportedFile(Model):
    path: str
    size: int
    sha512: str
    signature: str = Field(
        description="good, bad, no_public_key, revoked_key, expired_key, missing, error"
    )
    signer: str | None = None
    checksum: str = Field(
        description="sha512, sha256, sha1, md5 (the best that matched), missing or mismatch"
    )


class ImportedRelease(Model):
    version: Version
    area: Literal["release", "dev"]
    phase: Phase
    path: str
    released_at: datetime
    svn_revision: int
    files: list[ImportedFile]


class ImportReport(Model):
    project: ProjectKey
    added: list[ImportedRelease]
    known: int = Field(description="releases found that were imported before (left as they were)")
    skipped: list[str] = Field(default=[], description="folders that hold no release, and why")
    keys_imported: int = 0
    seconds: float


# --- the project page and the dashboard ---------------------------------------------------------


class PracticeChannel(Model):
    name: str
    kind: str
    target: str = ""


class PracticeManager(Model):
    name: str
    releases: int
    last_version: str
    last_at: datetime | None


class ReleasePractice(Model):
    """A project's release practice as the agent knows it: what a new RM needs to know."""

    project: ProjectKey
    name: str
    committee: str
    podling: bool
    steps: list[str]
    channels: list[PracticeChannel]
    vote_min_hours: int
    vote_list: str
    binding_voters: str
    release_managers: list[PracticeManager]
    manual_steps: list[str]
    triggers: list[str]
    releases: int
    imported: int
    in_progress: list[ReleaseNext]


class ReleaseStat(Model):
    version: Version
    phase: Phase
    first_upload: datetime | None = None
    vote_started: datetime | None = None
    vote_decided: datetime | None = None
    passed: datetime | None = None
    announced: datetime | None = None
    upload_to_vote_hours: float | None = None
    vote_hours: float | None = None
    passed_to_announced_hours: float | None = None
    check_failures: int = 0
    imported: bool = False


class ReleaseStats(Model):
    """Per-project statistics computed from the event log."""

    project: ProjectKey
    releases: list[ReleaseStat]
    check_failures: dict[str, int] = Field(description="check id → blockers and failures")
    per_year: dict[str, int] = Field(description="year → releases announced (or imported)")
    median_upload_to_vote_hours: float | None = None
    median_vote_hours: float | None = None
    median_passed_to_announced_hours: float | None = None
    events_read: int
