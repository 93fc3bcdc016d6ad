"""A Maven repository deployed to with plain HTTP PUT (kind ``maven``).

What ``mvn deploy`` does with a plain repository URL (wagon-http, or wagon-webdav): each
file is PUT under the repository's root at its repository path, with its ``.sha1`` and
``.md5`` (:mod:`.maven_layout`). Works with WebDAV servers (Apache ``mod_dav``: folders are
made with ``MKCOL`` when the server wants them, and each PUT carries ``If-None-Match: *``
so the server itself refuses an existing name) and with repository managers that take
plain PUTs (a Nexus hosted repository, Artifactory, reposilite).

Settings::

    {"name": "maven", "kind": "maven", "url": "https://repo.example.org/maven2",
     "staging_url": "https://repo.example.org/staging",        (optional: stages there)
     "files": ["maven/*"], "credential": "example-deployer",
     "options": {"prefix": "maven/"}}

Asking first: ``HEAD`` of the file's URL; when it is there, the runner downloads it and
compares its SHA-512 (same bytes: done without uploading; other bytes: failed, never
overwritten). After a failed vote the staged files are deleted from the staging
repository (:meth:`MavenRepository.discard`): a plain repository has no staging
repositories, and the next candidate of the same version needs the names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from agent.distribute.channels.base import (
    Channel,
    FileToPublish,
    Found,
    PublishContext,
    matches,
)
from agent.distribute.channels.maven_layout import (
    CHECKSUMS,
    Layout,
    PutDeployer,
    check,
    stream_get,
    wants_checksums,
)
from shared.protocol.distribute import ChannelKind

__all__ = ["MavenRepository"]


class MavenRepository(Channel):
    """A plain Maven repository (see the module docstring)."""

    kind = ChannelKind.MAVEN

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        self.layout = Layout(ctx.settings.options)
        self.root = ctx.endpoint
        self.deployer = PutDeployer(ctx, webdav=True)

    def selects(self, path: str) -> bool:
        return self.layout.holds(path) and matches(path, self.ctx.settings.files)

    def base(self) -> str:
        return self.root

    def target(self, path: str) -> str:
        return self.layout.url(self.root, path)

    def lookup(self, file: FileToPublish) -> Found | None:
        url = self.target(file.path)
        return Found(url=url) if self.deployer.exists(url) else None

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        urls = {}
        for file in files:
            url = self.target(file.path)
            self.deployer.deploy(url, file, self.layout.repo_path(file.path))
            urls[file.path] = url
        return urls

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        return stream_get(self.ctx, self.target(file.path), headers=self.deployer.headers)

    def discard(self, files: Sequence[FileToPublish]) -> None:
        """Delete the candidate's files (and their checksums) from the staging repository,
        each only if it still holds the candidate's bytes."""
        if self.ctx.kind != "staging" or not self.ctx.settings.staging_url:
            return
        for file in files:
            url = self.target(file.path)
            if not self.deployer.exists(url):
                continue
            if not self.deployer.same_bytes(url, file):
                self.ctx.log(f"{url} holds other bytes than the candidate's: left in place")
                continue
            names = [url]
            if wants_checksums(self.layout.repo_path(file.path)):
                names += [f"{url}.{algorithm}" for algorithm in CHECKSUMS]
            for name in names:
                response = self.ctx.http.delete(name, headers=self.deployer.headers)
                check(response, f"delete {name}", self.ctx, 200, 204, 404)
            self.ctx.log(f"deleted {url} (the candidate's vote failed)")
