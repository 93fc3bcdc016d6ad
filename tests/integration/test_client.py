"""AgentClient's REST side against a real agent: login by signature, uploads and downloads,
revision composition, tasks, tokens, and errors mapped to the shared error types."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from shared.challenge import Challenge
from shared.client import AgentClient
from shared.errors import ApiError, ConnectionFailed
from shared.lifecycle import Phase
from shared.protocol import EventKind, Role, TaskState, TaskType, TokenCreate
from tests.support.agent import COMMITTER, PMC, PROJECT, AgentProcess, free_port

pytestmark = pytest.mark.integration


async def test_login_with_a_signed_challenge(agent: AgentProcess):
    async with AgentClient(agent.url) as client:
        answer = await client.login_with_signature(PMC, agent.pmc.key.sign_challenge)
        assert client.token == answer.token
        me = await client.me()
    assert me.name == PMC
    assert answer.user.name == PMC


async def test_login_with_a_signer_that_signs_in_a_thread(agent: AgentProcess):
    """A GUI hands in an async signer (it signs off its event loop); the result is the same."""

    async def sign(challenge: Challenge) -> str:
        return await asyncio.to_thread(agent.pmc.key.sign_challenge, challenge)

    async with AgentClient(agent.url) as client:
        answer = await client.login_with_signature(PMC, sign)
        assert client.token == answer.token
        assert (await client.me()).name == PMC


async def test_login_with_another_users_key_is_refused(agent: AgentProcess):
    async with AgentClient(agent.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.login_with_signature(PMC, agent.committer.key.sign_challenge)
        assert client.token is None
    assert caught.value.status == 401


async def test_upload_revisions_and_download_round_trip(agent: AgentProcess, tmp_path: Path):
    big = tmp_path / "apache-acme-lib-2.0.0-src.tar.gz"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks
    small = tmp_path / "apache-acme-lib-2.0.0-src.tar.gz.sha512"
    small.write_text("digest\n")
    progress: list[tuple[str, int, int]] = []

    async with AgentClient(agent.url, token=agent.committer_token) as client:
        created = await client.create_release(PROJECT, "2.0.0")
        assert (created.phase, created.latest_revision) == (Phase.COMPOSE, None)

        first = await client.upload_files(
            PROJECT,
            "2.0.0",
            [big, small],
            progress=lambda n, s, t: progress.append((n, s, t)),
            message="rc1",
        )
        assert first.number == 1
        assert {f.path: f.sha256 for f in first.files} == {
            big.name: hashlib.sha256(big.read_bytes()).hexdigest(),
            small.name: hashlib.sha256(small.read_bytes()).hexdigest(),
        }
        assert (big.name, big.stat().st_size, big.stat().st_size) in progress
        assert len([p for p in progress if p[0] == big.name]) >= 4  # 0 + one per 1 MiB chunk

        # A second revision built on the latest: replace one file, add one under a folder.
        small.write_text("digest v2\n")
        second = await client.upload_files(
            PROJECT, "2.0.0", [small, small], names=[small.name, "extra/notes.txt"]
        )
        assert second.number == 2
        assert sorted(f.path for f in second.files) == sorted(
            [big.name, small.name, "extra/notes.txt"]
        )

        # Remove a file: base = latest by default.
        third = await client.create_revision(PROJECT, "2.0.0", files={}, remove=["extra/notes.txt"])
        assert sorted(f.path for f in third.files) == sorted([big.name, small.name])
        # An empty start.
        fourth = await client.create_revision(
            PROJECT, "2.0.0", files={}, base=None, message="reset"
        )
        assert fourth.files == []

        assert [r.number for r in await client.list_revisions(PROJECT, "2.0.0")] == [1, 2, 3, 4]
        assert (await client.get_revision(PROJECT, "2.0.0")).number == 4
        assert (await client.get_release(PROJECT, "2.0.0")).latest_revision == 4

        got = await client.download_file(PROJECT, "2.0.0", 1, big.name, tmp_path / "down.bin")
        assert got.read_bytes() == big.read_bytes()
        nested = await client.download_file(PROJECT, "2.0.0", 2, "extra/notes.txt", tmp_path)
        assert nested == tmp_path / "notes.txt"
        assert nested.read_text() == "digest v2\n"
        with pytest.raises(ApiError) as missing:
            await client.download_file(PROJECT, "2.0.0", 4, big.name, tmp_path / "nope")
        assert missing.value.status == 404
        assert not (tmp_path / "nope").exists()


async def test_tasks_and_events(agent: AgentProcess, tmp_path: Path):
    artifact = tmp_path / "a.txt"
    artifact.write_text("a")
    async with AgentClient(agent.url, token=agent.committer_token) as client:
        await client.create_release(PROJECT, "2.1.0")
        await client.upload_files(PROJECT, "2.1.0", [artifact])
        task = await client.start_task(PROJECT, "2.1.0", TaskType.INVENTORY)
        assert task.state == TaskState.QUEUED
        assert task.revision == 1
        assert task.id in [t.id for t in await client.list_tasks(project=PROJECT, version="2.1.0")]
        assert (await client.get_task(task.id)).id == task.id
        page = await client.events(project=PROJECT, version="2.1.0")
        kinds = [e.kind for e in page.events]
        assert kinds[0] == EventKind.RELEASE_CREATED
        assert kinds.index(EventKind.REVISION_CREATED) < kinds.index(EventKind.TASK_QUEUED)
        assert {e.project for e in page.events} == {PROJECT}
        assert page.next_since >= page.events[-1].id


async def test_error_statuses(agent: AgentProcess):
    async with AgentClient(agent.url, token=agent.committer_token) as client:
        await client.create_release(PROJECT, "2.2.0")
        with pytest.raises(ApiError) as conflict:
            await client.create_release(PROJECT, "2.2.0")
        assert conflict.value.status == 409
        with pytest.raises(ApiError) as invalid:
            await client.transition(PROJECT, "2.2.0", Phase.ANNOUNCED)
        assert invalid.value.status in (403, 409)
        with pytest.raises(ApiError) as not_found:
            await client.get_release(PROJECT, "0.0.0")
        assert (not_found.value.status, not_found.value.code) == (404, "not_found")

    async with AgentClient(agent.url, token="atr_wrong") as client:
        with pytest.raises(ApiError) as unauth:
            await client.me()
        assert unauth.value.status == 401

    async with AgentClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ConnectionFailed):
            await client.health()


async def test_tokens(agent: AgentProcess):
    async with AgentClient(agent.url, token=agent.committer_token) as client:
        created = await client.create_token(
            TokenCreate(project=PROJECT, role=Role.COMMITTER, label="client-test")
        )
        assert created.info.user == COMMITTER
        assert created.info.id in [t.id for t in await client.list_tokens()]
        async with AgentClient(agent.url, token=created.token) as scoped:
            assert (await scoped.me()).name == COMMITTER
            revoked = await client.revoke_token(created.info.id)
            assert revoked.revoked_at is not None
            with pytest.raises(ApiError) as caught:
                await scoped.me()
            assert caught.value.status == 401
