"""FakeCentralPortal: the Central Portal's Publisher API, and Maven Central behind it.

It follows Sonatype's "Publishing By Using the Portal Publisher API" page
(central.sonatype.org/publish/publish-portal-api) and its OpenAPI description:

- Authentication: ``Authorization: Bearer <base64 of "username:password" of a user token>``
  (the deprecated ``UserToken <same>`` too); 401 otherwise.
- ``POST /api/v1/publisher/upload?name=…&publishingType=AUTOMATIC|USER_MANAGED``, a
  ``multipart/form-data`` body whose part ``bundle`` is the zip → 201 with the deployment
  id as ``text/plain``. The deployment exists once the upload is complete (an upload cut
  off in the middle leaves none). ``publishingType`` defaults to ``AUTOMATIC``.
- ``POST /api/v1/publisher/status?id=…`` → ``{"deploymentId", "deploymentName",
  "deploymentState", "purls", "errors"}``; the states move **asynchronously**: ``PENDING``
  → ``VALIDATING`` → ``VALIDATED`` or ``FAILED``; an ``AUTOMATIC`` deployment goes on to
  ``PUBLISHING`` → ``PUBLISHED`` by itself; a ``USER_MANAGED`` one waits in ``VALIDATED``
  for ``POST /api/v1/publisher/deployment/{id}`` (204) and then goes the same way.
  ``DELETE /api/v1/publisher/deployment/{id}`` drops a ``VALIDATED`` or ``FAILED`` one.
- Validation (the Central requirements page: central.sonatype.org/publish/requirements):
  the bundle is a Maven repository layout; every file other than a signature or a checksum
  has a ``.md5`` and a ``.sha1`` that match and an ``.asc``; each component has its POM.
  **A component that is already published fails the whole deployment**, with the error
  ``Component with package url: 'pkg:maven/G/A@V' already exists`` under its purl.
- ``GET /api/v1/publisher/published?namespace=G&name=A&version=V`` → ``{"published": bool}``.
- ``GET /api/v1/publisher/deployments/download/{path}`` serves the files of validated
  deployments (with the token); ``GET /maven2/{path}`` stands for repo1.maven.org: the
  published files, to anyone.

Counters for tests: :attr:`uploads_started`, :attr:`deployments` (completed uploads).
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["FakeCentralPortal"]

CHECKSUM = (".sha1", ".md5", ".sha256", ".sha512")


@dataclass
class _Deployment:
    id: str
    name: str
    publishing_type: str
    files: dict[str, bytes]
    state: str = "PENDING"
    errors: dict[str, list[str]] = field(default_factory=dict)
    purls: list[str] = field(default_factory=list)
    next_at: float = 0.0
    publish_asked: bool = False


def _component(path: str) -> tuple[str, str, str] | None:
    parts = path.split("/")
    if len(parts) < 4:
        return None
    *group, artifact, version, _name = parts
    return ".".join(group), artifact, version


def _purl(component: tuple[str, str, str]) -> str:
    group, artifact, version = component
    return f"pkg:maven/{group}/{artifact}@{version}"


def _multipart_part(body: bytes, content_type: str, name: str) -> bytes | None:
    """The content of form field ``name`` in a multipart/form-data body."""
    boundary = content_type.split("boundary=", 1)[-1].strip().strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, sep, content = part.partition(b"\r\n\r\n")
        if sep and f'name="{name}"'.encode() in head:
            return content[:-2] if content.endswith(b"\r\n") else content
    return None


class FakeCentralPortal:
    """The server (see the module docstring); :attr:`app` is its ASGI app."""

    def __init__(self, *, username: str, password: str, step_seconds: float = 0.2) -> None:
        self.token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.step_seconds = step_seconds
        self.deployment_list: dict[str, _Deployment] = {}
        self.central: dict[str, bytes] = {}
        self.uploads_started = 0
        self.lock = threading.RLock()
        api = "/api/v1/publisher"
        self.app = Starlette(
            routes=[
                Route(api + "/upload", self.upload, methods=["POST"]),
                Route(api + "/status", self.status, methods=["POST"]),
                Route(api + "/deployment/{id}", self.deployment, methods=["POST", "DELETE"]),
                Route(api + "/published", self.published),
                Route(api + "/deployments/download/{path:path}", self.download),
                Route("/maven2/{path:path}", self.maven2, methods=["GET", "HEAD"]),
            ]
        )

    @property
    def deployments(self) -> int:
        with self.lock:
            return len(self.deployment_list)

    def publish_directly(self, files: dict[str, bytes]) -> None:
        """Put files on "Maven Central" as if another deployment had published them."""
        with self.lock:
            self.central.update(files)

    # --- helpers -----------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header in (f"Bearer {self.token}", f"UserToken {self.token}")

    @staticmethod
    def _denied() -> Response:
        return JSONResponse({"error": {"message": "Invalid token"}}, status_code=401)

    def _is_published(self, component: tuple[str, str, str]) -> bool:
        group, artifact, version = component
        folder = f"{group.replace('.', '/')}/{artifact}/{version}/"
        return any(p.startswith(folder) for p in self.central)

    def _validate(self, dep: _Deployment) -> None:
        errors: dict[str, list[str]] = {}
        components: set[tuple[str, str, str]] = set()
        for path, data in dep.files.items():
            component = _component(path)
            if component is None:
                errors.setdefault("bundle", []).append(f"'{path}' is not in a Maven layout")
                continue
            components.add(component)
            if path.endswith((*CHECKSUM, ".asc")):
                continue
            purl = _purl(component)
            if f"{path}.asc" not in dep.files:
                errors.setdefault(purl, []).append(f"Missing signature for file: {path}")
            for algorithm, digest in (("md5", hashlib.md5), ("sha1", hashlib.sha1)):
                held = dep.files.get(f"{path}.{algorithm}")
                if held is None:
                    errors.setdefault(purl, []).append(f"Missing {algorithm} checksum for {path}")
                elif held.decode().split()[:1] != [digest(data).hexdigest()]:
                    errors.setdefault(purl, []).append(f"Invalid {algorithm} checksum for {path}")
        for component in components:
            purl = _purl(component)
            group, artifact, version = component
            pom = f"{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.pom"
            if pom not in dep.files:
                errors.setdefault(purl, []).append(f"Missing POM for {purl}")
            if self._is_published(component):
                errors.setdefault(purl, []).append(
                    f"Component with package url: '{purl}' already exists"
                )
        dep.purls = sorted(_purl(c) for c in components)
        dep.errors = errors

    def _advance(self, dep: _Deployment) -> None:
        """Move the deployment on as time passes (the Portal works in the background)."""
        while dep.state in ("PENDING", "VALIDATING", "PUBLISHING") or (
            dep.state == "VALIDATED" and (dep.publishing_type == "AUTOMATIC" or dep.publish_asked)
        ):
            if time.monotonic() < dep.next_at:
                return
            dep.next_at = time.monotonic() + self.step_seconds
            if dep.state == "PENDING":
                dep.state = "VALIDATING"
            elif dep.state == "VALIDATING":
                self._validate(dep)
                dep.state = "FAILED" if dep.errors else "VALIDATED"
            elif dep.state == "VALIDATED":
                dep.state = "PUBLISHING"
            else:  # PUBLISHING
                self._validate(dep)  # published meanwhile by another deployment?
                if dep.errors:
                    dep.state = "FAILED"
                else:
                    self.central.update(dep.files)
                    dep.state = "PUBLISHED"

    # --- the routes ----------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        with self.lock:
            self.uploads_started += 1
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # nobody hears it; no deployment is made
        bundle = _multipart_part(body, request.headers.get("content-type", ""), "bundle")
        if bundle is None:
            return JSONResponse({"error": {"message": "Missing part 'bundle'"}}, status_code=400)
        try:
            with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
                files = {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}
        except zipfile.BadZipFile:
            return JSONResponse({"error": {"message": "Bundle is not a zip file"}}, status_code=400)
        publishing_type = request.query_params.get("publishingType", "AUTOMATIC").upper()
        dep = _Deployment(
            id=str(uuid.uuid4()),
            name=request.query_params.get("name", "bundle.zip"),
            publishing_type=publishing_type,
            files=files,
            next_at=time.monotonic() + self.step_seconds,
        )
        with self.lock:
            self.deployment_list[dep.id] = dep
        return PlainTextResponse(dep.id, status_code=201)

    async def status(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        with self.lock:
            dep = self.deployment_list.get(request.query_params.get("id", ""))
            if dep is None:
                return JSONResponse({"error": {"message": "Deployment not found"}}, status_code=404)
            self._advance(dep)
            found: dict[str, Any] = {
                "deploymentId": dep.id,
                "deploymentName": dep.name,
                "deploymentState": dep.state,
                "purls": dep.purls,
            }
            if dep.errors:
                found["errors"] = dep.errors
        return JSONResponse(found)

    async def deployment(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        with self.lock:
            dep = self.deployment_list.get(request.path_params["id"])
            if dep is None:
                return JSONResponse({"error": {"message": "Deployment not found"}}, status_code=404)
            self._advance(dep)
            if request.method == "DELETE":
                if dep.state not in ("VALIDATED", "FAILED"):
                    return JSONResponse(
                        {"error": {"message": f"Deployment is {dep.state}"}}, status_code=400
                    )
                del self.deployment_list[dep.id]
                return Response(status_code=204)
            if dep.state != "VALIDATED":
                return JSONResponse(
                    {"error": {"message": f"Deployment is {dep.state}, not VALIDATED"}},
                    status_code=400,
                )
            dep.publish_asked = True
            dep.next_at = time.monotonic() + self.step_seconds
        return Response(status_code=204)

    async def published(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        q = request.query_params
        component = (q.get("namespace", ""), q.get("name", ""), q.get("version", ""))
        with self.lock:
            return JSONResponse({"published": self._is_published(component)})

    async def download(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._denied()
        path = request.path_params["path"]
        with self.lock:
            for dep in self.deployment_list.values():
                self._advance(dep)
                if dep.state == "VALIDATED" and path in dep.files:
                    return Response(dep.files[path])
        return Response(status_code=404)

    async def maven2(self, request: Request) -> Response:
        with self.lock:
            for dep in self.deployment_list.values():
                self._advance(dep)
            data = self.central.get(request.path_params["path"])
        if data is None:
            return Response(status_code=404)
        return Response(
            b"" if request.method == "HEAD" else data, headers={"content-length": str(len(data))}
        )
