"""Maven Central through the Central Portal Publisher API (kind ``maven-central``).

The Portal takes a whole *deployment* at once: a bundle (a zip of the files in the Maven
repository layout, each with its ``.md5`` and ``.sha1``, signatures as ``.asc``), validates
it, and publishes it to Maven Central. The calls (``{url}`` is the Portal, by default
``https://central.sonatype.com``; ``Authorization: Bearer`` with the base64 of the user
token's ``name:password``)::

    GET  {url}/api/v1/publisher/published?namespace=G&name=A&version=V  → {"published": bool}
    POST {url}/api/v1/publisher/upload?name=…&publishingType=…          multipart "bundle"
                                                                        → 201, the deployment id
    POST {url}/api/v1/publisher/status?id=ID          → {"deploymentState": PENDING | VALIDATING |
                                                         VALIDATED | PUBLISHING | PUBLISHED |
                                                         FAILED, "errors": {…}}
    POST {url}/api/v1/publisher/deployment/ID         publish a VALIDATED deployment (204)

The Portal fails a whole deployment whose component is already published, so the adapter
asks ``/published`` first, for each component: a published component's files are
downloaded from Maven Central (option ``download_url``, default
``https://repo1.maven.org/maven2``) and compared by the runner, never uploaded again.

``publishingType`` (option ``publishing_type``): ``USER_MANAGED`` (the default) uploads, waits
for ``VALIDATED`` and then publishes it with the deployment call; ``AUTOMATIC`` lets the
Portal publish it once valid. Either way the adapter waits (option ``poll_seconds``,
default 5, at most ``wait_minutes``, default 60) for ``PUBLISHED``, and ``FAILED`` is
reported with the Portal's errors.

**The deployment id across crashes.** The upload's answer is the id; each file's step
records it in its URL (``https://repo1.maven.org/maven2/…/x.jar#deployment=ID``: the URL
where the file will be, the fragment is never sent). A later attempt reads it back
(``PublishContext.recorded``) and goes on polling and publishing that deployment, instead
of uploading a second one. A worker killed *during* the upload leaves no deployment (the
Portal creates it when the upload completes), so the next attempt uploads once more; only
a crash in the moment between the Portal's answer and the recording can leave a
deployment behind (it stays unpublished; drop it in the Portal).

**No staging.** A deployment the Portal holds unpublished can be read only with a Portal
token, and voters test a Maven candidate on repository.apache.org (kind ``nexus``) or a
plain staging repository (kind ``maven`` with ``staging_url``); this channel takes no file
of a staging.

Settings::

    {"name": "central", "kind": "maven-central", "url": "https://central.sonatype.com",
     "files": ["maven/*"], "credential": "central-token",
     "options": {"prefix": "maven/", "publishing_type": "USER_MANAGED"}}
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx

from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    Conflicting,
    FileToPublish,
    Found,
    PublishContext,
    matches,
)
from agent.distribute.channels.maven_layout import (
    CHECKSUMS,
    Coordinates,
    Layout,
    auth_headers,
    check,
    coordinates,
    digests_of,
    option_float,
    stream_get,
    wants_checksums,
)
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind

__all__ = ["CentralPortal"]

PUBLISHING_TYPES = ("USER_MANAGED", "AUTOMATIC")
_GOING = ("PENDING", "VALIDATING", "VALIDATED", "PUBLISHING", "PUBLISHED")
"""Deployment states that will end (or ended) in Maven Central."""
_FRAGMENT = "#deployment="


class CentralPortal(Channel):
    """The Central Portal (see the module docstring)."""

    kind = ChannelKind.MAVEN_CENTRAL
    stages = False

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        options = ctx.settings.options
        self.layout = Layout(options)
        self.portal = ctx.settings.url.rstrip("/")
        self.download = options.get("download_url", "https://repo1.maven.org/maven2").rstrip("/")
        self.publishing_type = options.get("publishing_type", "USER_MANAGED").upper()
        if self.publishing_type not in PUBLISHING_TYPES:
            raise ValidationError(
                f"the maven-central channel {ctx.settings.name!r} has the publishing_type "
                f"{self.publishing_type!r}",
                hint=f"one of {', '.join(PUBLISHING_TYPES)}",
            )
        self.poll = option_float(options, "poll_seconds", 5.0)
        self.wait = option_float(options, "wait_minutes", 60.0) * 60
        self._published: dict[Coordinates, bool] = {}
        self._deployment: str | None = None

    # --- names -----------------------------------------------------------------------------

    def selects(self, path: str) -> bool:
        if self.ctx.kind == "staging":
            return False  # see "No staging" in the module docstring
        return self.layout.holds(path) and matches(path, self.ctx.settings.files)

    def base(self) -> str:
        return self.download

    def target(self, path: str) -> str:
        return self.layout.url(self.download, path)

    def _api(self, path: str) -> str:
        return f"{self.portal}/api/v1/publisher/{path}"

    def _headers(self) -> dict[str, str]:
        headers = auth_headers(self.ctx)
        cred = self.ctx.credential
        if cred is not None and cred.username:
            # the Portal takes the base64 of "name:password" as a bearer token
            headers["Authorization"] = "Bearer " + headers["Authorization"].split(" ", 1)[1]
        return headers

    # --- reading ---------------------------------------------------------------------------

    def _is_published(self, component: Coordinates) -> bool:
        if component not in self._published:
            response = self.ctx.http.get(
                self._api("published"),
                params={
                    "namespace": component.group_id,
                    "name": component.artifact_id,
                    "version": component.version,
                },
                headers=self._headers(),
            )
            found = check(response, f"ask the Portal whether {component} is published",
                          self.ctx, 200).json()  # fmt: skip
            self._published[component] = bool(found.get("published"))
        return self._published[component]

    def _status(self, deployment: str) -> dict[str, Any]:
        response = self.ctx.http.post(
            self._api("status"), params={"id": deployment}, headers=self._headers()
        )
        if response.status_code == 404:
            return {"deploymentState": "GONE"}  # dropped in the Portal
        found = check(response, f"read the status of deployment {deployment}", self.ctx, 200)
        return cast(dict[str, Any], found.json())

    def _recorded(self, path: str | None = None) -> str | None:
        """The deployment id recorded for ``path`` (or for any file), if any."""
        urls = [self.ctx.recorded.get(path, "")] if path else list(self.ctx.recorded.values())
        for url in urls:
            if _FRAGMENT in url:
                return url.split(_FRAGMENT, 1)[1]
        return None

    def lookup(self, file: FileToPublish) -> Found | None:
        component = coordinates(self.layout.repo_path(file.path))
        if self._is_published(component):
            return Found(url=self.target(file.path))
        deployment = self._recorded(file.path)
        if deployment is not None:
            state = str(self._status(deployment).get("deploymentState", ""))
            if state in _GOING:
                # this step's own upload of these bytes (the step's SHA-512 never changes)
                self._deployment = deployment
                return Found(url=self.ctx.recorded[file.path], sha512=file.sha512)
        return None

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        return stream_get(self.ctx, self.target(file.path), headers={})

    # --- the bundle --------------------------------------------------------------------------

    def _bundle(self, files: Sequence[FileToPublish], into: Path) -> None:
        """The zip of ``files`` in the repository layout, with their checksums."""
        with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for file in files:
                repo_path = self.layout.repo_path(file.path)
                with bundle.open(repo_path, "w", force_zip64=True) as out:
                    for chunk in file.chunks():
                        out.write(chunk)
                if wants_checksums(repo_path):
                    sums = digests_of(file)
                    for algorithm in CHECKSUMS:
                        bundle.writestr(f"{repo_path}.{algorithm}", sums.of(algorithm))

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        components = {coordinates(self.layout.repo_path(f.path)) for f in files}
        taken = sorted(str(c) for c in components if self._is_published(c))
        if taken:
            raise Conflicting(
                f"{', '.join(taken)} is already published on Maven Central without "
                f"{', '.join(f.path for f in files)}: a published component never changes",
                hint="publish a new version",
            )
        if self._deployment is not None:
            # files of this distribution are in a deployment under way, which takes no more
            raise ChannelError(
                f"deployment {self._deployment} on the Portal holds part of this release "
                f"but not {', '.join(f.path for f in files)}",
                retryable=False,
                hint="drop the deployment in the Portal, then retry the channel",
            )
        self._deployment = self._upload(files)
        return {f.path: f"{self.target(f.path)}{_FRAGMENT}{self._deployment}" for f in files}

    def _upload(self, files: Sequence[FileToPublish]) -> str:
        name = f"{self.ctx.project_name} {self.ctx.version}"
        with tempfile.TemporaryDirectory(prefix="atr-central-") as folder:
            path = Path(folder) / "bundle.zip"
            self._bundle(files, path)
            size = path.stat().st_size
            self.ctx.log(f"uploading a bundle of {len(files)} files ({size:,} bytes) as {name!r}")
            with path.open("rb") as body:
                response = self.ctx.http.post(
                    self._api("upload"),
                    params={"name": name, "publishingType": self.publishing_type},
                    files={"bundle": ("bundle.zip", body, "application/octet-stream")},
                    headers=self._headers(),
                    timeout=httpx.Timeout(60.0, read=300.0),  # the Portal may read it a while
                )
        check(response, "upload the bundle to the Central Portal", self.ctx, 200, 201)
        deployment = response.text.strip()
        if not deployment:
            raise ChannelError("the Portal answered the upload without a deployment id",
                               retryable=True)  # fmt: skip
        self.ctx.log(f"the Portal took the bundle as deployment {deployment}")
        return deployment

    # --- validating and publishing ---------------------------------------------------------

    def finish(self) -> None:
        deployment = self._deployment or self._recorded()
        if deployment is None:
            return  # every component was published already
        deadline = time.monotonic() + self.wait
        asked = False
        while True:
            status = self._status(deployment)
            state = str(status.get("deploymentState", ""))
            if state == "PUBLISHED":
                self.ctx.log(f"deployment {deployment} is published on Maven Central")
                return
            if state == "FAILED":
                raise ChannelError(
                    f"the Central Portal failed deployment {deployment}: {_errors(status)}",
                    retryable=False,
                    hint="fix what the Portal names; a component already on Central cannot "
                    "be published again",
                )
            if state == "VALIDATED" and self.publishing_type == "USER_MANAGED" and not asked:
                response = self.ctx.http.post(
                    self._api(f"deployment/{quote(deployment)}"), headers=self._headers()
                )
                check(response, f"publish deployment {deployment}", self.ctx, 200, 202, 204)
                self.ctx.log(f"publishing deployment {deployment}")
                asked = True
            elif state not in _GOING:
                raise ChannelError(
                    f"deployment {deployment} is {state or 'unknown'} on the Portal",
                    retryable=False,
                )
            if time.monotonic() > deadline:
                raise ChannelError(
                    f"deployment {deployment} is still {state} after {self.wait / 60:g} minutes",
                    retryable=True,
                )
            time.sleep(self.poll)


def _errors(status: dict[str, Any]) -> str:
    errors = status.get("errors")
    if isinstance(errors, dict):
        texts = []
        for key, value in errors.items():
            items = value if isinstance(value, list) else [value]
            texts += [f"{key}: {item}" if key not in str(item) else str(item) for item in items]
        if texts:
            return "; ".join(texts)
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return "the Portal gave no reason"
