"""Reading a Subversion repository with the ``svn`` client: info, log, ls, cat, export.

Reads only, anonymous, never prompting, with a private config dir (so no user's settings
or cached passwords are used). XML output is parsed with defusedxml.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from defusedxml import ElementTree

from shared.errors import AtrError

__all__ = ["LogEntry", "SvnEntry", "SvnError", "SvnReader"]

_TIMEOUT = 3600


class SvnError(AtrError):
    """A Subversion command failed (the repository is unreachable, a path is missing…)."""


@dataclass(frozen=True, slots=True)
class SvnEntry:
    """One entry of ``svn ls -R --xml``."""

    path: str
    kind: str
    """file or dir"""
    size: int
    revision: int
    author: str
    date: datetime


@dataclass(frozen=True, slots=True)
class LogEntry:
    revision: int
    author: str
    date: datetime
    paths: tuple[tuple[str, str, str], ...]
    """(action A/M/D/R, kind file/dir/'', path from the repository root)"""


def _date(text: str | None) -> datetime:
    if not text:
        return datetime.fromtimestamp(0).astimezone()
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class SvnReader:
    """``svn`` reads; use as a context manager (it owns a private config dir)."""

    def __init__(self) -> None:
        self._config = Path(tempfile.mkdtemp(prefix="atr-svnread-"))

    def close(self) -> None:
        shutil.rmtree(self._config, ignore_errors=True)

    def __enter__(self) -> SvnReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _base(self) -> list[str]:
        return ["svn", "--non-interactive", "--no-auth-cache", "--config-dir", str(self._config)]

    def run(self, *args: str, what: str) -> bytes:
        try:
            proc = subprocess.run(
                [*self._base(), *args], capture_output=True, timeout=_TIMEOUT, check=False
            )
        except FileNotFoundError as exc:
            raise SvnError(
                "cannot run svn: it is not installed",
                hint="install Debian's 'subversion' package on the agent host",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise SvnError(f"svn did not finish {what}") from exc
        if proc.returncode != 0:
            text = " ".join(proc.stderr.decode("utf-8", "replace").split())[:600]
            raise SvnError(f"cannot {what}: {text or f'svn exit code {proc.returncode}'}")
        return proc.stdout

    def head(self, url: str) -> int:
        return int(self.run("info", "--show-item", "revision", url, what=f"read {url}").strip())

    def root(self, url: str) -> tuple[str, str]:
        """(repository root URL, its UUID)."""
        root = self.run("info", "--show-item", "repos-root-url", url, what=f"read {url}")
        uuid = self.run("info", "--show-item", "repos-uuid", url, what=f"read {url}")
        return root.decode().strip().rstrip("/"), uuid.decode().strip()

    def log(self, url: str, start: int, end: int) -> list[LogEntry]:
        out = self.run(
            "log", "--xml", "-v", "-r", f"{start}:{end}", url, what=f"read the log of {url}"
        )
        entries = []
        for node in ElementTree.fromstring(out).iter("logentry"):
            paths = tuple(
                (p.get("action", ""), p.get("kind", ""), (p.text or "")) for p in node.iter("path")
            )
            entries.append(
                LogEntry(
                    revision=int(node.get("revision", "0")),
                    author=node.findtext("author") or "",
                    date=_date(node.findtext("date")),
                    paths=paths,
                )
            )
        return entries

    def list_recursive(self, url: str) -> list[SvnEntry]:
        """Every file and folder under ``url`` (``svn ls -R --xml``) with its last change."""
        out = self.run("ls", "-R", "--xml", url, what=f"list {url}")
        found = []
        for node in ElementTree.fromstring(out).iter("entry"):
            commit = node.find("commit")
            found.append(
                SvnEntry(
                    path=node.findtext("name") or "",
                    kind=node.get("kind", ""),
                    size=int(node.findtext("size") or 0),
                    revision=int(commit.get("revision", "0")) if commit is not None else 0,
                    author=(commit.findtext("author") or "") if commit is not None else "",
                    date=_date(commit.findtext("date") if commit is not None else None),
                )
            )
        return found

    def cat(self, url: str, dest: Path) -> None:
        """Write the file at ``url`` (``url@REV`` allowed) to ``dest``."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as out:
            try:
                proc = subprocess.run(
                    [*self._base(), "cat", url],
                    stdout=out,
                    stderr=subprocess.PIPE,
                    timeout=_TIMEOUT,
                    check=False,
                )
            except FileNotFoundError as exc:
                raise SvnError("cannot run svn: it is not installed") from exc
        if proc.returncode != 0:
            text = " ".join(proc.stderr.decode("utf-8", "replace").split())[:600]
            raise SvnError(f"cannot read {url}: {text}")

    def export(self, url: str, dest: Path) -> None:
        """Export the folder ``url`` (its files, not recursively) into ``dest``."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.run(
            "export", "--force", "--depth", "files", "-q", url, str(dest), what=f"export {url}"
        )


@contextmanager
def svn_reader() -> Iterator[SvnReader]:
    reader = SvnReader()
    try:
        yield reader
    finally:
        reader.close()
