"""The one interface of every channel adapter, and the errors they raise.

An adapter speaks one registry's real protocol. The runner (:mod:`agent.distribute.runner`)
drives it file by file::

    channel.lookup(file)       → Found | None   "is this name there, with which bytes?"
    channel.publish_many(files) → {path: url}   only for the files not there yet
    channel.fetch(file)        → bytes chunks   download back, to verify the SHA-512

An adapter never overwrites: a name that holds other bytes is :class:`Conflicting`
(never retried). Registry failures are :class:`ChannelError` with the registry's own
text (``retryable`` for 5xx and timeouts; 401/403/400 are not). Adapters get their
HTTP client injected (``httpx.Client``, so tests can use a ``MockTransport``), their
credential already decrypted, and a ``redact`` that blanks the secret from any text
before it is recorded.
"""

from __future__ import annotations

import fnmatch
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from shared.errors import AtrError
from shared.protocol.distribute import ChannelKind, ChannelSettings

if TYPE_CHECKING:  # httpx is imported where a channel runs, not by the API's error handlers
    import httpx

__all__ = [
    "ChangedMeanwhile",
    "Channel",
    "ChannelError",
    "Conflicting",
    "FileToPublish",
    "Found",
    "PublishContext",
    "Secret",
    "http_error",
    "matches",
    "sha512_of_chunks",
]

CHUNK = 1 << 20


class ChannelError(AtrError):
    """A channel refused or failed; ``message`` carries the registry's own words."""

    def __init__(self, message: str, *, retryable: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class ChangedMeanwhile(ChannelError):
    """The channel changed since its files were looked at (a commit made meanwhile: a
    person's, or one a killed worker had sent before it died), so the commit was refused.
    Not retried as it was: the runner looks at the files again and publishes only those
    still missing."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


class Conflicting(ChannelError):
    """The name is taken by other bytes on the channel: never overwritten, never retried."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


@dataclass(frozen=True, slots=True)
class Secret:
    """A decrypted credential, for the worker that publishes only."""

    username: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class FileToPublish:
    """One file of the release on its way to one channel."""

    path: str
    """The release path (``apache-acme-1.0-src.tar.gz``, ``maven/org/…/x.jar``)."""
    sha512: str
    sha256: str
    size: int
    blob: Path
    """The bytes, in the agent's blob store (read-only)."""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def chunks(self) -> Iterator[bytes]:
        with self.blob.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk


@dataclass(frozen=True, slots=True)
class Found:
    """What a channel holds under a file's name."""

    url: str
    sha512: str | None = None
    sha256: str | None = None
    """What the channel says of the bytes; when it says neither, the runner downloads them."""


@dataclass
class PublishContext:
    """Everything an adapter is given (one channel, one distribution)."""

    kind: Literal["staging", "production"]
    project: str
    project_name: str
    version: str
    rc: int | None
    settings: ChannelSettings
    http: httpx.Client
    credential: Secret | None = None
    log: Callable[[str], None] = lambda _line: None
    progress: Callable[[str, int, int], None] = lambda _path, _done, _total: None
    extra: dict[str, str] = field(default_factory=dict)
    """Agent-wide values some adapters need (the dist repository's URL, its KEYS text …)."""
    recorded: dict[str, str] = field(default_factory=dict)
    """The URLs recorded for this channel's files by earlier attempts (release path → URL):
    where an adapter finds again an id it made on the registry (a Central Portal deployment)."""

    @property
    def endpoint(self) -> str:
        """The URL this distribution talks to: the staging one for a staging."""
        url = self.settings.url
        if self.kind == "staging" and self.settings.staging_url:
            url = self.settings.staging_url
        return url.rstrip("/")

    @property
    def candidate(self) -> str:
        """``<version>-rc<N>``: the name a staged candidate goes by."""
        return f"{self.version}-rc{self.rc or 1}"

    def redact(self, text: str) -> str:
        """``text`` with the credential's secret (and its URL-encoded form) blanked out."""
        if self.credential is None or not self.credential.secret:
            return text
        import httpx  # noqa: PLC0415 - see the module's imports

        secret = self.credential.secret
        for form in {secret, httpx.URL(f"http://x/?s={secret}").query.decode()[2:]}:
            if form:
                text = text.replace(form, "***")
        return text


def matches(path: str, globs: Sequence[str]) -> bool:
    """Whether the release path (or its file name) matches one of ``globs``."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(name, g) for g in globs)


def sha512_of_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """The SHA-512 (hex) and size of a stream of chunks."""
    digest = hashlib.sha512()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def http_error(what: str, response: httpx.Response, ctx: PublishContext) -> ChannelError:
    """A :class:`ChannelError` for a failed HTTP answer: the registry's own text, redacted;
    retryable for 5xx and 429, not for other 4xx (bad credentials, refused upload)."""
    text = " ".join(response.text.split())[:500] or response.reason_phrase
    retryable = response.status_code >= 500 or response.status_code == 429
    hint = None
    if response.status_code in (401, 403):
        hint = "check the channel's credential (atr-agent credential set …) and its rights"
    return ChannelError(
        ctx.redact(f"{what}: {response.status_code} {text}"), retryable=retryable, hint=hint
    )


class Channel(ABC):
    """One destination. Subclasses set :attr:`kind` and implement the abstract methods."""

    kind: ClassVar[ChannelKind]
    stages: ClassVar[bool] = True
    """Whether the kind has a test destination a candidate can be staged to."""

    def __init__(self, ctx: PublishContext) -> None:
        self.ctx = ctx

    def selects(self, path: str) -> bool:
        """Whether the release path goes to this channel (its ``files`` globs, less its
        ``exclude`` globs)."""
        settings = self.ctx.settings
        return matches(path, settings.files) and not matches(path, settings.exclude)

    @abstractmethod
    def base(self) -> str:
        """The channel's target as a plan shows it (a folder URL, a package URL…)."""

    @abstractmethod
    def target(self, path: str) -> str:
        """Where the file at release path ``path`` will be."""

    @abstractmethod
    def lookup(self, file: FileToPublish) -> Found | None:
        """What the channel holds under the file's name now (``None``: nothing)."""

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        """Publish ``files`` (none of them there yet); their URLs by release path. Channels
        that commit many files at once (Subversion, a Maven staging repository) override it."""
        return {file.path: self.publish(file) for file in files}

    def publish(self, file: FileToPublish) -> str:
        """Publish one file; its URL."""
        raise NotImplementedError(f"{type(self).__name__} publishes with publish_many")

    @abstractmethod
    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        """The bytes the channel serves for the file now (to verify them)."""

    def finish(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Called once all files are published (a staging repository is closed here)."""

    def discard(self, files: Sequence[FileToPublish]) -> None:  # noqa: B027 - optional hook
        """Called when the staged candidate is abandoned (its vote failed) with the files
        it staged: a Nexus staging repository is dropped here. Empty by default."""
