"""The Nexus 2 staging channel (kind ``nexus``) against scripted HTTP answers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import ChannelError
from agent.distribute.channels.nexus import NexusStaging
from shared.errors import ValidationError
from shared.protocol.distribute import ChannelKind, ChannelSettings
from tests.support.channels import Script, context, maven_files

ROOT = "https://repository.example.org"
S = "/service/local/staging"
JAR = "org/apache/acme/acme-lib/1.0.0/acme-lib-1.0.0.jar"
RC1 = "Apache Acme 1.0.0-rc1 [ATR acme-lib]"


def settings(**options: str) -> ChannelSettings:
    return ChannelSettings(
        name="asf-nexus",
        kind=ChannelKind.NEXUS,
        url=ROOT,
        files=["maven/*"],
        options={"profile_id": "p1", "poll_seconds": "0.01", **options},
    )


def repo(repo_id: str, description: str, type_: str = "open", **more: Any) -> dict[str, Any]:
    return {
        "repositoryId": repo_id,
        "description": description,
        "type": type_,
        "transitioning": False,
        **more,
    }


def listing(*repos: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": list(repos)})


def test_needs_a_staging_profile_and_names_targets() -> None:
    assert adapter_for("nexus") is NexusStaging
    with pytest.raises(ValidationError, match="no staging profile") as missing:
        NexusStaging(context(settings(profile_id="")))
    assert missing.value.hint is not None and "profile_id" in missing.value.hint
    staging = NexusStaging(context(settings(), kind="staging"))
    assert staging.target("maven/" + JAR) == f"{ROOT}/content/groups/staging/{JAR}"
    release = NexusStaging(context(settings(release_repository="asf-releases")))
    assert release.base() == f"{ROOT}/content/repositories/asf-releases"
    assert release.description == "Apache Acme 1.0.0 [ATR acme-lib]"
    assert staging.description == RC1


def test_a_staging_starts_one_repository_deploys_and_closes_it(tmp_path: Path) -> None:
    state: dict[str, Any] = {"type": "open", "polls": 0, "closing": False}

    def repository(_request: httpx.Request) -> httpx.Response:
        if state["closing"]:
            state["polls"] += 1
            if state["polls"] >= 3:  # close is asynchronous: two polls see it in progress
                state["type"], state["closing"] = "closed", False
        body = repo("acme-1001", RC1, state["type"], transitioning=state["closing"])
        return httpx.Response(200, json=body)

    def close(_request: httpx.Request) -> httpx.Response:
        state["closing"] = True
        return httpx.Response(201)

    script = (
        Script()
        .on("GET", f"{S}/profile_repositories/p1", listing())
        .on(
            "POST",
            f"{S}/profiles/p1/start",
            httpx.Response(201, json={"data": {"stagedRepositoryId": "acme-1001"}}),
        )
        .on("POST", f"{S}/bulk/close", close)
        .on("GET", f"{S}/repository/acme-1001", repository)
    )
    for file in maven_files(tmp_path):
        script.on("PUT", f"{S}/deployByRepositoryId/acme-1001/{file.path[6:]}", httpx.Response(201))
        for algorithm in ("sha1", "md5"):
            script.on(
                "PUT",
                f"{S}/deployByRepositoryId/acme-1001/{file.path[6:]}.{algorithm}",
                httpx.Response(201),
            )
    adapter = NexusStaging(context(settings(), kind="staging", http=script.client()))
    files = maven_files(tmp_path)
    assert all(adapter.lookup(f) is None for f in files)
    urls = adapter.publish_many(files)
    assert urls[files[0].path] == f"{ROOT}/content/repositories/acme-1001/{JAR}"
    adapter.finish()
    start = next(r for r in script.requests if r.url.path.endswith("/start"))
    assert json.loads(start.content) == {"data": {"description": RC1}}
    close = next(r for r in script.requests if r.url.path.endswith("/bulk/close"))
    assert json.loads(close.content)["data"]["stagedRepositoryIds"] == ["acme-1001"]
    assert script.calls("POST").count(f"POST {S}/profiles/p1/start") == 1
    assert state["polls"] == 3 and state["type"] == "closed"
    assert start.headers["accept"] == "application/json"


def test_the_repository_is_found_again_by_its_description_or_its_recorded_url(
    tmp_path: Path,
) -> None:
    jar = maven_files(tmp_path)[0]
    other = repo("acme-1000", "Apache Acme 0.9.0-rc1 [ATR acme-lib]", "closed")
    script = (
        Script()
        .on(
            "GET",
            f"{S}/profile_repositories/p1",
            listing(other, repo("acme-1002", RC1), repo("acme-1003", RC1, "closed")),
        )
        .on("HEAD", f"/content/repositories/acme-1002/{JAR}", httpx.Response(200))
        .on("HEAD", f"/content/repositories/acme-1003/{JAR}", httpx.Response(200))
    )
    adapter = NexusStaging(context(settings(), kind="staging", http=script.client()))
    found = adapter.lookup(jar)
    assert found is not None and "/acme-1002/" in found.url  # the first of its description
    recorded = {jar.path: f"{ROOT}/content/repositories/acme-1003/{JAR}"}
    adapter = NexusStaging(
        context(settings(), kind="staging", http=script.client(), recorded=recorded)
    )
    found = adapter.lookup(jar)
    assert found is not None and "/acme-1003/" in found.url  # what the steps recorded
    assert not [c for c in script.calls("POST") if c.endswith("/start")]


def test_closing_reports_the_rule_failures_of_the_activity_log(tmp_path: Path) -> None:
    activity = [
        {"name": "open", "events": [{"name": "repositoryCreated", "properties": []}]},
        {
            "name": "close",
            "events": [
                {
                    "name": "ruleFailed",
                    "properties": [
                        {"name": "typeId", "value": "signature-staging"},
                        {"name": "failureMessage", "value": "Missing Signature: '/x.jar.asc'"},
                        {"name": "failureMessage", "value": "Missing Signature: '/x.jar.asc'"},
                    ],
                },
                {"name": "rulesFailed", "properties": [{"name": "failureCount", "value": "1"}]},
                {
                    "name": "repositoryCloseFailed",
                    "properties": [
                        {"name": "cause", "value": "StagingRulesFailedException: rules failed"}
                    ],
                },
            ],
        },
    ]
    script = (
        Script()
        .on("GET", f"{S}/profile_repositories/p1", listing(repo("acme-1001", RC1)))
        .on("POST", f"{S}/bulk/close", httpx.Response(201))
        .on("GET", f"{S}/repository/acme-1001", httpx.Response(200, json=repo("acme-1001", RC1)))
        .on("GET", f"{S}/repository/acme-1001/activity", httpx.Response(200, json=activity))
    )
    adapter = NexusStaging(context(settings(), kind="staging", http=script.client()))
    with pytest.raises(ChannelError) as failed:
        adapter.finish()
    message = failed.value.message
    assert not failed.value.retryable
    assert message.count("Missing Signature: '/x.jar.asc'") == 1
    assert "StagingRulesFailedException" in message and "close" in message
    assert failed.value.hint is not None and "drop" in failed.value.hint


def test_a_transition_that_never_ends_is_retryable(tmp_path: Path) -> None:
    busy = repo("acme-1001", RC1, transitioning=True)
    script = (
        Script()
        .on("GET", f"{S}/profile_repositories/p1", listing(busy))
        .on("GET", f"{S}/repository/acme-1001", httpx.Response(200, json=busy))
    )
    adapter = NexusStaging(
        context(settings(wait_minutes="0.001"), kind="staging", http=script.client())
    )
    with pytest.raises(ChannelError, match="did not finish") as failed:
        adapter.finish()
    assert failed.value.retryable


def test_production_releases_the_closed_candidate_the_vote_was_on(tmp_path: Path) -> None:
    jar = maven_files(tmp_path)[0]
    sha1 = hashlib.sha1(jar.blob.read_bytes()).hexdigest()
    rc2 = "Apache Acme 1.0.0-rc2 [ATR acme-lib]"
    promoted = {"done": False}

    def promote(request: httpx.Request) -> httpx.Response:
        promoted["done"] = True
        body = json.loads(request.content)["data"]
        assert body["stagedRepositoryIds"] == ["acme-1001"] and body["autoDropAfterRelease"]
        return httpx.Response(201)

    script = (
        Script()
        .on(
            "GET",
            f"{S}/profile_repositories/p1",
            listing(
                repo("acme-1001", RC1, "closed"),
                repo("acme-1002", rc2, "closed"),
                repo("acme-1003", "Apache Acme 1.0.0-rc3 [ATR acme-lib]", "open"),
            ),
        )
        .on(
            "GET", f"/content/repositories/acme-1002/{JAR}.sha1", httpx.Response(200, text="f" * 40)
        )
        .on("GET", f"/content/repositories/acme-1001/{JAR}.sha1", httpx.Response(200, text=sha1))
        .on("HEAD", f"/content/repositories/acme-1001/{JAR}", httpx.Response(200))
        .on(
            "GET",
            f"{S}/repository/acme-1001",
            lambda _r: (
                httpx.Response(404)
                if promoted["done"]
                else httpx.Response(200, json=repo("acme-1001", RC1, "closed"))
            ),
        )
        .on("POST", f"{S}/bulk/promote", promote)
    )
    adapter = NexusStaging(context(settings(), http=script.client()))
    found = adapter.lookup(jar)
    # rc2 is newer but holds other bytes; rc3 is open (not voted on); rc1 holds the voted jar
    assert found is not None and "/acme-1001/" in found.url
    adapter.finish()
    assert promoted["done"]
    assert script.calls("PUT") == []
    assert adapter._released  # verified from the release repository from now on


def test_a_closed_repository_cannot_take_a_missing_file(tmp_path: Path) -> None:
    script = Script().on(
        "GET", f"{S}/profile_repositories/p1", listing(repo("acme-1001", RC1, "closed"))
    )
    adapter = NexusStaging(context(settings(), kind="staging", http=script.client()))
    jar = maven_files(tmp_path)[0]
    assert adapter.lookup(jar) is None
    with pytest.raises(ChannelError, match="acme-1001 is closed: it cannot take") as failed:
        adapter.publish_many([jar])
    assert not failed.value.retryable and script.calls("PUT") == []


def test_unauthorized_start_is_refused_with_nexus_words(tmp_path: Path) -> None:
    script = (
        Script()
        .on("GET", f"{S}/profile_repositories/p1", listing())
        .on("POST", f"{S}/profiles/p1/start", httpx.Response(401, text="Unauthorized"))
    )
    adapter = NexusStaging(context(settings(), kind="staging", http=script.client()))
    with pytest.raises(ChannelError, match=r"start a staging repository.*401") as failed:
        adapter.publish_many(maven_files(tmp_path)[:1])
    assert not failed.value.retryable


def test_discard_drops_the_candidate_repository(tmp_path: Path) -> None:
    dropped: list[Any] = []

    def drop(request: httpx.Request) -> httpx.Response:
        dropped.append(json.loads(request.content)["data"]["stagedRepositoryIds"])
        return httpx.Response(201)

    script = (
        Script()
        .on("GET", f"{S}/profile_repositories/p1", listing(repo("acme-1001", RC1, "closed")))
        .on("POST", f"{S}/bulk/drop", drop)
        .on("GET", f"{S}/repository/acme-1001", httpx.Response(404))
    )
    log: list[str] = []
    NexusStaging(context(settings(), kind="staging", http=script.client(), log=log)).discard([])
    assert dropped == [["acme-1001"]] and any("dropped acme-1001" in line for line in log)
    NexusStaging(context(settings(), http=script.client())).discard([])  # production: no drop
    assert len(dropped) == 1
