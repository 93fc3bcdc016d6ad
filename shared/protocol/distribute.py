"""Wire models of distribution: where a release goes, the signed plan, and how far it got.

A *channel* is one destination (the Subversion dist repository, PyPI, npm, an OCI
registry, Maven, Artifactory, or a manual step). A *plan* lists every file going to
every channel with its SHA-512 and target URL; its ``digest`` is what a release
manager signs. A *step* is one file on one channel, with its own state.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.ids import ProjectKey, RelPath, UserName, Version
from shared.protocol.models import Model

PLAN_FORMAT: Literal["atr.distribution-plan/1"] = "atr.distribution-plan/1"
"""The ``format`` of a plan's text; changes with an incompatible change of the plan."""

DistributionKind = Literal["staging", "production"]
"""``staging``: the candidate to test channels during its vote; ``production``: the release."""


class StepState(StrEnum):
    """Where one file on one channel stands (the ``state`` of ``atr distribute status``)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    MANUAL = "manual"
    """A step a person does; marked done by hand."""


class ChannelKind(StrEnum):
    """The kinds of channel the agent knows (each an adapter in ``agent.distribute.channels``)."""

    SVN = "svn"
    PYPI = "pypi"
    NPM = "npm"
    OCI = "oci"
    MAVEN = "maven"
    """a Maven repository deployed to with HTTP PUT (WebDAV, Nexus/Artifactory plain deploy)"""
    NEXUS = "nexus"
    """a Nexus 2 staging repository (repository.apache.org): start, deploy, close, release"""
    MAVEN_CENTRAL = "maven-central"
    """the Central Portal Publisher API (bundle upload, status, publish)"""
    ARTIFACTORY = "artifactory"
    MANUAL = "manual"


class ChannelSettings(Model):
    """One optional channel of a project (the dist repository is always there)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="e.g. 'pypi', 'npm'")
    kind: ChannelKind
    url: str = Field(max_length=2048, description="the production endpoint")
    staging_url: str | None = Field(
        default=None,
        max_length=2048,
        description="the test endpoint (TestPyPI, a staging repository); default: none (the "
        "channel is not staged), or the same endpoint where the kind stages there itself "
        "(npm's dist-tag, an OCI rc tag)",
    )
    files: list[str] = Field(
        default=["*"], max_length=64, description="globs of the release paths that go there"
    )
    exclude: list[str] = Field(
        default=[], max_length=64, description="globs of release paths that do not go there"
    )
    package: str = Field(default="", max_length=214, description="the package or image name")
    credential: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9._-]{0,63}$", description="vault name to use"
    )
    staging_credential: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9._-]{0,63}$")
    options: dict[str, str] = Field(
        default={}, description="kind-specific: npm 'staging_tag', maven 'group_id', ..."
    )


class DistributionSettings(Model):
    """Where a project's releases go, besides the dist repository, and who hears of them."""

    channels: list[ChannelSettings] = Field(default=[], max_length=32)
    dist_exclude: list[str] = Field(
        default=[],
        max_length=64,
        description="globs of release paths that do not go to the dist repository (e.g. "
        "'maven/*' when a Maven channel deploys that layout)",
    )
    manual_steps: list[str] = Field(
        default=[],
        max_length=32,
        description="things a person does for each release (a Homebrew formula, a website "
        "change), in order; each is marked done by hand before the announcement",
    )
    line_depth: int = Field(
        default=2,
        ge=1,
        le=8,
        description="releases whose first N version parts match are one line: a new release "
        "removes the older one of its line from dist/release (the archive keeps it)",
    )
    announce_to: list[str] = Field(
        default=[],
        max_length=16,
        description="the [ANNOUNCE] recipients; default: announce@apache.org and the dev list",
    )
    announce_delay_minutes: int | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 60,
        description="how long after the files are on the dist repository the announcement may "
        "go out (mirrors catch up); default: the agent's announce_delay_minutes",
    )


class PlannedFile(Model):
    path: RelPath
    sha512: str
    size: int
    target: str = Field(description="where the file will be on the channel")


class PlannedChannel(Model):
    name: str
    kind: ChannelKind
    target: str = Field(description="the channel's base URL, or the manual step's text")
    files: list[PlannedFile]


class DistributionPlan(Model):
    """Every file going to every channel. Signed (clear-signed canonical JSON, see
    :func:`shared.distribute.plan_text`) by the release manager or a PMC member before the
    agent publishes a release to production channels."""

    format: Literal["atr.distribution-plan/1"] = PLAN_FORMAT
    kind: DistributionKind
    project: ProjectKey
    version: Version
    revision: int
    vote_thread: str | None = Field(
        default=None, description="the Message-ID of the [VOTE] thread that passed"
    )
    channels: list[PlannedChannel]
    manual_steps: list[str] = []
    digest: str = Field(default="", description="sha256: of the plan without this field")


class ApprovalCast(Model):
    signed: str = Field(
        max_length=1 << 20,
        description="the plan text (atr distribute plan), clear-signed with your key",
    )


class ApprovalOut(Model):
    digest: str
    approved_by: UserName
    fingerprint: str
    approved_at: datetime
    signed: str = Field(description="the clear-signed plan, as it was approved")


class StepOut(Model):
    path: str
    state: StepState
    url: str | None = None
    error: str | None = None
    attempts: int = 0
    verified: bool = False
    updated_at: datetime | None = None


class ChannelOut(Model):
    name: str
    kind: ChannelKind
    state: StepState
    target: str
    files: list[StepOut]


class DistributionStatus(Model):
    """The shape of ``atr distribute status --json``."""

    project: ProjectKey
    version: Version
    phase: str
    kind: DistributionKind | None = None
    state: Literal["none", "planned", "running", "done", "failed", "verified"] = "none"
    revision: int | None = None
    digest: str | None = None
    approval: ApprovalOut | None = None
    channels: list[ChannelOut] = []
    started_at: datetime | None = None
    finished_at: datetime | None = None
    verified_at: datetime | None = None
    announce_after: datetime | None = Field(
        default=None, description="the earliest the announcement may go out"
    )
    download_page: str | None = None


class DistributionStart(Model):
    kind: DistributionKind = "production"


class CredentialSet(Model):
    """A registry credential, stored encrypted; never returned by any API."""

    secret: str = Field(min_length=1, max_length=16384, description="a password or token")
    username: str = Field(default="", max_length=256)
    channels: list[str] = Field(
        min_length=1,
        max_length=32,
        description="the channel kinds (or 'project:channel' names) that may use it",
    )


class CredentialInfo(Model):
    name: str
    username: str
    channels: list[str]
    updated_by: str
    updated_at: datetime


class ReleaseArchive(Model):
    reason: str = Field(default="", max_length=2000)


class ReleaseAnnounce(Model):
    force_early: bool = Field(
        default=False,
        description="announce before announce_after (the operator's delay); recorded with a reason",
    )
    reason: str = Field(default="", max_length=2000)
