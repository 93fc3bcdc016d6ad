"""The candidate page in a real headless Chromium: its links resolve, it says it is a candidate
under vote, shows the artifacts with signature, checksum and SBOM links, the KEYS link, how to
verify, and the live tally; a screenshot goes to docs/screenshots/candidate-page.png.

Chromium is Debian's ``chromium`` (``./dev test`` installs it). The screenshot in the
repository is refreshed with ``ATR_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from agent.pages.page import PageArtifact, ReleasePage, render_page
from tests.integration.vote_support import (
    add_member,
    ballot,
    client,
    make_candidate,
    sign_ballot,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess
from tests.support.chromium import chromium, needs_chromium

pytestmark = pytest.mark.integration

VERSION = "3.0.0"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "candidate-page.png"


class Links(HTMLParser):
    """Every href and src of a page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._in_a: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append((tag, value))
        if tag == "a":
            self._in_a = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def page_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory):
    """A candidate under vote with two binding +1 and one non-binding +1."""
    root = tmp_path_factory.mktemp("page")
    agent = AgentProcess(root / "agent")
    agent.start()
    try:
        dave = add_member(agent, "dave", role="pmc")
        rm = agent.committer
        files = source_release(root / "rc", VERSION, sign=rm.key.sign)
        revision = make_candidate(agent, rm.token, VERSION, files)
        with client(agent, rm.token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote", json={})
            assert r.status_code == 201, r.text
        for member, token in ((agent.pmc, agent.pmc_token), (dave, dave.token), (rm, rm.token)):
            with client(agent, token) as c:
                r = c.post(
                    f"/projects/{PROJECT}/releases/{VERSION}/vote/ballots",
                    json={"signed": sign_ballot(member.key, ballot(revision, "+1"))},
                )
                assert r.status_code == 201, r.text
        yield agent, revision
    finally:
        agent.stop()


def page_url(agent: AgentProcess) -> str:
    return f"{agent.url}/projects/{PROJECT}/candidates/{VERSION}/"


@needs_chromium
def test_the_page_in_chromium_links_resolve(candidate) -> None:
    agent, revision = candidate
    url = page_url(agent)
    dumped = chromium("--virtual-time-budget=3000", "--enable-logging=stderr", "--dump-dom", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert "Refused to" not in dumped.stderr, "the page broke its Content-Security-Policy"
    parser = Links()
    parser.feed(dumped.stdout)
    text = parser.page_text

    assert "This is a release candidate under vote" in text
    assert "Acme Library 3.0.0" in text
    assert "gpg --import KEYS" in text and "sha512sum -c" in text
    archive = next(f for f in revision["files"] if f["path"].endswith(".tar.gz"))
    assert f"gpg --verify {archive['path']}.asc {archive['path']}" in text
    assert archive["sha512"] in text

    hrefs = {urljoin(url, href) for tag, href in parser.links if tag == "a"}
    base = url
    assert base + archive["path"] in hrefs
    assert base + archive["path"] + ".asc" in hrefs
    assert base + archive["path"] + ".sha512" in hrefs
    assert base + archive["path"] + ".cdx.json" in hrefs  # the SBOM the agent made
    assert f"{agent.url}/projects/{PROJECT}/KEYS" in hrefs
    assert "mailto:dev@acme-lib.apache.org" in hrefs

    # every http link of the page resolves
    checked = 0
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        for link in sorted(hrefs):
            parsed = urlparse(link)
            if parsed.scheme not in ("http", "https"):
                continue
            target = link.split("#", 1)[0]
            response = http.get(target)
            assert response.status_code == 200, f"{link}: {response.status_code}"
            checked += 1
        assert checked >= 6
        # the files are the revision's, byte for byte
        got = http.get(base + archive["path"]).content
        assert hashlib.sha512(got).hexdigest() == archive["sha512"]
        keys = http.get(f"{agent.url}/projects/{PROJECT}/KEYS").text
        assert "-----BEGIN PGP PUBLIC KEY BLOCK-----" in keys
        sbom = http.get(base + archive["path"] + ".cdx.json").json()
        assert sbom["bomFormat"] == "CycloneDX"

    # the live tally is in the page (the script polls tally.json)
    assert "Binding 2 0 0" in text and "Non-binding 1 0 0" in text
    with httpx.Client(timeout=30) as http:
        tally = http.get(base + "tally.json")
    assert tally.status_code == 200 and tally.headers["content-type"] == "application/json"
    assert tally.json()["binding"] == {"+1": 2, "0": 0, "-1": 0}


@needs_chromium
def test_screenshot(candidate, tmp_path: Path) -> None:
    agent, _revision = candidate
    target = tmp_path / "candidate-page.png"
    shot = chromium(
        f"--screenshot={target}", "--window-size=1200,900", "--virtual-time-budget=3000",
        page_url(agent),
    )  # fmt: skip
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 900)
    if os.environ.get("ATR_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, SCREENSHOT)


def test_page_is_public_and_strict(candidate) -> None:
    agent, _revision = candidate
    url = page_url(agent)
    with httpx.Client(timeout=30) as http:
        page = http.get(url)  # no credentials
        assert page.status_code == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
        assert page.headers["cache-control"] == "no-store"
        redirect = http.get(url.rstrip("/"))
        assert redirect.status_code == 308 and redirect.headers["location"].endswith("/")
        missing = http.get(url + "nothing-here.tar.gz")
        assert missing.status_code == 404
        assert http.get(url + "../../KEYS").status_code in (200, 404)  # normalised by the client
        sneaky = http.get(url + "%2e%2e/secret")
        assert sneaky.status_code in (400, 404)
        other = http.get(f"{agent.url}/projects/{PROJECT}/candidates/9.9.9/")
        assert other.status_code == 404


def test_one_template_also_renders_the_download_page() -> None:
    page = ReleasePage(
        project_key="acme-lib",
        project_name="Acme Library",
        version="1.0.0",
        keys_url="https://downloads.example.org/acme-lib/KEYS",
        artifacts=[
            PageArtifact(
                name="apache-acme-lib-1.0.0-src.tar.gz",
                size=123_456,
                sha512="ab" * 64,
                url="https://dlcdn.example.org/acme-lib/1.0.0/apache-acme-lib-1.0.0-src.tar.gz",
                asc_url="https://downloads.example.org/acme-lib/1.0.0/x.asc",
                sha512_url="https://downloads.example.org/acme-lib/1.0.0/x.sha512",
            )
        ],
        candidate=False,
    )
    html = render_page(page, nonce="n0nce")
    assert "Download Acme Library 1.0.0" in html
    assert "release candidate under vote" not in html and 'id="banner"' not in html
    assert 'id="tally"' not in html and "<script" not in html
    assert "gpg --verify apache-acme-lib-1.0.0-src.tar.gz.asc" in html
    assert 'href="https://downloads.example.org/acme-lib/KEYS"' in html
    assert "123.5 KB" in html
    # values are escaped
    hostile = ReleasePage(
        project_key="x", project_name="<script>alert(1)</script>", version="1",
        keys_url="k", artifacts=[], candidate=False,
    )  # fmt: skip
    assert "<script>alert" not in render_page(hostile, nonce="n")
