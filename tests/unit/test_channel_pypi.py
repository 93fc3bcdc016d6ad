"""The PyPI adapter's protocol, against ``httpx.MockTransport`` registries.

What the upload form carries, how the simple index is read, and each answer a registry
gives to a repeat (PyPI: 200 same bytes, 400 "File already exists" other bytes;
pypiserver: 409, or 400 to twine, without comparing), to a failure and to bad credentials.
The integration tests (tests/integration/test_distribute_pypi.py) run the same adapter
against real pypiserver instances.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agent.config import Settings
from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import (
    ChannelError,
    Conflicting,
    FileToPublish,
    Secret,
)
from agent.distribute.channels.pypi import PyPI, index_url_for, python_dist
from agent.distribute.runner import _retrying
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import context, file_at
from tests.support.packages import python_sdist, python_wheel

UPLOAD = "https://upload.example.org/legacy/"
INDEX = "https://upload.example.org/simple/"
TOKEN = "pypi-AgEIcHlwaS5vcmcSECRET"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def wheel(tmp_path: Path) -> FileToPublish:
    return file_at(python_wheel(tmp_path, "acme-lib", "1.0.0", padding=5 << 20))


@pytest.fixture
def sdist(tmp_path: Path) -> FileToPublish:
    return file_at(python_sdist(tmp_path, "acme-lib", "1.0.0"))


class Registry:
    """A mock index: answers by the handlers given, records every request."""

    def __init__(self, *handlers: Handler) -> None:
        self.handlers = list(handlers)
        self.requests: list[httpx.Request] = []
        self.progress: list[tuple[str, int, int]] = []
        self.logged: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for handler in self.handlers:
            response = handler(request)
            if response.status_code != 599:
                return response
        return httpx.Response(404, text="Not Found")

    def adapter(self, kind: str = "production", **settings: object) -> PyPI:
        channel = ChannelSettings.model_validate(
            {"name": "pypi", "kind": "pypi", "url": UPLOAD, **settings}
        )
        ctx = context(
            channel,
            kind="staging" if kind == "staging" else "production",
            rc=1,
            http=httpx.Client(transport=httpx.MockTransport(self)),
            credential=Secret("", TOKEN),
            log=self.logged,
            progress=lambda path, done, total: self.progress.append((path, done, total)),
            project_name="Acme Library",
        )
        adapter = adapter_for(ChannelKind.PYPI.value)(ctx)
        assert isinstance(adapter, PyPI)
        return adapter

    @property
    def uploads(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


def _skip(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(599)


def index_page(*files: tuple[str, str], algorithm: str = "sha256") -> Handler:
    """The project page of the simple index (PEP 503 HTML) listing ``(filename, hash)``."""
    links = "".join(
        f'<a href="../../packages/{name}#{algorithm}={digest}">{name}</a><br>'
        for name, digest in files
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/simple/acme-lib/":
            return httpx.Response(200, html=f"<html><body>{links}</body></html>")
        return _skip(request)

    return handler


def files_at(files: dict[str, bytes]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if request.method == "GET" and request.url.path.startswith("/packages/") and name in files:
            return httpx.Response(200, content=files[name])
        return _skip(request)

    return handler


def answer(status: int, text: str = "", *, times: int = 1_000, reason: str = "") -> Handler:
    """The upload answers ``status`` (the first ``times`` uploads), with ``reason`` as
    the status line's words (as Warehouse says why it refuses)."""
    left = [times]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and left[0] > 0:
            left[0] -= 1
            extensions = {"reason_phrase": reason.encode()} if reason else {}
            return httpx.Response(status, text=text, extensions=extensions)
        return _skip(request)

    return handler


def form(request: httpx.Request) -> tuple[dict[str, list[str]], bytes, str | None]:
    """The fields, the uploaded file and its name of a multipart upload request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, list[str]] = {}
    content, filename = b"", None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        if name == "content":
            content = part.get_payload(decode=True)
            filename = part.get_filename()
        else:
            fields.setdefault(name, []).append(part.get_content().strip())
    return fields, content, filename


# --- names and places ---------------------------------------------------------------------------


def test_file_names_say_what_is_a_python_distribution() -> None:
    wheel = python_dist("acme_lib-1.0.0-py3-none-any.whl")
    assert wheel is not None and wheel.filetype == "bdist_wheel" and wheel.pyversion == "py3"
    assert wheel.project == "acme-lib" and str(wheel.version) == "1.0.0"
    sdist = python_dist("Acme.Lib-2.0rc1.tar.gz")
    assert sdist is not None and sdist.filetype == "sdist" and sdist.pyversion == "source"
    assert sdist.project == "acme-lib"
    for other in ("apache-acme-lib-1.0.0-src.tar.gz", "acme_lib-1.0.0.tar.gz.asc",
                  "acme_lib-1.0.0.tar.gz.sha512", "acme-1.0.jar", "README"):  # fmt: skip
        assert python_dist(other) is None, other


def test_the_index_url_comes_from_the_upload_url() -> None:
    assert index_url_for("https://upload.pypi.org/legacy/") == "https://pypi.org/simple/"
    assert index_url_for("https://test.pypi.org/legacy/") == "https://test.pypi.org/simple/"
    assert index_url_for("http://127.0.0.1:8080") == "http://127.0.0.1:8080/simple/"
    assert index_url_for("https://repo.example.org/pypi/legacy") == (
        "https://repo.example.org/pypi/simple/"
    )


def test_only_wheels_and_sdists_are_selected_and_staging_goes_to_testpypi() -> None:
    registry = Registry()
    adapter = registry.adapter()
    release = ["apache-acme-lib-1.0.0-src.tar.gz", "apache-acme-lib-1.0.0-src.tar.gz.asc",
               "acme_lib-1.0.0-py3-none-any.whl", "acme_lib-1.0.0-py3-none-any.whl.asc",
               "acme_lib-1.0.0-py3-none-any.whl.sha512", "acme_lib-1.0.0.tar.gz",
               "other_lib-1.0.0.tar.gz"]  # fmt: skip
    assert [p for p in release if adapter.selects(p)] == [
        "acme_lib-1.0.0-py3-none-any.whl", "acme_lib-1.0.0.tar.gz", "other_lib-1.0.0.tar.gz"
    ]  # fmt: skip
    narrowed = registry.adapter(package="Acme_Lib", files=["*.whl"])
    assert [p for p in release if narrowed.selects(p)] == ["acme_lib-1.0.0-py3-none-any.whl"]
    assert narrowed.base() == f"{INDEX}acme-lib/"
    assert narrowed.target("acme_lib-1.0.0.tar.gz") == f"{INDEX}acme-lib/#acme_lib-1.0.0.tar.gz"

    staging = registry.adapter(
        "staging",
        staging_url="https://test.example.org/legacy/",
        options={"staging_index_url": "https://test-index.example.org/simple"},
    )
    assert staging.upload_url == "https://test.example.org/legacy/"
    assert staging.index_url == "https://test-index.example.org/simple/"


# --- uploading ----------------------------------------------------------------------------------


def test_an_upload_is_the_twine_form_streamed_with_the_files_own_metadata(
    wheel: FileToPublish,
) -> None:
    registry = Registry(answer(200), index_page((wheel.name, wheel.sha256)))
    url = registry.adapter().publish(wheel)
    assert url == f"https://upload.example.org/packages/{wheel.name}"
    (upload,) = registry.uploads
    assert str(upload.url) == UPLOAD
    assert (
        upload.headers["authorization"]
        == "Basic " + base64.b64encode(f"__token__:{TOKEN}".encode()).decode()
    )
    assert not upload.headers["user-agent"].lower().startswith("twine")
    fields, content, filename = form(upload)
    data = wheel.blob.read_bytes()
    assert content == data and filename == wheel.name
    single = {k: v[0] for k, v in fields.items() if len(v) == 1}
    assert single[":action"] == "file_upload" and single["protocol_version"] == "1"
    assert single["filetype"] == "bdist_wheel" and single["pyversion"] == "py3"
    assert single["name"] == "acme-lib" and single["version"] == "1.0.0"
    assert single["metadata_version"] == "2.1"
    assert single["sha256_digest"] == hashlib.sha256(data).hexdigest()
    assert single["md5_digest"] == hashlib.md5(data).hexdigest()
    assert single["blake2_256_digest"] == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert single["summary"] == "A test package of the Apache Acme Library"
    assert single["project_urls"] == "Source, https://github.com/apache/acme"
    assert single["requires_python"] == ">=3.8"
    assert "# acme-lib" in single["description"]
    assert fields["classifiers"] == [
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
    ]
    # streamed in pieces, never read whole: progress came in steps (of at least 1 MiB, so
    # a big upload writes about a hundred progress events) up to the size
    steps = [done for path, done, total in registry.progress if path == wheel.path]
    assert len(steps) >= 5 and steps[-1] == wheel.size and steps == sorted(steps)
    assert all(b - a >= 1 << 20 for a, b in itertools.pairwise(steps[:-1]))


def test_an_sdist_is_uploaded_as_source_with_its_pkg_info(sdist: FileToPublish) -> None:
    registry = Registry(answer(200))
    url = registry.adapter().publish(sdist)
    assert url == f"{INDEX}acme-lib/#{sdist.name}"  # the index did not list it yet
    fields, content, _ = form(registry.uploads[0])
    assert fields["filetype"] == ["sdist"] and fields["pyversion"] == ["source"]
    assert fields["name"] == ["acme-lib"] and content == sdist.blob.read_bytes()


def test_a_user_and_password_credential_is_sent_as_such(wheel: FileToPublish) -> None:
    registry = Registry(answer(200))
    adapter = registry.adapter()
    adapter.ctx.credential = Secret("uploader", "hunter2")
    adapter.publish(wheel)
    expected = base64.b64encode(b"uploader:hunter2").decode()
    assert registry.uploads[0].headers["authorization"] == f"Basic {expected}"


# --- looking ------------------------------------------------------------------------------------


def test_lookup_reads_the_hash_from_the_index_html_or_json(wheel: FileToPublish) -> None:
    registry = Registry(index_page(("acme_lib-0.9.tar.gz", "ab" * 32), (wheel.name, wheel.sha256)))
    found = registry.adapter().lookup(wheel)
    assert found is not None and found.sha256 == wheel.sha256
    assert found.url == f"https://upload.example.org/packages/{wheel.name}"
    assert all(r.method == "GET" for r in registry.requests)
    assert "authorization" not in registry.requests[0].headers  # the index is public

    def json_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "application/vnd.pypi.simple.v1+json"},
            json={"files": [{"filename": wheel.name, "url": "/f/x.whl",
                             "hashes": {"sha256": wheel.sha256.upper()}}]},
        )  # fmt: skip

    found = Registry(json_page).adapter().lookup(wheel)
    assert found is not None and found.sha256 == wheel.sha256
    assert found.url == "https://upload.example.org/f/x.whl"


def test_lookup_finds_nothing_for_an_unknown_project_orfile_at(wheel: FileToPublish) -> None:
    assert Registry().adapter().lookup(wheel) is None  # 404: no such project
    assert Registry(index_page(("acme_lib-0.9.tar.gz", "ab" * 32))).adapter().lookup(wheel) is None


def test_index_auth_sends_the_credential_to_the_index(wheel: FileToPublish) -> None:
    registry = Registry()
    registry.adapter(options={"index_auth": "true"}).lookup(wheel)
    assert registry.requests[0].headers["authorization"].startswith("Basic ")


def test_fetch_downloads_the_indexedfile_at(wheel: FileToPublish) -> None:
    data = wheel.blob.read_bytes()
    registry = Registry(index_page((wheel.name, wheel.sha256)), files_at({wheel.name: data}))
    assert b"".join(registry.adapter().fetch(wheel)) == data
    with pytest.raises(ChannelError, match="does not list") as caught:
        list(Registry().adapter().fetch(wheel))
    assert caught.value.retryable


# --- repeats ------------------------------------------------------------------------------------


def test_pypiserver_409_for_the_same_bytes_is_published(wheel: FileToPublish) -> None:
    registry = Registry(
        answer(409, "Package 'acme_lib-1.0.0-py3-none-any.whl' already exists!"),
        index_page((wheel.name, wheel.sha256)),
    )
    url = registry.adapter().publish(wheel)
    assert url.endswith(f"/packages/{wheel.name}") and len(registry.uploads) == 1
    assert any("holds these bytes already" in line for line in registry.logged)


def test_pypiserver_400_to_twine_is_read_as_a_repeat_too(wheel: FileToPublish) -> None:
    registry = Registry(
        answer(400, "Package 'acme_lib-1.0.0-py3-none-any.whl' already exists!"),
        index_page((wheel.name, wheel.sha256)),
    )
    assert registry.adapter().publish(wheel).endswith(wheel.name)


def test_other_bytes_under_the_name_are_a_conflict(wheel: FileToPublish) -> None:
    page = "<html><head><title>400 Bad</title></head><body><h1>400 Bad Request</h1></body></html>"
    registry = Registry(
        answer(400, page, reason="File already exists. See https://pypi.org/help/#file-name-reuse"),
        index_page((wheel.name, "0" * 64)),
    )
    with pytest.raises(Conflicting) as caught:
        registry.adapter().publish(wheel)
    assert "400 File already exists. See https://pypi.org/help/#file-name-reuse; 400 Bad" in (
        caught.value.message
    )
    assert "holds other bytes" in caught.value.message and not caught.value.retryable


def test_without_a_hash_in_the_index_the_file_is_downloaded_and_compared(
    wheel: FileToPublish,
) -> None:
    bare = index_page((wheel.name, ""), algorithm="")
    same = Registry(answer(409), bare, files_at({wheel.name: wheel.blob.read_bytes()}))
    assert same.adapter().publish(wheel).endswith(wheel.name)
    other = Registry(answer(409), bare, files_at({wheel.name: b"other bytes"}))
    with pytest.raises(Conflicting):
        other.adapter().publish(wheel)


def test_a_name_used_before_and_deleted_is_final(wheel: FileToPublish) -> None:
    registry = Registry(
        answer(400, "This filename has already been used, use a different version.")
    )
    with pytest.raises(ChannelError, match="400 This filename has already been used") as caught:
        registry.adapter().publish(wheel)
    assert not caught.value.retryable


def test_a_refusal_the_index_does_not_show_yet_is_retried(wheel: FileToPublish) -> None:
    registry = Registry(answer(409, "Package already exists!"))
    with pytest.raises(ChannelError, match="does not list") as caught:
        registry.adapter().publish(wheel)
    assert caught.value.retryable and not isinstance(caught.value, Conflicting)


# --- failures -----------------------------------------------------------------------------------


def test_500_twice_then_200_is_retried_to_success(wheel: FileToPublish) -> None:
    registry = Registry(answer(500, "Internal Server Error", times=2), answer(200))
    adapter = registry.adapter()
    logged: list[str] = []
    url = _retrying(
        lambda: adapter.publish(wheel),
        what="publishing",
        settings=Settings(data_dir=Path("/nonexistent"), publish_retry_seconds=0),
        log=logged.append,
        redact=adapter.ctx.redact,
    )
    assert url.endswith(wheel.name) and len(registry.uploads) == 3
    assert len(logged) == 2 and "500 Internal Server Error" in logged[0]


def test_401_is_not_retried_keeps_the_registry_words_and_hides_the_secret(
    wheel: FileToPublish,
) -> None:
    registry = Registry(answer(401, f"Invalid or non-existent authentication: token {TOKEN}"))
    with pytest.raises(ChannelError) as caught:
        registry.adapter().publish(wheel)
    error = caught.value
    assert not error.retryable and "401 Invalid or non-existent authentication" in error.message
    assert TOKEN not in error.message and "***" in error.message
    assert error.hint is not None and "credential" in error.hint


def test_an_html_error_page_is_cut_to_its_words(wheel: FileToPublish) -> None:
    page = (
        "<!DOCTYPE HTML><html><head><title>Error: 403 Forbidden</title><style>body {}</style>"
        "</head><body><h1>Error: 403 Forbidden</h1><p>Sorry, the requested URL caused an "
        "error:</p><pre>None</pre></body></html>"
    )
    registry = Registry(answer(403, page))
    with pytest.raises(ChannelError) as caught:
        registry.adapter().publish(wheel)
    assert caught.value.message.endswith(
        ": 403 Error: 403 Forbidden Sorry, the requested URL caused an error: None"
    )
    assert not caught.value.retryable


def test_a_redirect_is_an_error_naming_the_right_url(wheel: FileToPublish) -> None:
    registry = Registry(
        lambda r: httpx.Response(301, headers={"Location": "https://elsewhere/legacy/"})
    )
    with pytest.raises(ChannelError, match="redirect to https://elsewhere/legacy/"):
        registry.adapter().publish(wheel)


def test_a_file_whose_metadata_names_another_project_is_refused(tmp_path: Path) -> None:
    built = python_wheel(tmp_path / "x", "other-lib", "1.0.0")
    renamed = built.rename(tmp_path / "acme_lib-1.0.0-py3-none-any.whl")
    registry = Registry(answer(200))
    with pytest.raises(ChannelError, match=r"metadata names other-lib 1\.0\.0"):
        registry.adapter().publish(file_at(renamed))
    assert registry.uploads == []


def test_a_broken_archive_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "acme_lib-1.0.0.tar.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ChannelError, match=r"acme_lib-1\.0\.0\.tar\.gz cannot be read"):
        Registry().adapter().publish(file_at(broken))
