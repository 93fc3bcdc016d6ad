"""The ASF dist repository: Subversion, written with ``svnmucc`` in one atomic commit.

Layout under the repository's root URL (``dist_svn_url``, or the agent's embedded one)::

    dev/<project>/<version>-rc<N>/<files>      a staged candidate (during its vote)
    release/<project>/<version>/<files>        a release
    release/<project>/KEYS                     the project's KEYS, updated with each release

A release is one commit: each file is copied server-side from the staged candidate when it
holds the same bytes (no upload), or put from the blob store; the project's KEYS is put if
it changed; and the older releases of the same line are removed (the ASF keeps the latest
release of each line in dist/release; archive.apache.org keeps everything). The log
message names the release, the revision, the vote thread and who approved it. Every file
the agent puts carries the property ``atr:sha512``, so asking "is it there, with these
bytes?" costs one ``svn propget``; a file without it is downloaded and hashed. The commit
is made against the revision seen when looking (``svnmucc -r``), so a file someone else
adds meanwhile is a conflict, never overwritten.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from packaging.version import InvalidVersion
from packaging.version import Version as PepVersion

from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    FileToPublish,
    Found,
    PublishContext,
)
from shared.protocol.distribute import ChannelKind

__all__ = ["SHA512_PROPERTY", "SvnDist", "create_repository", "svn_line"]

SHA512_PROPERTY = "atr:sha512"
_TIMEOUT = 3600


def svn_line(version: str, depth: int) -> tuple[str, ...]:
    """The release line of ``version``: its first ``depth`` dot-separated parts."""
    return tuple(version.split(".")[:depth])


def _newer(a: str, b: str) -> bool:
    """Whether version ``a`` is newer than ``b`` (PEP 440 order where both parse)."""
    try:
        return PepVersion(a) > PepVersion(b)
    except InvalidVersion:
        return a > b


class _Svn:
    """``svn`` and ``svnmucc`` with a private config dir, never prompting, never caching."""

    def __init__(self, ctx: PublishContext) -> None:
        self.ctx = ctx
        self._config = Path(tempfile.mkdtemp(prefix="atr-svn-"))

    def close(self) -> None:
        shutil.rmtree(self._config, ignore_errors=True)

    def _auth(self) -> tuple[list[str], str | None]:
        cred = self.ctx.credential
        if cred is None:
            return [], None
        return ["--username", cred.username, "--password-from-stdin"], cred.secret + "\n"

    def _base(self, tool: str) -> list[str]:
        return [tool, "--non-interactive", "--no-auth-cache", "--config-dir", str(self._config)]

    def run(self, tool: str, *args: str, what: str, ok: Sequence[int] = (0,)) -> str:
        auth, stdin = self._auth()
        try:
            proc = subprocess.run(
                [*self._base(tool), *auth, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ChannelError(
                f"cannot run {tool}: it is not installed",
                retryable=False,
                hint="install Debian's 'subversion' package on the agent host",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ChannelError(f"{tool} did not finish {what}", retryable=True) from exc
        if proc.returncode not in ok:
            text = " ".join(proc.stderr.split())[:600] or f"exit code {proc.returncode}"
            retryable = "E170013" in text or "E175002" in text or "Connection" in text
            raise ChannelError(self.ctx.redact(f"{what}: {text}"), retryable=retryable)
        return proc.stdout

    def exists(self, url: str) -> bool:
        out = self.run("svn", "info", "--show-item", "kind", url, what="look", ok=(0, 1))
        return out.strip() in ("file", "dir")

    def names(self, url: str) -> set[str]:
        if not self.exists(url):
            return set()
        out = self.run("svn", "ls", url, what=f"list {url}")
        return {line.rstrip("/") for line in out.splitlines() if line}

    def head(self, url: str) -> int:
        out = self.run("svn", "info", "--show-item", "revision", url, what="read the revision")
        return int(out.strip())

    def cat(self, url: str) -> Iterator[bytes]:
        auth, stdin = self._auth()
        with subprocess.Popen(
            [*self._base("svn"), *auth, "cat", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            if stdin is not None:
                proc.stdin.write(stdin.encode())
            proc.stdin.close()
            while chunk := proc.stdout.read(1 << 20):
                yield chunk
            error = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
            if proc.wait() != 0:
                text = self.ctx.redact(f"svn cat {url}: {error.strip()}")
                raise ChannelError(text, retryable=True)


class SvnDist(Channel):
    """The dist repository (see the module docstring)."""

    kind = ChannelKind.SVN

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        self.root = ctx.endpoint
        self._svn = _Svn(ctx)
        self._listing: dict[str, set[str]] = {}
        self._baseline: int | None = None

    def close(self) -> None:
        self._svn.close()

    @property
    def project_url(self) -> str:
        area = "dev" if self.ctx.kind == "staging" else "release"
        return f"{self.root}/{area}/{quote(self.ctx.project)}"

    def base(self) -> str:
        name = self.ctx.candidate if self.ctx.kind == "staging" else self.ctx.version
        return f"{self.project_url}/{quote(name)}"

    def target(self, path: str) -> str:
        return f"{self.base()}/{quote(path)}"

    def _names(self, folder: str) -> set[str]:
        if folder not in self._listing:
            if self._baseline is None:
                self._baseline = self._svn.head(self.root)
            self._listing[folder] = self._svn.names(folder)
        return self._listing[folder]

    def lookup(self, file: FileToPublish) -> Found | None:
        url = self.target(file.path)
        folder, _, name = url.rpartition("/")
        if name not in {quote(n) for n in self._names(folder)}:
            return None
        value = self._svn.run(
            "svn", "propget", SHA512_PROPERTY, url, what=f"read {SHA512_PROPERTY}", ok=(0, 1)
        ).strip()
        return Found(url=url, sha512=value or None)

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        return self._svn.cat(self.target(file.path))

    def _superseded(self) -> list[str]:
        """The version folders of ``release/<project>`` the new release replaces: same line,
        older version."""
        depth = int(self.ctx.extra.get("line_depth", "2"))
        line = svn_line(self.ctx.version, depth)
        old = []
        for name in sorted(self._names(self.project_url)):
            if name in (self.ctx.version, "KEYS") or svn_line(name, depth) != line:
                continue
            if _newer(self.ctx.version, name):
                old.append(name)
        return old

    def _message(self, files: Sequence[FileToPublish], removed: list[str]) -> str:
        ctx = self.ctx
        if ctx.kind == "staging":
            head = f"Stage {ctx.project_name} {ctx.candidate} for its release vote"
        else:
            head = f"Release {ctx.project_name} {ctx.version}"
        lines = [head, ""]
        for key in ("revision", "vote_thread", "vote_result", "approved_by"):
            if ctx.extra.get(key):
                lines.append(f"{key.replace('_', ' ').capitalize()}: {ctx.extra[key]}")
        lines.append(f"Files: {len(files)}")
        if removed:
            lines.append(f"Removed (superseded, kept by the archive): {', '.join(removed)}")
        lines.append("Committed by the ATR agent.")
        return "\n".join(lines) + "\n"

    def _mkdirs(self, actions: list[str], folders: Sequence[str]) -> None:
        made: set[str] = set()
        for folder in folders:
            parts = folder[len(self.root) + 1 :].split("/")
            for depth in range(1, len(parts) + 1):
                url = f"{self.root}/{'/'.join(parts[:depth])}"
                if url in made:
                    continue
                parent, _, name = url.rpartition("/")
                if name in {quote(n) for n in self._names(parent)}:
                    continue
                actions += ["mkdir", url]
                made.add(url)
                self._listing.setdefault(url, set())

    def publish_many(self, files: Sequence[FileToPublish]) -> dict[str, str]:
        urls = {f.path: self.target(f.path) for f in files}
        actions: list[str] = []
        self._mkdirs(actions, sorted({u.rpartition("/")[0] for u in urls.values()}))
        staged = self.ctx.extra.get("staged_url")
        staged_sums = self.ctx.extra.get("staged_sha512", "")
        for file in files:
            url = urls[file.path]
            if staged and f"{file.path}={file.sha512}" in staged_sums.split("\n"):
                actions += ["cp", "HEAD", f"{staged}/{quote(file.path)}", url]
                self.ctx.log(f"copying {file.path} from the staged candidate (no upload)")
            else:
                actions += ["put", str(file.blob), url]
                actions += ["propset", SHA512_PROPERTY, file.sha512, url]
                self.ctx.log(f"putting {file.path} ({file.size:,} bytes)")
        removed: list[str] = []
        if self.ctx.kind == "production":
            keys = self.ctx.extra.get("keys_file")
            if keys:
                actions += ["put", keys, f"{self.project_url}/KEYS"]
            removed = self._superseded()
            for name in removed:
                actions += ["rm", f"{self.project_url}/{quote(name)}"]
                self.ctx.log(f"removing the superseded release {name} (the archive keeps it)")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as message:
            message.write(self._message(files, removed))
        try:
            baseline = ["-r", str(self._baseline)] if self._baseline is not None else []
            self._svn.run(
                "svnmucc", *baseline, "-F", message.name, *actions,
                what=f"commit to {self.root}",
            )  # fmt: skip
        finally:
            with contextlib.suppress(OSError):
                Path(message.name).unlink()
        self._listing.clear()
        self._baseline = None
        return urls


def create_repository(path: Path) -> str:
    """Create an empty dist repository (``dev/`` and ``release/``) at ``path``; its URL."""
    url = path.resolve().as_uri()
    if (path / "format").exists():
        return url
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["svnadmin", "create", str(path)], check=True, capture_output=True)
    subprocess.run(
        ["svnmucc", "--non-interactive", "-m", "The dist repository of this ATR agent",
         "mkdir", f"{url}/dev", "mkdir", f"{url}/release"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return url
