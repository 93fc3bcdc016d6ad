"""FakeArtifactory: JFrog Artifactory's deploy and storage REST API, for local repositories.

It follows JFrog's REST API reference (jfrog.com/help/r/jfrog-rest-apis: "Deploy Artifact",
"Deploy Artifact by Checksum", "File Info"), served under ``/artifactory``:

- ``PUT /artifactory/{repo}/{path}`` stores the body → 201 with the item's JSON
  (``repo``, ``path``, ``created``, ``createdBy``, ``downloadUri``, ``mimeType``, ``size``,
  ``checksums`` and ``originalChecksums`` with ``sha1``, ``md5``, ``sha256``, ``uri``).
  ``X-Checksum-Sha1``, ``X-Checksum-Sha256``, ``X-Checksum-Md5`` (and ``X-Checksum``, typed
  by its length) are checked against the received bytes: a mismatch is refused (409).
  An existing path is overwritten (Artifactory does so for a user with the permission to
  delete/overwrite): the reason a client must ask first.
- With ``X-Checksum-Deploy: true`` and no body, Artifactory copies content it holds
  already (anywhere) with that checksum → 201; when it holds none → 404, "content upload
  is expected".
- ``GET /artifactory/api/storage/{repo}/{path}`` → the file's info (as above, with
  ``lastModified``, ``lastUpdated``), or a folder's (``children``); 404 ``{"errors":
  [{"status": 404, "message": "Unable to find item"}]}``.
- ``GET /artifactory/{repo}/{path}`` → the bytes; ``…/{path}.sha1``, ``.md5``, ``.sha256``
  are served for any file (Artifactory computes them); ``DELETE`` removes.
- HTTP Basic (user and password or API key) or ``Authorization: Bearer`` (an access
  token); deploying and deleting need it, 401 ``{"errors": [{"status": 401, "message":
  "Bad credentials"}]}`` otherwise; reading is anonymous.

Counters for tests: :attr:`uploads` (byte uploads stored per (repo, path)),
:attr:`checksum_deploys`, :attr:`overwrites`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeArtifactory"]


def _sums(data: bytes) -> dict[str, str]:
    return {
        "sha1": hashlib.sha1(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _errors(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"status": status, "message": message}]}, status_code=status)


class FakeArtifactory:
    """The server (see the module docstring); :attr:`app` is its ASGI app."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        repositories: tuple[str, ...] = ("libs-release-local", "libs-staging-local"),
    ) -> None:
        self.username, self.password = username, password
        self.repos: dict[str, dict[str, bytes]] = {r: {} for r in repositories}
        self.uploads: Counter[tuple[str, str]] = Counter()
        self.checksum_deploys = 0
        self.overwrites = 0
        self.lock = threading.Lock()
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/artifactory/api/storage/{repo}/{path:path}", self.storage),
                Route(
                    "/artifactory/{repo}/{path:path}",
                    self.item,
                    methods=["GET", "HEAD", "PUT", "DELETE"],
                ),
            ]
        )

    def put_directly(self, repo: str, path: str, data: bytes) -> None:
        """Store a file as if someone else had deployed it."""
        with self.lock:
            self.repos[repo][path] = data

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header in (f"Basic {basic}", f"Bearer {self.password}")

    def _info(self, repo: str, path: str, data: bytes) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "repo": repo,
            "path": f"/{path}",
            "created": now,
            "createdBy": self.username,
            "lastModified": now,
            "lastUpdated": now,
            "downloadUri": f"{self.base_url}/artifactory/{repo}/{path}",
            "mimeType": "application/java-archive"
            if path.endswith(".jar")
            else "application/octet-stream",
            "size": str(len(data)),
            "checksums": _sums(data),
            "originalChecksums": _sums(data),
            "uri": f"{self.base_url}/artifactory/api/storage/{repo}/{path}",
        }

    async def storage(self, request: Request) -> Response:
        repo, path = request.path_params["repo"], request.path_params["path"].strip("/")
        with self.lock:
            files = self.repos.get(repo)
            if files is None:
                return _errors(404, f"Repository {repo} not found")
            if path in files:
                return JSONResponse(self._info(repo, path, files[path]))
            children = sorted(
                {p[len(path) + 1 :].split("/")[0] for p in files if p.startswith(path + "/")}
            )
        if children:
            return JSONResponse(
                {
                    "repo": repo,
                    "path": f"/{path}",
                    "children": [{"uri": f"/{c}", "folder": False} for c in children],
                }
            )
        return _errors(404, "Unable to find item")

    def _checked(self, request: Request, data: bytes) -> str | None:
        """What is wrong with the X-Checksum-* headers for ``data`` (``None``: nothing)."""
        sums = _sums(data)
        wanted = {
            "sha1": request.headers.get("x-checksum-sha1"),
            "sha256": request.headers.get("x-checksum-sha256"),
            "md5": request.headers.get("x-checksum-md5"),
        }
        generic = request.headers.get("x-checksum")
        if generic:
            wanted[{32: "md5", 40: "sha1", 64: "sha256"}.get(len(generic), "sha1")] = generic
        for algorithm, value in wanted.items():
            if value and value.lower() != sums[algorithm]:
                return (
                    f"Checksum policy: the {algorithm} checksum sent ({value}) is not "
                    f"the checksum of the received file ({sums[algorithm]})"
                )
        return None

    async def item(self, request: Request) -> Response:
        repo, path = request.path_params["repo"], request.path_params["path"]
        if request.method in ("GET", "HEAD"):
            return self._read(repo, path, head=request.method == "HEAD")
        if not self._authorized(request):
            return _errors(401, "Bad credentials")
        with self.lock:
            if repo not in self.repos:
                return _errors(404, f"Repository {repo} not found")
        if request.method == "DELETE":
            with self.lock:
                self.repos[repo].pop(path, None)
            return Response(status_code=204)
        if request.headers.get("x-checksum-deploy", "").lower() == "true":
            return self._checksum_deploy(request, repo, path)
        try:
            data = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # the client went away: nothing is stored
        problem = self._checked(request, data)
        if problem:
            return _errors(409, problem)
        with self.lock:
            if path in self.repos[repo]:
                self.overwrites += 1
            self.repos[repo][path] = data
            self.uploads[(repo, path)] += 1
        return JSONResponse(self._info(repo, path, data), status_code=201)

    def _checksum_deploy(self, request: Request, repo: str, path: str) -> Response:
        sha1 = (request.headers.get("x-checksum-sha1") or "").lower()
        sha256 = (request.headers.get("x-checksum-sha256") or "").lower()
        if not sha1 and not sha256:
            return _errors(400, "Missing checksum: X-Checksum-Sha1 or X-Checksum-Sha256")
        with self.lock:
            for files in self.repos.values():
                for data in files.values():
                    sums = _sums(data)
                    if sums["sha1"] == sha1 or sums["sha256"] == sha256:
                        if path in self.repos[repo]:
                            self.overwrites += 1
                        self.repos[repo][path] = data
                        self.checksum_deploys += 1
                        return JSONResponse(self._info(repo, path, data), status_code=201)
        return _errors(404, f"Checksum deploy failed: no existing file with SHA-1 {sha1}")

    def _read(self, repo: str, path: str, *, head: bool) -> Response:
        with self.lock:
            files = self.repos.get(repo, {})
            data = files.get(path)
            if data is None:
                for algorithm in ("sha1", "md5", "sha256"):
                    base = path.removesuffix(f".{algorithm}")
                    if base != path and base in files:
                        data = _sums(files[base])[algorithm].encode()
        if data is None:
            return _errors(404, "Not Found")
        return Response(b"" if head else data, headers={"content-length": str(len(data))})
