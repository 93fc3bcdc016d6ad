"""FakeNexus2: a Nexus Repository Manager 2 with the staging suite, as repository.apache.org.

It follows the staging REST API that Maven's ``nexus-staging-maven-plugin`` and the Gradle
``publish-plugin`` use (their requests and Nexus's answers are documented in Sonatype's
``central_nxrm_two_portal`` notes and Nexus's staging plugin docs, path__staging_*.html):

- JSON in and out, every body wrapped in ``{"data": …}``; HTTP Basic for the service API.
- ``POST /service/local/staging/profiles/{profileId}/start`` with ``{"data": {"description"}}``
  → 201 ``{"data": {"stagedRepositoryId", "description"}}``; ids look like
  ``orgapacheacme-1001`` (the profile's name without dots, a number from 1000).
- ``PUT /service/local/staging/deployByRepositoryId/{id}/{path}`` → 201 while the
  repository is open; a closed one refuses (400).
- ``GET /service/local/staging/profile_repositories/{profileId}`` → ``{"data": [repository…]}``;
  ``GET /service/local/staging/repository/{id}`` → the repository itself (not wrapped):
  ``repositoryId``, ``type`` (``open``/``closed``/``released``), ``transitioning``,
  ``description``, ``repositoryURI``…; 404 ``{"errors": [{"id": "*", "msg": "No such
  repository: …"}]}`` once it is gone.
- ``POST /service/local/staging/bulk/close | promote | drop`` with ``{"data":
  {"stagedRepositoryIds": [...], "description", "autoDropAfterRelease"}}`` → 201 at once;
  the work is **asynchronous**: the repository is ``transitioning: true`` for
  ``transition_seconds``, then moves (or not). ``…/profiles/{profileId}/finish`` with
  ``{"data": {"stagedRepositoryId"}}`` closes one repository too.
- Closing evaluates the profile's rules; a failure keeps the repository open and the
  activity log (``GET …/repository/{id}/activity``: a list of ``{"name": "open" | "close" |
  "release", "events": [{"name", "properties": [{"name", "value"}]}]}``) has ``ruleFailed``
  events with ``failureMessage`` properties, then ``rulesFailed`` and
  ``repositoryCloseFailed`` (``cause``). The rules here: each artifact has its ``.asc``
  (signature-staging), a ``.sha1`` and ``.md5`` that match (checksum-staging), and each
  version folder has a POM (pom-staging).
- Promoting a closed repository copies its files into the release repository
  (``releases``); with ``autoDropAfterRelease`` the staging repository is then gone, else
  it is ``released``. A path the release repository holds already fails the release.
- ``GET /content/repositories/{id}/{path}`` serves a repository's files (the release
  repository and closed staging repositories to anyone; open ones to the deployer);
  ``/content/groups/staging/{path}`` serves the closed staging repositories together.

Counters for tests: :attr:`stores` (successful deploys per (repository, path)),
:attr:`started` (repositories started).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeNexus2"]

CHECKSUM = (".sha1", ".md5", ".sha256", ".sha512")
SIGNATURE = (".asc",)


@dataclass
class _Repo:
    id: str
    profile: str
    description: str
    type: str = "open"
    transitioning: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    activity: list[dict[str, Any]] = field(default_factory=list)
    pending: tuple[float, str, dict[str, Any]] | None = None
    """(when, action, request data) of the transition under way."""


def _event(name: str, **properties: str | list[str]) -> dict[str, Any]:
    props = []
    for key, value in properties.items():
        for item in value if isinstance(value, list) else [value]:
            props.append({"name": key, "value": item})
    return {"name": name, "properties": props, "severity": 0, "timestamp": time.time()}


class FakeNexus2:
    """The server (see the module docstring); :attr:`app` is its ASGI app."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        profile_id: str = "1a2b3c4d5e",
        profile_name: str = "org.apache.acme",
        transition_seconds: float = 0.4,
        release_repository: str = "releases",
    ) -> None:
        self.username, self.password = username, password
        self.profile_id, self.profile_name = profile_id, profile_name
        self.transition_seconds = transition_seconds
        self.release_repository = release_repository
        self.repos: dict[str, _Repo] = {}
        self.releases: dict[str, bytes] = {}
        self.stores: Counter[tuple[str, str]] = Counter()
        self.started = 0
        self.lock = threading.RLock()
        self.base_url = ""
        p = "/service/local/staging"
        self.app = Starlette(
            routes=[
                Route(p + "/profile_repositories/{profile}", self.profile_repositories),
                Route(p + "/profiles/{profile}/start", self.start, methods=["POST"]),
                Route(p + "/profiles/{profile}/finish", self.finish, methods=["POST"]),
                Route(
                    p + "/deployByRepositoryId/{repo}/{path:path}",
                    self.deploy,
                    methods=["PUT", "GET", "HEAD"],
                ),
                Route(p + "/bulk/{action}", self.bulk, methods=["POST"]),
                Route(p + "/repository/{repo}", self.repository),
                Route(p + "/repository/{repo}/activity", self.activity),
                Route(
                    "/content/repositories/{repo}/{path:path}",
                    self.content,
                    methods=["GET", "HEAD"],
                ),
                Route("/content/groups/staging/{path:path}", self.group, methods=["GET", "HEAD"]),
            ]
        )

    # --- helpers -----------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        want = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {want}"

    @staticmethod
    def _denied() -> Response:
        return Response(
            "Unauthorized",
            status_code=401,
            headers={"WWW-Authenticate": 'BASIC realm="Sonatype Nexus"'},
        )

    def _advance(self) -> None:
        """Apply the transitions whose time has come (Nexus does them in the background)."""
        with self.lock:
            for repo in list(self.repos.values()):
                if repo.pending is not None and time.monotonic() >= repo.pending[0]:
                    _, action, data = repo.pending
                    repo.pending = None
                    repo.transitioning = False
                    {"close": self._close, "promote": self._promote, "drop": self._drop}[action](
                        repo, data
                    )

    def _json(self, repo: _Repo) -> dict[str, Any]:
        return {
            "profileId": repo.profile,
            "profileName": self.profile_name,
            "repositoryId": repo.id,
            "type": repo.type,
            "transitioning": repo.transitioning,
            "description": repo.description,
            "policy": "release",
            "provider": "maven2",
            "releaseRepositoryId": self.release_repository,
            "repositoryURI": f"{self.base_url}/content/repositories/{repo.id}",
            "notifications": 0,
        }

    @staticmethod
    def _missing(repo: str) -> JSONResponse:
        return JSONResponse(
            {"errors": [{"id": "*", "msg": f"No such repository: {repo}"}]}, status_code=404
        )

    # --- the rules and the transitions ---------------------------------------------------------

    def _rule_failures(self, repo: _Repo) -> list[str]:
        failures = []
        folders = {path.rsplit("/", 1)[0] for path in repo.files}
        for folder in sorted(folders):
            if not any(p.startswith(folder + "/") and p.endswith(".pom") for p in repo.files):
                failures.append(f"Invalid POM: /{folder}/: no POM deployed in the folder")
        for path, data in sorted(repo.files.items()):
            if path.endswith(CHECKSUM + SIGNATURE):
                continue
            name = path.rsplit("/", 1)[1]
            if f"{path}.asc" not in repo.files:
                failures.append(f"Missing Signature: '/{path}.asc' does not exist for '{name}'.")
            for algorithm, digest in (("sha1", hashlib.sha1), ("md5", hashlib.md5)):
                held = repo.files.get(f"{path}.{algorithm}")
                if held is None:
                    failures.append(f"Missing {algorithm.upper()}: '/{path}.{algorithm}'")
                elif held.decode().split()[:1] != [digest(data).hexdigest()]:
                    failures.append(f"Invalid {algorithm.upper()}: '/{path}.{algorithm}'")
        return failures

    def _close(self, repo: _Repo, data: dict[str, Any]) -> None:
        failures = self._rule_failures(repo)
        rules = ["signature-staging", "checksum-staging", "pom-staging"]
        events = [_event("rulesEvaluate", id="rules", rule=rules)]
        if failures:
            events += [
                _event("ruleFailed", typeId="staging-rules", failureMessage=failures),
                _event("rulesFailed", id="rules", failureCount=str(len(failures))),
                _event(
                    "repositoryCloseFailed",
                    id=repo.id,
                    cause=(
                        "com.sonatype.nexus.staging.StagingRulesFailedException: "
                        "One or more rules have failed"
                    ),
                ),
            ]
        else:
            events += [_event("rulesPassed", id="rules"), _event("repositoryClosed", id=repo.id)]
            repo.type = "closed"
        repo.activity.append({"name": "close", "events": events})

    def _promote(self, repo: _Repo, data: dict[str, Any]) -> None:
        taken = [p for p, b in repo.files.items() if p in self.releases and self.releases[p] != b]
        if repo.type != "closed" or taken:
            cause = (
                f"Repository {repo.id} is {repo.type}"
                if repo.type != "closed"
                else f"Repository '{self.release_repository}' does not allow updating "
                f"artifact: '/{taken[0]}'"
            )
            repo.activity.append(
                {
                    "name": "release",
                    "events": [_event("repositoryReleaseFailed", id=repo.id, cause=cause)],
                }
            )
            return
        for path, data_ in repo.files.items():
            self.releases.setdefault(path, data_)
        repo.activity.append(
            {
                "name": "release",
                "events": [
                    _event("repositoryReleased", id=repo.id, target=self.release_repository)
                ],
            }
        )
        if data.get("autoDropAfterRelease"):
            del self.repos[repo.id]
        else:
            repo.type = "released"

    def _drop(self, repo: _Repo, data: dict[str, Any]) -> None:
        self.repos.pop(repo.id, None)

    def _begin(self, repo: _Repo, action: str, data: dict[str, Any]) -> None:
        repo.transitioning = True
        repo.pending = (time.monotonic() + self.transition_seconds, action, data)

    # --- the routes ----------------------------------------------------------------------------

    async def profile_repositories(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        self._advance()
        profile = request.path_params["profile"]
        with self.lock:
            found = [self._json(r) for r in self.repos.values() if r.profile == profile]
        return JSONResponse({"data": found})

    async def start(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        profile = request.path_params["profile"]
        if profile != self.profile_id:
            return JSONResponse(
                {"errors": [{"id": "*", "msg": f"No such profile: {profile}"}]}, status_code=404
            )
        body = await request.json()
        description = str(body.get("data", {}).get("description", ""))
        with self.lock:
            self.started += 1
            repo_id = f"{self.profile_name.replace('.', '')}-{1000 + self.started}"
            self.repos[repo_id] = _Repo(repo_id, profile, description)
            self.repos[repo_id].activity.append(
                {"name": "open", "events": [_event("repositoryCreated", id=repo_id)]}
            )
        return JSONResponse(
            {"data": {"stagedRepositoryId": repo_id, "description": description}}, status_code=201
        )

    async def finish(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        data = (await request.json()).get("data", {})
        return self._bulk("close", [str(data.get("stagedRepositoryId", ""))], data)

    async def bulk(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        action = request.path_params["action"]
        if action not in ("close", "promote", "drop"):
            return Response(status_code=404)
        data = (await request.json()).get("data", {})
        return self._bulk(action, [str(i) for i in data.get("stagedRepositoryIds", [])], data)

    def _bulk(self, action: str, ids: list[str], data: dict[str, Any]) -> Response:
        self._advance()
        with self.lock:
            for repo_id in ids:
                repo = self.repos.get(repo_id)
                if repo is None:
                    return self._missing(repo_id)
                if repo.transitioning:
                    text = f"Repository {repo_id} is transitioning"
                    return JSONResponse({"errors": [{"id": "*", "msg": text}]}, status_code=400)
            for repo_id in ids:
                self._begin(self.repos[repo_id], action, data)
        return Response(status_code=201)

    async def deploy(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        self._advance()
        repo_id, path = request.path_params["repo"], request.path_params["path"]
        if request.method != "PUT":  # the deploy URL reads like the repository (Maven GETs
            return await self.content(request)  # maven-metadata.xml there)
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # the client went away: nothing is stored
        with self.lock:
            repo = self.repos.get(repo_id)
            if repo is None:
                return self._missing(repo_id)
            if repo.type != "open" or repo.transitioning:
                return Response(
                    f"Repository with ID='{repo_id}' is {repo.type}: it does not "
                    "allow deploying artifacts",
                    status_code=400,
                )
            repo.files[path] = body
            self.stores[(repo_id, path)] += 1
        return Response(status_code=201)

    async def repository(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        self._advance()
        repo_id = request.path_params["repo"]
        with self.lock:
            repo = self.repos.get(repo_id)
            return self._missing(repo_id) if repo is None else JSONResponse(self._json(repo))

    async def activity(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        self._advance()
        repo_id = request.path_params["repo"]
        with self.lock:
            repo = self.repos.get(repo_id)
            return self._missing(repo_id) if repo is None else JSONResponse(repo.activity)

    async def content(self, request: Request) -> Response:
        self._advance()
        repo_id, path = request.path_params["repo"], request.path_params["path"]
        with self.lock:
            if repo_id == self.release_repository:
                files = self.releases
            else:
                repo = self.repos.get(repo_id)
                if repo is None:
                    return Response(status_code=404)
                if repo.type == "open" and not self._authorized(request):
                    return self._denied()
                files = repo.files
            data = files.get(path)
        if data is None:
            return Response(status_code=404)
        return Response(
            b"" if request.method == "HEAD" else data, headers={"content-length": str(len(data))}
        )

    async def group(self, request: Request) -> Response:
        self._advance()
        path = request.path_params["path"]
        with self.lock:
            for repo in self.repos.values():
                if repo.type == "closed" and path in repo.files:
                    data = repo.files[path]
                    return Response(
                        b"" if request.method == "HEAD" else data,
                        headers={"content-length": str(len(data))},
                    )
        return Response(status_code=404)
