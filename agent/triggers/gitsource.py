"""The tagged tree of a project's git repository, and its source archive, built reproducibly.

:func:`fetch_tag` fetches one tag (with dulwich, over any transport it speaks: a local
path, ``file://``, ``git://``, ``https://``, ssh) into a bare cache under the data dir and
checks that the tag still points where the push said. :func:`build_archive` writes the
tree as ``<name>.tar.gz`` with everything that could vary pinned: entries sorted by path,
every time the commit's time, owner ``0:0`` with no names, modes 0644 / 0755 (and
symlinks as symlinks), PAX format, gzip with no name and time 0 at level 9. The same tag
gives the same bytes, on any host with the same Python and zlib.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dulwich.client import get_transport_and_path
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.object_store import iter_tree_contents
from dulwich.objects import S_ISGITLINK, Commit, ObjectID, Tag
from dulwich.refs import Ref
from dulwich.repo import Repo

from shared.errors import AtrError

__all__ = ["ArchiveBuilt", "GitSourceError", "TaggedTree", "build_archive", "fetch_tag"]


class GitSourceError(AtrError):
    """The tag cannot be fetched, or is not what the push said."""


@dataclass(frozen=True, slots=True)
class TaggedTree:
    repository: str
    tag: str
    tag_object: str
    """The tag ref's value: the tag object of an annotated tag, else the commit."""
    commit: str
    tree: str
    commit_time: int
    cache: Path


@dataclass(frozen=True, slots=True)
class ArchiveBuilt:
    path: Path
    name: str
    sha512: str
    size: int
    files: int


def _cache_repo(cache: Path) -> Repo:
    if (cache / "objects").is_dir():
        return Repo(str(cache))
    cache.mkdir(parents=True, exist_ok=True)
    return Repo.init_bare(str(cache))


def fetch_tag(url: str, tag: str, cache: Path, *, expect: str | None = None) -> TaggedTree:
    """Fetch ``refs/tags/<tag>`` of ``url`` into the bare repository ``cache``.

    ``expect``: the SHA the push named (the tag object or the commit); a tag that points
    elsewhere now (moved or replayed) is refused.
    """
    ref = Ref(f"refs/tags/{tag}".encode())
    repo = _cache_repo(cache)
    try:
        client, path = get_transport_and_path(url)

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            found = refs.get(ref)
            return (
                [found]
                if found is not None
                and not repo.object_store.contains_loose(found)
                and not repo.object_store.contains_packed(found)
                else []
            )

        result = client.fetch(path, repo, determine_wants=wants)
    except (GitProtocolError, HangupException, NotGitRepository, OSError) as exc:
        raise GitSourceError(
            f"cannot fetch {url}: {exc}", hint="check git_url in the trigger settings"
        ) from exc
    value = result.refs.get(ref)
    if value is None:
        raise GitSourceError(f"{url} has no tag {tag!r}")
    tag_object = value.decode()
    obj = repo[value]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise GitSourceError(
            f"tag {tag!r} of {url} points at a {obj.type_name.decode()}, not a commit"
        )
    commit = obj.id.decode()
    if expect is not None and expect not in (tag_object, commit):
        raise GitSourceError(
            f"tag {tag!r} of {url} points at {commit[:12]}, not at {expect[:12]} as the push said",
            hint="the tag moved since the push (or the push is replayed); push the tag again",
        )
    repo.refs[ref] = value
    return TaggedTree(
        repository=url,
        tag=tag,
        tag_object=tag_object,
        commit=commit,
        tree=obj.tree.decode(),
        commit_time=int(obj.commit_time),
        cache=cache,
    )


def _info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(
    tar: tarfile.TarFile, repo: Repo, name: str, *, mode: int | None, sha: bytes, mtime: int
) -> None:
    """One member: a folder (``mode`` None), a symlink or a file, with everything pinned."""
    info = _info(name, mtime)
    if mode is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        return
    data = repo[ObjectID(sha)].as_raw_string()
    if stat.S_ISLNK(mode):
        info.type, info.mode = tarfile.SYMTYPE, 0o777
        info.linkname = data.decode("utf-8", "surrogateescape")
        tar.addfile(info)
        return
    info.mode = 0o755 if mode & 0o111 else 0o644
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build_archive(tree: TaggedTree, out_dir: Path, name: str) -> ArchiveBuilt:
    """Write ``out_dir/<name>.tar.gz`` of ``tree`` under the folder ``<name>/`` (reproducible)."""
    repo = Repo(str(tree.cache))
    entries = sorted(
        (e for e in iter_tree_contents(repo.object_store, ObjectID(tree.tree.encode())) if e.path),
        key=lambda e: e.path,
    )
    folders: set[str] = set()
    members: list[tuple[str, int, bytes]] = []
    for entry in entries:
        path = entry.path.decode("utf-8", "surrogateescape")
        if S_ISGITLINK(entry.mode):  # a submodule: not part of this tree's source
            continue
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folders.add("/".join(parts[:depth]))
        members.append((path, entry.mode, entry.sha))
    archive = out_dir / f"{name}.tar.gz"
    out_dir.mkdir(parents=True, exist_ok=True)
    mtime = tree.commit_time
    items = sorted(
        [(f, None, b"") for f in folders] + [(p, m, s) for p, m, s in members],
        key=lambda item: item[0],
    )
    with (
        archive.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        top = _info(name, mtime)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        for path, mode, sha in items:
            _add(tar, repo, f"{name}/{path}", mode=mode, sha=sha, mtime=mtime)
    digest = hashlib.sha512()
    with archive.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return ArchiveBuilt(
        path=archive,
        name=archive.name,
        sha512=digest.hexdigest(),
        size=archive.stat().st_size,
        files=len(members),
    )


def checksum_file(built: ArchiveBuilt, out_dir: Path) -> Path:
    """``<archive>.sha512`` in the ``sha512sum`` format."""
    path = out_dir / f"{built.name}.sha512"
    path.write_text(f"{built.sha512}  {built.name}\n", encoding="ascii")
    return path
