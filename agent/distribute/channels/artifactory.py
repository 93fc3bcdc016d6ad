"""JFrog Artifactory (kind ``artifactory``): its deploy API and its storage API.

The channel's ``url`` is a repository's URL, ``https://acme.jfrog.io/artifactory/libs-release-local``
(its last segment is the repository key, what comes before it the Artifactory root). The
calls (HTTP Basic with a user name, else the secret as a bearer access token)::

    GET {root}/api/storage/{repo}/{path}
        → {"checksums": {"sha1", "md5", "sha256"}, "downloadUri", …}; 404: nothing there
    PUT {root}/{repo}/{path}   X-Checksum-Deploy: true, X-Checksum-Sha1/-Sha256/-Md5, no body
        → 201: Artifactory held the content and copied it; 404: it has no such content, so
    PUT {root}/{repo}/{path}   the bytes, with the same X-Checksum-* headers
        → 201: Artifactory checked them against what it received

Artifactory computes and serves a file's ``.sha1``/``.md5`` itself, so only the files are
deployed. Asking first uses the storage API: its SHA-256 is compared with the file's, so a
repeat uploads nothing and a different file under the name is refused — Artifactory would
overwrite it silently for a user allowed to. Option ``checksum_deploy: "false"`` skips the
deploy by checksum (for servers that take plain PUTs only). Release paths are mapped to
repository paths like the Maven channels do (option ``prefix``, default ``maven/``; set it
to ``""`` for a generic repository taking the whole release).

A staging goes to ``staging_url`` (another repository); after a failed vote its files are
deleted from there (:meth:`Artifactory.discard`), each only if it still holds the
candidate's bytes.

Settings::

    {"name": "jfrog", "kind": "artifactory",
     "url": "https://acme.jfrog.io/artifactory/libs-release-local",
     "staging_url": "https://acme.jfrog.io/artifactory/libs-staging-local",
     "files": ["maven/*"], "credential": "jfrog-deployer", "options": {"prefix": "maven/"}}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
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
    Layout,
    auth_headers,
    check,
    digests_of,
    put_file,
    stream_get,
)
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind

__all__ = ["Artifactory"]


class Artifactory(Channel):
    """One Artifactory repository (see the module docstring)."""

    kind = ChannelKind.ARTIFACTORY

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        self.layout = Layout(ctx.settings.options)
        self.repo_url = ctx.endpoint
        self.root, _, self.repository = self.repo_url.rpartition("/")
        if not self.repository or "://" not in self.root:
            raise ValidationError(
                f"the artifactory channel {ctx.settings.name!r} has no repository in its URL "
                f"({self.repo_url})",
                hint="the url is a repository's: https://HOST/artifactory/REPOSITORY-KEY",
            )
        self.checksum_deploy = ctx.settings.options.get("checksum_deploy", "true") != "false"
        self._written: set[str] = set()
        self._tried: set[str] = set()

    @property
    def headers(self) -> dict[str, str]:
        """The credential's headers (read when used: the runner sets it after construction)."""
        return auth_headers(self.ctx)

    def selects(self, path: str) -> bool:
        return self.layout.holds(path) and matches(path, self.ctx.settings.files)

    def base(self) -> str:
        return self.repo_url

    def target(self, path: str) -> str:
        return self.layout.url(self.repo_url, path)

    def _storage(self, path: str) -> str:
        repo_path = quote(self.layout.repo_path(path))
        return f"{self.root}/api/storage/{quote(self.repository)}/{repo_path}"

    def _info(self, file: FileToPublish) -> dict[str, Any] | None:
        response = self.ctx.http.get(self._storage(file.path), headers=self.headers)
        if response.status_code == 404:
            return None
        found = check(response, f"read the storage information of {file.path}", self.ctx, 200)
        try:
            info = found.json()
        except ValueError:
            raise ChannelError(
                f"{self._storage(file.path)} did not answer with Artifactory's storage "
                "information (not an Artifactory?)",
                retryable=False,
            ) from None
        if not isinstance(info, dict):
            raise ChannelError(f"{self._storage(file.path)}: unexpected answer", retryable=False)
        if "children" in info:
            raise Conflicting(f"{self.target(file.path)} is a folder on {self.repository}")
        return info

    def lookup(self, file: FileToPublish) -> Found | None:
        info = self._info(file)
        if info is None:
            return None
        sums = info.get("checksums") or {}
        sha256 = sums.get("sha256") if isinstance(sums, dict) else None
        url = str(info.get("downloadUri") or self.target(file.path))
        return Found(url=url, sha256=str(sha256) if sha256 else None)

    def _checksum_headers(self, file: FileToPublish) -> dict[str, str]:
        sums = digests_of(file)
        return {
            "X-Checksum-Sha1": sums.sha1,
            "X-Checksum-Sha256": file.sha256,
            "X-Checksum-Md5": sums.md5,
        }

    def _confirm(self, response: httpx.Response, file: FileToPublish) -> None:
        """Artifactory answers a deploy with the checksums it stored: they must be ours."""
        try:
            sums = response.json().get("checksums") or {}
        except (ValueError, AttributeError):
            return  # a plain server; the runner downloads the file back to verify it
        stored = sums.get("sha256") if isinstance(sums, dict) else None
        if stored and str(stored).lower() != file.sha256.lower():
            raise ChannelError(
                f"Artifactory stored {file.path} with SHA-256 {stored}, not {file.sha256}",
                retryable=True,
            )

    def _deploy(self, file: FileToPublish) -> None:
        url = self.target(file.path)
        if url in self._written:
            return
        if url in self._tried:
            # an earlier try may have got through before its answer was lost: ask again
            found = self.lookup(file)
            if found is not None:
                if (found.sha256 or "").lower() != file.sha256.lower():
                    raise Conflicting(f"{url} holds other bytes than {file.path}: not overwritten")
                self._written.add(url)
                return
        self._tried.add(url)
        headers = {**self.headers, **self._checksum_headers(file)}
        if self.checksum_deploy:
            response = self.ctx.http.put(
                url, headers={**headers, "X-Checksum-Deploy": "true", "Content-Length": "0"}
            )
            if response.status_code == 201:
                self._confirm(response, file)
                self.ctx.log(f"{file.path}: deployed by checksum (Artifactory had the bytes)")
                self._written.add(url)
                return
            if response.status_code != 404:
                check(response, f"deploy {file.path} by checksum", self.ctx, 201)
        self.ctx.log(f"uploading {file.path} ({file.size:,} bytes) to {url}")
        response = put_file(self.ctx, url, file, headers)
        check(response, f"deploy {file.path} to {url}", self.ctx, 200, 201)
        self._confirm(response, file)
        self._written.add(url)

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        for file in files:
            self._deploy(file)
        return {f.path: self.target(f.path) for f in files}

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        return stream_get(self.ctx, self.target(file.path), headers=self.headers)

    def discard(self, files: Sequence[FileToPublish]) -> None:
        """Delete the candidate's files from the staging repository (its vote failed)."""
        if self.ctx.kind != "staging" or not self.ctx.settings.staging_url:
            return
        for file in files:
            found = self.lookup(file)
            if found is None:
                continue
            if (found.sha256 or "").lower() != file.sha256.lower():
                self.ctx.log(f"{found.url} holds other bytes than the candidate's: left in place")
                continue
            response = self.ctx.http.delete(self.target(file.path), headers=self.headers)
            check(response, f"delete {file.path} from {self.repository}", self.ctx, 200, 204, 404)
            self.ctx.log(f"deleted {self.target(file.path)} (the candidate's vote failed)")
