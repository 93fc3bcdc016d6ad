"""Remembered agents: defaults, order, validation, the file on disk."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from desktop.app import load_settings
from desktop.errors import SettingsError
from desktop.settings import DEFAULT_AGENT_URL, AgentProfile, Settings, check_agent_url
from shared.errors import ValidationError


def test_nothing_remembered_offers_the_local_agent(desktop_home: Path) -> None:
    settings = Settings.load()
    assert settings.profiles == []
    assert settings.last == AgentProfile(url="http://127.0.0.1:8765")
    assert DEFAULT_AGENT_URL == "http://127.0.0.1:8765"


def test_last_used_first_and_saved_atomically(desktop_home: Path) -> None:
    settings = Settings.load()
    settings.remember(AgentProfile("http://agent-a:8765/", "alice", "A" * 40))
    settings.remember(AgentProfile("https://agent-b.example.org", "bob", None))
    settings.remember(AgentProfile("http://agent-a:8765", "alice", "B" * 40))

    again = Settings.load(settings.path)
    assert [(p.url, p.user, p.key) for p in again.profiles] == [
        ("http://agent-a:8765", "alice", "B" * 40),
        ("https://agent-b.example.org", "bob", None),
    ]
    assert again.last.user == "alice"
    assert stat.S_IMODE(settings.path.stat().st_mode) == 0o600
    assert json.loads(settings.path.read_text())["version"] == 1

    again.forget(AgentProfile("http://agent-a:8765", "alice"))
    assert [p.user for p in Settings.load(settings.path).profiles] == ["bob"]


@pytest.mark.parametrize("url", ["", "ftp://x", "agent.example.org", "http://", "http://h:99999"])
def test_bad_agent_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        check_agent_url(url)


def test_unreadable_settings_file_is_reported_and_kept(desktop_home: Path) -> None:
    path = desktop_home / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    with pytest.raises(SettingsError, match="not JSON"):
        Settings.load(path)

    settings, warning = load_settings()
    assert warning is not None and "not JSON" in warning
    assert settings.profiles == []
    assert (desktop_home / "settings.json.unreadable").read_text() == "{ not json"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 99, "agents": []}))
    with pytest.raises(SettingsError, match="unknown format"):
        Settings.load(path)
