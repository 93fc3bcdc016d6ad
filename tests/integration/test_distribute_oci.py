"""The OCI channel against Debian's ``docker-registry``, checked with ``skopeo``.

Real parts: ``docker-registry`` (distribution v2, filesystem storage, htpasswd auth for
the release), ``skopeo`` pulling the image back, ``htpasswd`` for the bcrypt password
file, a real agent (two workers) with GnuPG, Subversion and the file outbox, and a small
HTTP proxy that answers chosen requests with 500. One agent and two registries serve
the whole module; the adapter-level tests need no agent.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.distribute.channels.base import (
    ChannelError,
    FileToPublish,
    PublishContext,
    Secret,
    sha512_of_chunks,
)
from agent.distribute.channels.oci import OciRegistry
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    distribution_agent,
    status,
    wait_distribution,
)
from tests.integration.oci_support import (
    DockerRegistry,
    RegistryProxy,
    TokenServer,
    all_events,
    candidate_with_image,
    docker_channel,
    pulled_blobs,
    set_channel,
    set_credential,
    skopeo_pull,
    stage,
    vote_to_passed,
)
from tests.integration.vote_support import Member, client, wait_phase
from tests.support.agent import PROJECT, AgentFactory, AgentProcess
from tests.support.oci_layout import BuiltImage, build_layout

pytestmark = pytest.mark.integration

USER = "release-bot"
SECRET = "oci-Secret-7f3a9c"  # the credential's secret: must never show anywhere
WRONG = "oci-Wrong-5d1e2b"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    with DockerRegistry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerRegistry]:
    with DockerRegistry(tmp_path_factory.mktemp("auth-registry"), users={USER: SECRET}) as r:
        yield r


@pytest.fixture(scope="module")
def oci_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    factory = AgentFactory(tmp_path_factory.mktemp("oci-agent"))
    try:
        yield distribution_agent(factory)
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def voters(oci_agent: AgentProcess) -> list[Member]:
    return add_voters(oci_agent)


def _file(image: BuiltImage) -> FileToPublish:
    data = image.path.read_bytes()
    return FileToPublish(
        path=image.path.name,
        sha512=hashlib.sha512(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        blob=image.path,
    )


def _adapter(http: httpx.Client, registry: DockerRegistry, package: str, **options: str):
    settings = ChannelSettings(
        name="docker", kind=ChannelKind.OCI, url=registry.url, package=package, options=options
    )
    ctx = PublishContext(
        kind="production", project=PROJECT, project_name="Acme Library", version="2.0.0",
        rc=None, settings=settings, http=http,
    )  # fmt: skip
    return OciRegistry(ctx)


# --- the adapter alone -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"platforms": ("amd64", "arm64")},
        {"platforms": ("amd64", "arm64"), "flat": True},
    ],
    ids=["manifest", "nested-index", "index-json"],
)
def test_push_pull_back_with_skopeo(registry: DockerRegistry, tmp_path: Path, shape: dict) -> None:
    package = f"adapter/{len(shape)}{'-flat' if shape.get('flat') else ''}"
    big = os.urandom(300_000)  # over chunk_size: uploaded in PATCH chunks
    image = build_layout(tmp_path / "x.oci.tar", layers=[{"big": big}, {"a": b"a"}], **shape)
    file = _file(image)
    with httpx.Client(timeout=60) as http:
        adapter = _adapter(http, registry, package, chunk_size=str(64 << 10))
        assert adapter.lookup(file) is None
        url = adapter.publish(file)
        assert url == f"{registry.host}/{package}:2.0.0@{image.digest}"
        found = adapter.lookup(file)
        assert found is not None and found.url == url
        assert sha512_of_chunks(adapter.fetch(file)) == (file.sha512, file.size)
    assert registry.tag_digest(package, "2.0.0") == image.digest
    assert registry.stored_tag(package, "2.0.0") == image.digest
    pulled = tmp_path / "pulled"
    assert skopeo_pull(registry, f"{package}:2.0.0", pulled, all_images=True) == image.digest
    blobs = pulled_blobs(pulled)
    for digest, data in image.blobs.items():
        assert blobs[digest] == data
    uploads = registry.completed_uploads(package)
    assert set(uploads) == {d for d in image.blobs if d not in image.manifests} - {image.digest}
    assert all(count == 1 for count in uploads.values())
    patches = [p for m, p, s in registry.requests() if m == "PATCH" and package in p]
    assert len(patches) >= 5  # 300 kB in 64 KiB chunks

    # a second publish (a retry) uploads nothing and puts the same manifest
    with httpx.Client(timeout=60) as http:
        _adapter(http, registry, package).publish(file)
    assert registry.completed_uploads(package) == uploads


# --- a whole release ---------------------------------------------------------------------------


def test_stage_vote_distribute_verify_announce(
    oci_agent: AgentProcess,
    voters: list[Member],
    auth_registry: DockerRegistry,
    tmp_path: Path,
) -> None:
    agent, rm, name = oci_agent, oci_agent.committer, "acme/lib"
    set_credential(agent, "docker-bot", USER, SECRET)
    set_channel(agent, url=auth_registry.url, package=name, credential="docker-bot",
                options={"latest": "true"})  # fmt: skip
    image, revision = candidate_with_image(agent, tmp_path, "1.0.0")

    # staged during the vote: the rc tag, on the same registry
    stage(agent, "1.0.0")
    wait_distribution(agent, "1.0.0", "verified")  # fails at once if it failed
    wait_phase(agent, rm.token, "1.0.0", "staged")
    staged = docker_channel(status(agent, rm.token, "1.0.0"))
    (step,) = staged["files"]
    assert step["path"] == image.path.name and step["verified"] is True
    assert step["url"] == f"{auth_registry.host}/{name}:1.0.0-rc1@{image.digest}"
    assert auth_registry.tag_digest(name, "1.0.0-rc1") == image.digest
    staged_uploads = auth_registry.completed_uploads(name)
    assert staged_uploads and all(n == 1 for n in staged_uploads.values())

    vote_to_passed(agent, voters, "1.0.0", revision)
    plan = approve_plan(agent, rm, "1.0.0")
    planned = next(c for c in plan.channels if c.name == "docker")
    assert planned.target == f"{auth_registry.host}/{name}"
    assert [(f.path, f.target) for f in planned.files] == [
        (image.path.name, f"{auth_registry.host}/{name}:1.0.0")
    ]
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200, r.text
    done = wait_distribution(agent, "1.0.0", "verified")
    channel = docker_channel(done)
    assert channel["state"] == "done" and channel["kind"] == "oci"
    (step,) = channel["files"]
    assert step["state"] == "done" and step["verified"] is True
    assert step["url"] == f"{auth_registry.host}/{name}:1.0.0@{image.digest}"

    # the staged blobs were not uploaded again: production only tagged
    assert auth_registry.completed_uploads(name) == staged_uploads
    assert auth_registry.manifest_puts(name, "1.0.0") == 1
    assert auth_registry.manifest_puts(name, "latest") == 1
    for tag in ("1.0.0", "latest", "1.0.0-rc1"):
        assert auth_registry.tag_digest(name, tag) == image.digest
    pulled = tmp_path / "pulled"
    assert skopeo_pull(auth_registry, f"{name}:1.0.0", pulled) == image.digest
    assert pulled_blobs(pulled)[image.digest] == image.manifest

    # starting again changes nothing anywhere
    before = auth_registry.requests()
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert not [m for m, _, _ in auth_registry.requests()[len(before) :] if m != "GET"]

    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, "1.0.0", "announced")
    mails = {m["Subject"]: m for m in agent.outbox()}
    summary = next(m for s, m in mails.items() if s.startswith("[DISTRIBUTED]"))
    assert f"{name}:1.0.0@{image.digest}" in summary.get_content()
    assert "[ANNOUNCE] Apache Acme Library 1.0.0 released" in mails

    _secret_is_nowhere(agent, SECRET)


def _secret_is_nowhere(agent: AgentProcess, secret: str) -> None:
    """Not in the agent's log, its events, its mails, its database, or an API answer."""
    assert secret not in agent.log_text()
    events = all_events(agent)
    assert any(e["kind"] == "credential.set" for e in events)
    assert secret not in str(events)
    for mail in agent.outbox():
        assert secret not in mail.as_string()
    for path in agent.data_dir.rglob("*"):
        if path.is_file() and path.suffix in ("", ".db", ".log", ".eml", ".toml", ".json"):
            assert secret.encode() not in path.read_bytes(), path
    with client(agent, agent.admin.token) as c:
        releases = c.get(f"/projects/{PROJECT}/releases").json()
        answers = [
            c.get("/credentials"),
            c.get(f"/projects/{PROJECT}/distribution-settings"),
            c.get("/tasks", params={"project": PROJECT}),
        ]
        for release in releases:
            base = f"/projects/{PROJECT}/releases/{release['version']}/distribution"
            answers.append(c.get(base))
            if release["phase"] in ("passed", "distribute", "announced"):
                answers.append(c.get(f"{base}/plan"))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text


# --- registries that fail ----------------------------------------------------------------------


def test_500_twice_then_200(
    oci_agent: AgentProcess, registry: DockerRegistry, tmp_path: Path
) -> None:
    agent, name = oci_agent, "acme/flaky"
    with RegistryProxy(registry) as proxy:
        proxy.fail("PUT", f"/v2/{name}/manifests/1.1.0-rc1", status=500, times=2,
                   text="injected: storage backend unavailable")  # fmt: skip
        set_channel(agent, url=proxy.url, package=name)
        image, _ = candidate_with_image(agent, tmp_path, "1.1.0")
        stage(agent, "1.1.0")
        wait_distribution(agent, "1.1.0", "verified")
        wait_phase(agent, agent.committer.token, "1.1.0", "staged")
    (step,) = docker_channel(status(agent, agent.committer.token, "1.1.0"))["files"]
    assert step["state"] == "done" and step["verified"] is True and step["error"] is None
    assert registry.tag_digest(name, "1.1.0-rc1") == image.digest
    tag_puts = [s for m, p, s in proxy.requests if m == "PUT" and p.endswith("1.1.0-rc1")]
    assert tag_puts == [500, 500, 201]
    # the retries asked first and uploaded nothing twice
    assert all(n == 1 for n in registry.completed_uploads(name).values())
    logs = [str(e["data"].get("message")) for e in all_events(agent) if e["kind"] == "task.log"]
    retried = [line for line in logs if "storage backend unavailable" in line]
    assert len(retried) == 2 and all("500" in line and "trying again" in line for line in retried)


def test_401_fails_the_channel_with_the_registry_text_then_a_retry_succeeds(
    oci_agent: AgentProcess, auth_registry: DockerRegistry, tmp_path: Path
) -> None:
    agent, rm, name = oci_agent, oci_agent.committer, "acme/locked"
    set_credential(agent, "docker-wrong", USER, WRONG)
    set_channel(agent, url=auth_registry.url, package=name, credential="docker-wrong")
    image, _ = candidate_with_image(agent, tmp_path, "1.2.0")
    stage(agent, "1.2.0")
    failed = wait_distribution(agent, "1.2.0", "failed")
    channel = docker_channel(failed)
    (step,) = channel["files"]
    assert channel["state"] == "failed" and step["state"] == "failed"
    assert "401" in step["error"] and "authentication required" in step["error"]
    assert step["attempts"] == 1
    dist = next(c for c in failed["channels"] if c["name"] == "dist")
    assert dist["state"] == "done"  # the other channel is not blocked
    assert status(agent, rm.token, "1.2.0")["phase"] == "candidate"
    deadline = time.monotonic() + 60  # the mail is written a moment after the failure
    while not (failure_mail := [m for m in agent.outbox() if "1.2.0" in m["Subject"]]):
        assert time.monotonic() < deadline, "no failure mail"
        time.sleep(0.25)
    assert "authentication required" in failure_mail[-1].get_content()
    # a 401 is not retried: a HEAD without and one with the credential, a GET for the
    # registry's words (a HEAD answer has none), and no upload tried
    tried = [(m, s) for m, p, s in auth_registry.requests() if f"/v2/{name}/" in p]
    assert tried == [("HEAD", 401), ("HEAD", 401), ("GET", 401)]
    assert auth_registry.tag_digest(name, "1.2.0-rc1") is None

    # the operator fixes the credential, the release manager retries the channel
    set_credential(agent, "docker-wrong", USER, SECRET)
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.2.0/distribution/channels/docker/retry")
        assert r.status_code == 200, r.text
    wait_distribution(agent, "1.2.0", "verified")
    wait_phase(agent, rm.token, "1.2.0", "staged")
    assert auth_registry.tag_digest(name, "1.2.0-rc1") == image.digest
    _secret_is_nowhere(agent, WRONG)
    _secret_is_nowhere(agent, SECRET)


def test_tag_pointing_at_another_image_is_never_moved(
    oci_agent: AgentProcess, registry: DockerRegistry, tmp_path: Path
) -> None:
    agent, name = oci_agent, "acme/taken"
    squatter = build_layout(tmp_path / "squatter.oci.tar", salt="someone else")
    with httpx.Client(timeout=60) as http:
        adapter = _adapter(http, registry, name)
        adapter.ctx.kind, adapter.ctx.rc = "staging", 1
        adapter.ctx.version = "1.3.0"
        adapter.publish(_file(squatter))
    assert registry.tag_digest(name, "1.3.0-rc1") == squatter.digest
    set_channel(agent, url=registry.url, package=name)
    image, _ = candidate_with_image(agent, tmp_path, "1.3.0")
    stage(agent, "1.3.0")
    failed = wait_distribution(agent, "1.3.0", "failed")
    (step,) = docker_channel(failed)["files"]
    assert step["state"] == "failed"
    assert f"points at {squatter.digest}, not at the manifest {image.digest}" in step["error"]
    assert "refusing to move it" in step["error"]
    assert registry.tag_digest(name, "1.3.0-rc1") == squatter.digest
    assert registry.manifest_puts(name, "1.3.0-rc1") == 1  # the squatter's own


def test_token_flow_against_the_registry(tmp_path: Path) -> None:
    """docker-registry with ``auth: token`` (as Docker Hub): the adapter follows the
    challenge to the token service with the credential and pushes with the token."""
    image = build_layout(tmp_path / "x.oci.tar", platforms=("amd64", "arm64"))
    file = _file(image)
    with (
        TokenServer(tmp_path / "tokens", {USER: SECRET}) as tokens,
        DockerRegistry(tmp_path / "registry", users={USER: SECRET}, token=tokens) as registry,
        httpx.Client(timeout=60) as http,
    ):
        assert (
            httpx.get(f"{registry.url}/v2/")
            .headers["WWW-Authenticate"]
            .startswith(f'Bearer realm="{tokens.url}/token",service="{TokenServer.SERVICE}"')
        )
        adapter = _adapter(http, registry, "acme/tok")
        adapter.ctx.credential = Secret(USER, SECRET)
        adapter.publish(file)
        assert sha512_of_chunks(adapter.fetch(file)) == (file.sha512, file.size)
        assert tokens.requests == [(USER, ["repository:acme/tok:pull,push"])]  # one token
        assert (
            skopeo_pull(registry, "acme/tok:2.0.0", tmp_path / "p", all_images=True) == image.digest
        )

        wrong = _adapter(http, registry, "acme/tok")
        wrong.ctx.credential = Secret(USER, WRONG)
        with pytest.raises(ChannelError) as caught:
            wrong.lookup(file)
    error = caught.value
    assert not error.retryable and WRONG not in error.message
    assert error.message == (
        'getting a token from 127.0.0.1: 401 {"details": "incorrect username or password"}'
    )
