"""A Nexus 2 staging repository (kind ``nexus``): repository.apache.org.

The ASF's Maven path: a release's artifacts go to a *staging repository* of the project's
staging profile, which is closed (Nexus checks it: signatures, checksums, POMs) so voters
can test it; when the vote passes it is *released* (promoted into the release repository,
which Maven Central syncs), and when the vote fails it is *dropped*. The REST calls (JSON,
HTTP Basic; ``{url}`` is the Nexus root, e.g. ``https://repository.apache.org``; ``S`` is
``{url}/service/local/staging``)::

    GET  S/profile_repositories/{profile}     the profile's repositories
    POST S/profiles/{profile}/start           {"data": {"description"}}
                                              → {"data": {"stagedRepositoryId"}}
    PUT  S/deployByRepositoryId/{id}/{path}   each file, its .sha1 and .md5
    POST S/bulk/close | promote | drop        {"data": {"stagedRepositoryIds": [id], …}}
    GET  S/repository/{id}                    {"type", "transitioning", …}
    GET  S/repository/{id}/activity           the rule failures when closing fails
    GET  {url}/content/repositories/{id or releases}/{path}    the files

Close, promote and drop are asynchronous: the answer comes at once and the repository is
``transitioning`` until Nexus is done; the adapter polls (option ``poll_seconds``, default
2, at most ``wait_minutes``, default 30) and reads the activity log for rule failures.

**Which staging repository, across crashes.** Every repository the adapter starts carries
a description naming the project, the version and the candidate, e.g. ``Apache Acme
1.0.0-rc1 [ATR acme-lib]``. Before starting one it lists the profile's repositories and
takes the open or closed one with that description, so the repository's id is recorded
*on Nexus itself*, the moment Nexus creates it: a worker killed after Nexus answered the
start (or in the middle of it) finds the same repository on its next attempt, and no
second one is opened. The steps' URLs name the repository too
(``{url}/content/repositories/{id}/…``, what voters download) and are read back first.

**A staging** (a candidate during its vote): start (or find) the candidate's repository,
deploy, close; it stays closed for the voters. **A production release** releases the
repository the vote was on: the closed candidate repository of this version whose files
hold the voted bytes (their ``.sha1`` is compared while looking, the runner compares the
SHA-512 of each file), promoted into the release repository (option
``release_repository``, default ``releases``). Without a staged candidate it stages a
repository for the release itself (description ``… 1.0.0 [ATR …]``), closes and releases
it. Files already in the release repository are compared and left alone. **A failed
vote** drops the candidate's repository (:meth:`NexusStaging.discard`).

Settings::

    {"name": "asf-nexus", "kind": "nexus", "url": "https://repository.apache.org",
     "files": ["maven/*"], "credential": "asf-nexus",
     "options": {"profile_id": "1a2b3c4d5e6f", "prefix": "maven/"}}
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    FileToPublish,
    Found,
    PublishContext,
    matches,
)
from agent.distribute.channels.maven_layout import (
    Layout,
    PutDeployer,
    check,
    digests_of,
    option_float,
    stream_get,
)
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind

__all__ = ["NexusStaging"]

_LIVE = ("open", "closed")
"""Repository types that hold files a distribution may still use."""


def _properties(event: dict[str, Any], name: str) -> list[str]:
    return [
        str(p.get("value", ""))
        for p in event.get("properties", [])
        if isinstance(p, dict) and p.get("name") == name
    ]


class NexusStaging(Channel):
    """A Nexus 2 staging profile (see the module docstring)."""

    kind = ChannelKind.NEXUS

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        options = ctx.settings.options
        self.profile = options.get("profile_id", "")
        if not self.profile:
            raise ValidationError(
                f"the nexus channel {ctx.settings.name!r} has no staging profile",
                hint='set its option "profile_id" (the id of the project\'s staging profile, '
                "shown by GET /service/local/staging/profiles)",
            )
        self.layout = Layout(options)
        self.root = ctx.endpoint
        self.release_repository = options.get("release_repository", "releases")
        self.staging_group = options.get("staging_group", "staging")
        self.poll = option_float(options, "poll_seconds", 2.0)
        self.wait = option_float(options, "wait_minutes", 30.0) * 60
        self.deployer = PutDeployer(ctx, webdav=False)
        self._repo: dict[str, Any] | None = None
        self._resolved = False
        self._released = False
        self._where: dict[str, str] = {}

    @property
    def headers(self) -> dict[str, str]:
        return {**self.deployer.headers, "Accept": "application/json"}

    # --- names -----------------------------------------------------------------------------

    @property
    def description(self) -> str:
        ctx = self.ctx
        name = ctx.candidate if ctx.kind == "staging" else ctx.version
        return f"{ctx.project_name} {name} [ATR {ctx.project}]"

    def _candidate_rc(self, description: str) -> int | None:
        """The rc number when ``description`` names a staged candidate of this version."""
        ctx = self.ctx
        pattern = (
            rf"{re.escape(ctx.project_name)} {re.escape(ctx.version)}-rc(\d+) "
            rf"\[ATR {re.escape(ctx.project)}\]"
        )
        found = re.fullmatch(pattern, description)
        return int(found.group(1)) if found else None

    def _service(self, path: str) -> str:
        return f"{self.root}/service/local/staging/{path}"

    def _content(self, repository: str, path: str) -> str:
        return f"{self.root}/content/repositories/{quote(repository)}/" + quote(
            self.layout.repo_path(path)
        )

    def selects(self, path: str) -> bool:
        return self.layout.holds(path) and matches(path, self.ctx.settings.files)

    def base(self) -> str:
        if self.ctx.kind == "staging":
            return f"{self.root}/content/groups/{quote(self.staging_group)}"
        return f"{self.root}/content/repositories/{quote(self.release_repository)}"

    def target(self, path: str) -> str:
        return self.layout.url(self.base(), path)

    # --- the staging repository ------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> Any:
        response = self.ctx.http.get(url, headers=self.headers)
        return check(response, what, self.ctx, 200).json()

    def _post(self, url: str, body: dict[str, Any], what: str) -> Any:
        response = self.ctx.http.post(url, json={"data": body}, headers=self.headers)
        check(response, what, self.ctx, 200, 201, 204)
        return response.json() if response.content else None

    def _repositories(self) -> list[dict[str, Any]]:
        found = self._get_json(
            self._service(f"profile_repositories/{quote(self.profile)}"),
            f"list the repositories of staging profile {self.profile}",
        )
        data = found.get("data", []) if isinstance(found, dict) else []
        return [r for r in data if isinstance(r, dict) and r.get("repositoryId")]

    def _state(self, repository: str) -> dict[str, Any] | None:
        """The repository's state, or ``None`` when Nexus no longer has it."""
        response = self.ctx.http.get(
            self._service(f"repository/{quote(repository)}"), headers=self.headers
        )
        if response.status_code == 404:
            return None
        found = check(response, f"read staging repository {repository}", self.ctx, 200).json()
        return found if isinstance(found, dict) else None

    def _recorded_ids(self) -> list[str]:
        prefix = f"{self.root}/content/repositories/"
        ids = []
        for url in self.ctx.recorded.values():
            if url.startswith(prefix):
                repository = url[len(prefix) :].split("/", 1)[0]
                if repository != self.release_repository and repository not in ids:
                    ids.append(repository)
        return ids

    def _resolve(self, file: FileToPublish | None) -> dict[str, Any] | None:
        """The staging repository this distribution uses (module docstring), if any yet."""
        if self._resolved:
            return self._repo
        live = [r for r in self._repositories() if r.get("type") in _LIVE]
        by_id = {r["repositoryId"]: r for r in live}
        chosen = next((by_id[i] for i in self._recorded_ids() if i in by_id), None)
        if chosen is None:
            mine = [r for r in live if r.get("description") == self.description]
            chosen = mine[0] if mine else None
            if len(mine) > 1:
                self.ctx.log(
                    f"{len(mine)} staging repositories are described {self.description!r}; "
                    f"using {chosen and chosen['repositoryId']}"
                )
        if chosen is None and self.ctx.kind == "production":
            if file is None:
                return None  # decided when a file is looked for
            chosen = self._voted_candidate(live, file)
        self._repo, self._resolved = chosen, chosen is not None
        return chosen

    def _voted_candidate(
        self, live: list[dict[str, Any]], file: FileToPublish
    ) -> dict[str, Any] | None:
        """The closed candidate repository (newest first) whose copy of ``file`` has its
        SHA-1: the repository the vote was on."""
        candidates = []
        for repo in live:
            rc = self._candidate_rc(str(repo.get("description", "")))
            if rc is not None and repo.get("type") == "closed":
                candidates.append((rc, repo))
        want = digests_of(file).sha1
        for rc, repo in sorted(candidates, key=lambda c: -c[0]):
            held = self.deployer.text(self._content(repo["repositoryId"], file.path) + ".sha1")
            if held is not None and held.split()[:1] == [want]:
                self.ctx.log(
                    f"releasing the staged candidate rc{rc} ({repo['repositoryId']}), the "
                    "repository the vote was on"
                )
                return repo
        return None

    def _start(self) -> dict[str, Any]:
        found = self._post(
            self._service(f"profiles/{quote(self.profile)}/start"),
            {"description": self.description},
            f"start a staging repository in profile {self.profile}",
        )
        repository = (found or {}).get("data", {}).get("stagedRepositoryId")
        if not repository:
            raise ChannelError(
                f"Nexus started no staging repository in profile {self.profile}: {found!r}",
                retryable=True,
            )
        self.ctx.log(f"started the staging repository {repository} ({self.description})")
        self._repo = {"repositoryId": repository, "type": "open", "description": self.description}
        self._resolved = True
        return self._repo

    def _wait(self, repository: str, what: str) -> dict[str, Any] | None:
        """Poll until the repository is no longer transitioning; its state (``None``: gone)."""
        deadline = time.monotonic() + self.wait
        while True:
            state = self._state(repository)
            if state is None or not state.get("transitioning"):
                return state
            if time.monotonic() > deadline:
                raise ChannelError(
                    f"{what} of staging repository {repository} did not finish in "
                    f"{self.wait / 60:g} minutes",
                    retryable=True,
                )
            time.sleep(self.poll)

    def _failures(self, repository: str) -> str:
        """What the activity log says went wrong (rule failures, the failed transition)."""
        response = self.ctx.http.get(
            self._service(f"repository/{quote(repository)}/activity"), headers=self.headers
        )
        if not response.is_success:
            return "Nexus gave no activity log"
        texts: list[str] = []
        activities = response.json()
        for activity in activities if isinstance(activities, list) else []:
            for event in activity.get("events", []) if isinstance(activity, dict) else []:
                if not isinstance(event, dict):
                    continue
                name = event.get("name")
                if name == "ruleFailed":
                    texts += _properties(event, "failureMessage")
                elif isinstance(name, str) and name.endswith("Failed") and name != "rulesFailed":
                    texts += _properties(event, "cause")
        unique = list(dict.fromkeys(" ".join(t.split()) for t in texts if t))
        return "; ".join(unique) or "Nexus gave no reason"

    def _transition(self, action: str, repository: str, then: str) -> dict[str, Any] | None:
        """Close, promote or drop ``repository``; its state once Nexus is done."""
        body: dict[str, Any] = {
            "stagedRepositoryIds": [repository],
            "description": self.description,
        }
        if action == "promote":
            body["autoDropAfterRelease"] = True
        self.ctx.log(f"{action} of staging repository {repository}")
        self._post(self._service(f"bulk/{action}"), body, f"{action} {repository}")
        state = self._wait(repository, action)
        if state is not None and state.get("type") != then and action != "drop":
            raise ChannelError(
                f"{action} of staging repository {repository} failed "
                f"({state.get('type')}): {self._failures(repository)}",
                retryable=False,
                hint="fix the artifacts and stage a new candidate; drop the repository on "
                f"{self.root}",
            )
        return state

    # --- the interface ---------------------------------------------------------------------

    def lookup(self, file: FileToPublish) -> Found | None:
        if self.ctx.kind == "production":
            released = self._content(self.release_repository, file.path)
            if self.deployer.exists(released):
                self._where[file.path] = released
                return Found(url=released)
        repo = self._resolve(file)
        if repo is None:
            return None
        url = self._content(repo["repositoryId"], file.path)
        if not self.deployer.exists(url):
            return None
        self._where[file.path] = url
        return Found(url=url)

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        repo = self._resolve(files[0] if files else None) or self._start()
        repository = repo["repositoryId"]
        if repo.get("type") != "open":
            raise ChannelError(
                f"staging repository {repository} is {repo.get('type')}: it cannot take "
                f"{', '.join(f.path for f in files)}",
                retryable=False,
                hint=f"drop {repository} on {self.root} and stage the candidate again",
            )
        urls = {}
        for file in files:
            repo_path = self.layout.repo_path(file.path)
            deploy = self._service(f"deployByRepositoryId/{quote(repository)}/{quote(repo_path)}")
            content = self._content(repository, file.path)
            self.deployer.deploy(deploy, file, repo_path, read=content)
            urls[file.path] = self._where[file.path] = content
        return urls

    def finish(self) -> None:
        repo = self._resolve(None)
        if repo is None:
            return  # every file was in the release repository already
        repository = repo["repositoryId"]
        state = self._wait(repository, "the last transition")
        if state is None:
            self._released = True  # released (and dropped) by an earlier attempt
            return
        if state.get("type") == "open":
            state = self._transition("close", repository, then="closed")
            self.ctx.log(f"closed {repository}: {self.root}/content/repositories/{repository}/")
        if self.ctx.kind == "production" and state is not None:
            self._transition("promote", repository, then="released")
            self.ctx.log(f"released {repository} into {self.release_repository}")
        if self.ctx.kind == "production":
            self._released = True

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        if self._released:
            url = self._content(self.release_repository, file.path)
        else:
            url = self._where.get(file.path) or self.target(file.path)
        return stream_get(self.ctx, url, headers=self.deployer.headers)

    def discard(self, files: Sequence[FileToPublish]) -> None:
        """Drop the candidate's staging repository (its vote failed)."""
        if self.ctx.kind != "staging":
            return
        repo = self._resolve(None)
        if repo is None:
            self.ctx.log(f"no staging repository is described {self.description!r}")
            return
        self._transition("drop", repo["repositoryId"], then="dropped")
        self.ctx.log(f"dropped {repo['repositoryId']} ({self.description})")
