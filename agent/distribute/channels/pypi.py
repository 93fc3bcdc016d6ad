"""PyPI and TestPyPI: the upload API ``twine`` uses, and the simple index to look and fetch.

Upload (the "legacy" API, the only one PyPI has): one ``POST`` of ``multipart/form-data``
to the repository URL (``https://upload.pypi.org/legacy/``; pypiserver: its root URL),
basic auth ``__token__``/API token (or user/password), with the fields::

    :action=file_upload  protocol_version=1  filetype=sdist|bdist_wheel  pyversion
    name  version  metadata_version  summary … (the file's own core metadata)
    sha256_digest  md5_digest  blake2_256_digest
    content=<the file>                             streamed, never read whole

The metadata is read from the distribution itself (a wheel's ``*.dist-info/METADATA``,
an sdist's ``PKG-INFO``), as ``twine`` does, and must name the file's project and version.

Looking and fetching use the project's page of the simple index (PEP 503 HTML or PEP 691
JSON, ``<index>/<normalized-name>/``): a file is there when a link of that name is, and
its bytes are known by the link's ``#sha256=`` fragment (or downloaded when there is none).
The index URL comes from the upload URL (``upload.pypi.org/legacy/`` →
``pypi.org/simple/``, ``…/legacy/`` → ``…/simple/``, else ``<upload URL>simple/``) or from
the options ``index_url`` / ``staging_index_url``.

Registries answer a repeat differently, so a refusal is never taken at its word: PyPI
answers 200 to the same bytes and 400 "File already exists" to other ones; pypiserver
answers 409 (400 to a ``twine`` user agent) without comparing anything. On such an answer
the index is read: the same SHA-256 there → published; another → :class:`Conflicting`.

A staging goes to TestPyPI (the channel's ``staging_url`` and ``staging_credential``):
the same files as the release, so voters install exactly what they vote on.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any, Literal, cast
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx
from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    Conflicting,
    FileToPublish,
    Found,
    PublishContext,
    http_error,
    matches,
    sha512_of_chunks,
)
from agent.distribute.channels.progress import Progress
from shared import __version__
from shared.protocol.distribute import ChannelKind

__all__ = ["PyPI", "PythonDist", "index_url_for", "python_dist", "registry_words"]

USER_AGENT = f"atr-agent/{__version__}"
ACCEPT_INDEX = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
MAX_METADATA = 8 << 20
"""The most bytes of core metadata read from a distribution (its description included)."""
UPLOAD_TIMEOUT = httpx.Timeout(60, read=900)
"""PyPI checks a file before it answers: a big one may take minutes."""

# The core metadata fields (packaging's RawMetadata names) and their upload form names.
_FORM_FIELDS = {
    "metadata_version": "metadata_version",
    "name": "name",
    "version": "version",
    "summary": "summary",
    "description": "description",
    "description_content_type": "description_content_type",
    "keywords": "keywords",
    "home_page": "home_page",
    "download_url": "download_url",
    "author": "author",
    "author_email": "author_email",
    "maintainer": "maintainer",
    "maintainer_email": "maintainer_email",
    "license": "license",
    "license_expression": "license_expression",
    "license_files": "license_file",
    "classifiers": "classifiers",
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "requires_python": "requires_python",
    "requires_dist": "requires_dist",
    "requires_external": "requires_external",
    "provides_extra": "provides_extra",
    "provides_dist": "provides_dist",
    "obsoletes_dist": "obsoletes_dist",
    "requires": "requires",
    "provides": "provides",
    "obsoletes": "obsoletes",
    "project_urls": "project_urls",
    "dynamic": "dynamic",
}


@dataclass(frozen=True, slots=True)
class PythonDist:
    """What a file name says of a Python distribution."""

    filetype: Literal["sdist", "bdist_wheel"]
    project: str
    """The normalized project name (PEP 503)."""
    version: Version
    pyversion: str
    """``source`` for an sdist, the wheel's Python tag (``py3``, ``cp312``…) for a wheel."""


def python_dist(filename: str) -> PythonDist | None:
    """The distribution ``filename`` names (a wheel, or an sdist ``.tar.gz``/``.zip``), or
    ``None`` for any other file (a signature, a checksum, an ASF ``-src`` archive…)."""
    if filename.endswith(".whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None
        return PythonDist("bdist_wheel", name, version, filename[:-4].split("-")[-3])
    if filename.endswith((".tar.gz", ".zip")):
        try:
            name, version = parse_sdist_filename(filename)
        except (InvalidSdistFilename, InvalidVersion):
            return None
        return PythonDist("sdist", name, version, "source")
    return None


def index_url_for(upload_url: str) -> str:
    """The simple index that goes with a repository (upload) URL, ending in ``/``."""
    parts = urlsplit(upload_url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if parts.hostname == "upload.pypi.org":
        return f"{parts.scheme}://pypi.org/simple/"
    if path.endswith("/legacy/"):
        path = path[: -len("legacy/")] + "simple/"
    else:
        path += "simple/"
    return parts._replace(path=path, query="", fragment="").geturl()


@dataclass(frozen=True, slots=True)
class _Link:
    filename: str
    url: str
    hashes: dict[str, str]


class _Anchors(html.parser.HTMLParser):
    """The ``<a href>`` links of a PEP 503 page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _links(page: httpx.Response) -> list[_Link]:
    """The file links of a project page of the simple index (PEP 691 JSON or PEP 503 HTML)."""
    base = str(page.url)
    if "json" in page.headers.get("content-type", ""):
        try:
            files = page.json().get("files", [])
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ChannelError(
                f"the index page {base} is not PEP 691 JSON", retryable=True
            ) from exc
        return [
            _Link(
                filename=str(f.get("filename", "")),
                url=urljoin(base, str(f.get("url", ""))),
                hashes={
                    str(k).lower(): str(v).lower() for k, v in dict(f.get("hashes", {})).items()
                },
            )
            for f in files
            if isinstance(f, dict)
        ]
    parser = _Anchors()
    parser.feed(page.text)
    out = []
    for href in parser.hrefs:
        url, _, fragment = urljoin(base, href).partition("#")
        algorithm, _, value = fragment.partition("=")
        hashes = {algorithm.lower(): value.lower()} if value else {}
        out.append(_Link(unquote(url.rsplit("/", 1)[-1]), url, hashes))
    return out


_HIDDEN = frozenset({"style", "script", "title"})


class _Text(html.parser.HTMLParser):
    """The visible text of an HTML error page (no style, no script)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def registry_words(response: httpx.Response, limit: int = 500) -> str:
    """What an index said: PyPI puts its reason in the status line ("400 File already
    exists. See …") and an HTML page in the body; pypiserver an HTML page."""
    said = []
    standard = httpx.codes.get_reason_phrase(response.status_code)
    if response.reason_phrase and response.reason_phrase != standard:
        said.append(response.reason_phrase)
    text = response.text
    if "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
        parser = _Text()
        parser.feed(text)
        text = " ".join(parser.parts)
    body = " ".join(text.split())
    if body and body not in said:
        said.append(body)
    return "; ".join(said)[:limit] or standard


class _Progress:
    """A read-only file that reports how much of it was read (for httpx's multipart)."""

    def __init__(self, fh: IO[bytes], report: Callable[[int], None]) -> None:
        self._fh = fh
        self._report = report
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        self._done += len(chunk)
        self._report(self._done)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._fh.seek(offset, whence)
        self._done = position
        return position

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        return self._fh.fileno()


class PyPI(Channel):
    """A Python package index (see the module docstring)."""

    kind = ChannelKind.PYPI

    def __init__(self, ctx: PublishContext) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        staging = ctx.kind == "staging" and bool(settings.staging_url)
        url = (settings.staging_url if staging else settings.url) or settings.url
        self.upload_url = url if url.endswith("/") else url + "/"
        option = "staging_index_url" if staging else "index_url"
        index = settings.options.get(option) or index_url_for(self.upload_url)
        self.index_url = index if index.endswith("/") else index + "/"
        self.index_auth = settings.options.get("index_auth", "false").lower() == "true"

    # --- which files, and where --------------------------------------------------------------

    def selects(self, path: str) -> bool:
        """Wheels and sdists among the channel's ``files``; with ``package`` set, only that
        project's (an ASF ``-src`` archive, ``.asc`` and ``.sha512`` never go to an index)."""
        dist = python_dist(path.rsplit("/", 1)[-1])
        if dist is None or not matches(path, self.ctx.settings.files):
            return False
        package = self.ctx.settings.package
        return not package or canonicalize_name(package) == dist.project

    def base(self) -> str:
        package = self.ctx.settings.package
        return f"{self.index_url}{canonicalize_name(package)}/" if package else self.index_url

    def target(self, path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        dist = python_dist(name)
        page = f"{self.index_url}{dist.project}/" if dist else self.index_url
        return f"{page}#{quote(name)}"

    # --- looking and fetching ------------------------------------------------------------------

    def _dist(self, file: FileToPublish) -> PythonDist:
        dist = python_dist(file.name)
        if dist is None:
            raise ChannelError(
                f"{file.name} is not a Python distribution (a wheel or an sdist .tar.gz/.zip "
                "named <project>-<version>…)",
                retryable=False,
                hint="narrow the channel's 'files' globs to the wheels and sdists",
            )
        return dist

    def _headers(self, *, write: bool) -> dict[str, str]:
        """``User-Agent``, and basic auth (``__token__`` when the credential names no user)
        for an upload, or for reading the index with the option ``index_auth``."""
        headers = {"User-Agent": USER_AGENT}
        cred = self.ctx.credential
        if cred is not None and (write or self.index_auth):
            pair = f"{cred.username or '__token__'}:{cred.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _find(self, file: FileToPublish) -> _Link | None:
        page_url = f"{self.index_url}{self._dist(file).project}/"
        response = self.ctx.http.get(
            page_url,
            headers={**self._headers(write=False), "Accept": ACCEPT_INDEX},
            follow_redirects=True,
        )
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise http_error(f"reading the index page {page_url}", response, self.ctx)
        for link in _links(response):
            if link.filename == file.name:
                return link
        return None

    def lookup(self, file: FileToPublish) -> Found | None:
        link = self._find(file)
        if link is None:
            return None
        return Found(
            url=link.url, sha256=link.hashes.get("sha256"), sha512=link.hashes.get("sha512")
        )

    def fetch(self, file: FileToPublish) -> Iterator[bytes]:
        link = self._find(file)
        if link is None:
            raise ChannelError(
                f"the index {self.index_url} does not list {file.name}", retryable=True
            )
        return self._download(link.url)

    def _download(self, url: str) -> Iterator[bytes]:
        with self.ctx.http.stream(
            "GET",
            url,
            headers=self._headers(write=False),
            follow_redirects=True,
        ) as response:
            if not response.is_success:
                response.read()
                raise http_error(f"downloading {url}", response, self.ctx)
            yield from response.iter_bytes(1 << 20)

    # --- publishing ------------------------------------------------------------------------

    def publish(self, file: FileToPublish) -> str:
        dist = self._dist(file)
        fields = self._fields(file, dist)
        self.ctx.log(f"uploading {file.name} ({file.size:,} bytes) to {self.upload_url}")
        with file.blob.open("rb") as fh:
            # httpx streams a file object in 64 KiB reads; _Progress counts them.
            content = cast(
                IO[bytes],
                _Progress(fh, Progress(self.ctx.progress, file.path, file.size)),
            )
            response = self.ctx.http.post(
                self.upload_url,
                data=fields,
                files={"content": (file.name, content, "application/octet-stream")},
                headers=self._headers(write=True),
                timeout=UPLOAD_TIMEOUT,
                follow_redirects=False,
            )
        if response.is_success:
            link = self._find_quietly(file)
            return link.url if link is not None else self.target(file.path)
        if response.status_code == 409 or "already exist" in registry_words(response).lower():
            return self._already_there(file, response)
        if response.is_redirect:
            location = response.headers.get("location", "")
            raise ChannelError(
                f"uploading {file.name}: {self.upload_url} answers "
                f"{response.status_code}, a redirect to {location}",
                retryable=False,
                hint="set the channel's URL to the repository's upload URL itself",
            )
        raise self._refused(f"uploading {file.name} to {self.upload_url}", response)

    def _refused(self, what: str, response: httpx.Response) -> ChannelError:
        """The upload's refusal in the registry's words (see :func:`registry_words`)."""
        error = http_error(what, response, self.ctx)
        return ChannelError(
            self.ctx.redact(f"{what}: {response.status_code} {registry_words(response)}"),
            retryable=error.retryable,
            hint=error.hint,
        )

    def _find_quietly(self, file: FileToPublish) -> _Link | None:
        """The file's link right after an upload; ``None`` while the index lags behind."""
        try:
            return self._find(file)
        except (ChannelError, httpx.HTTPError):
            return None

    def _already_there(self, file: FileToPublish, response: httpx.Response) -> str:
        """The registry refused: the name is taken. Published if it holds the same bytes."""
        said = self._refused(f"uploading {file.name}", response).message
        link = self._find(file)
        if link is None:  # the index may lag behind the upload side: ask again later
            raise ChannelError(
                f"{said}; yet the index {self.index_url} does not list {file.name}",
                retryable=True,
            )
        if "sha256" in link.hashes:
            same = link.hashes["sha256"] == file.sha256.lower()
        elif "sha512" in link.hashes:
            same = link.hashes["sha512"] == file.sha512.lower()
        else:
            same = sha512_of_chunks(self._download(link.url))[0] == file.sha512
        if not same:
            raise Conflicting(
                f"{said}; {link.url} holds other bytes than {file.path} (the hash differs): "
                "refusing to overwrite it",
                hint="a file on an index never changes; publish a new version instead",
            )
        self.ctx.log(f"{file.name}: the index holds these bytes already ({response.status_code})")
        return link.url

    def _fields(self, file: FileToPublish, dist: PythonDist) -> dict[str, str | list[str]]:
        """The upload form without the file: its metadata and digests."""
        parsed, unparsed = parse_email(_metadata_bytes(file, dist))
        raw: dict[str, Any] = dict(parsed)
        for required in ("metadata_version", "name", "version"):
            if not raw.get(required):
                field = required.replace("_", "-").title()
                raise ChannelError(
                    f"{file.name}: its core metadata has no {field}", retryable=False
                )
        if canonicalize_name(str(raw["name"])) != dist.project or _version(raw) != dist.version:
            raise ChannelError(
                f"{file.name}: its metadata names {raw['name']} {raw['version']}, not the "
                f"project and version of its file name",
                retryable=False,
            )
        if unparsed:
            self.ctx.log(f"{file.name}: metadata fields not sent: {', '.join(sorted(unparsed))}")
        fields: dict[str, str | list[str]] = {}
        for key, form in _FORM_FIELDS.items():
            value = raw.get(key)
            if value in (None, "", [], {}):
                continue
            if key == "license_files" and Version(str(raw["metadata_version"])) < Version("2.4"):
                continue  # setuptools writes License-File into older metadata; PyPI refuses it
            if key == "project_urls":
                value = [f"{label}, {url}" for label, url in dict(value).items()]
            elif key == "keywords":
                value = ", ".join(value)
            fields[form] = [str(v) for v in value] if isinstance(value, list) else str(value)
        md5 = hashlib.md5(usedforsecurity=False)
        blake2 = hashlib.blake2b(digest_size=32)
        for chunk in file.chunks():
            md5.update(chunk)
            blake2.update(chunk)
        fields.update(
            {
                ":action": "file_upload",
                "protocol_version": "1",
                "filetype": dist.filetype,
                "pyversion": dist.pyversion,
                "sha256_digest": file.sha256.lower(),
                "md5_digest": md5.hexdigest(),
                "blake2_256_digest": blake2.hexdigest(),
            }
        )
        return fields


def _version(raw: Any) -> Version | None:
    try:
        return Version(str(raw["version"]))
    except InvalidVersion:
        return None


def _metadata_bytes(file: FileToPublish, dist: PythonDist) -> bytes:
    """The core metadata inside a wheel (``*.dist-info/METADATA``) or an sdist (``PKG-INFO``
    in its top folder), read without unpacking the rest."""
    wanted = "METADATA" if dist.filetype == "bdist_wheel" else "PKG-INFO"
    try:
        if file.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(file.blob) as archive:
                for info in archive.infolist():
                    if _is_metadata(info.filename, dist) and info.file_size <= MAX_METADATA:
                        return archive.read(info)
        else:
            with tarfile.open(file.blob, mode="r|gz") as tar:
                for member in tar:
                    if member.isfile() and _is_metadata(member.name, dist):
                        extracted = tar.extractfile(member)
                        if extracted is not None and member.size <= MAX_METADATA:
                            return extracted.read()
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise ChannelError(f"{file.name} cannot be read: {exc}", retryable=False) from exc
    raise ChannelError(
        f"{file.name} holds no {wanted} (the core metadata an index needs)", retryable=False
    )


def _is_metadata(name: str, dist: PythonDist) -> bool:
    parts = PurePosixPath(name.removeprefix("./")).parts
    if dist.filetype == "bdist_wheel":
        return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA"
    return len(parts) == 2 and parts[1] == "PKG-INFO"
