"""Remembered agents: URL, user and which key, the last used one first.

Stored as a small versioned JSON file under the data folder, written atomically.
With nothing remembered, the desktop offers the local agent's default address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from desktop.errors import SettingsError
from desktop.paths import data_dir
from shared.atomicfile import PRIVATE_DIR, write_atomic
from shared.errors import ValidationError

DEFAULT_AGENT_URL = "http://127.0.0.1:8765"
"""Where ``atr-agent`` listens when started without configuration."""

FORMAT_VERSION = 1
MAX_PROFILES = 20


def check_agent_url(value: str) -> str:
    """An agent's base URL (``http(s)://host[:port][/prefix]``), without a trailing slash."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"{value!r} is not an agent address",
            hint=f"write it like {DEFAULT_AGENT_URL} or https://agent.example.org",
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValidationError(f"{value!r} has an invalid port") from exc
    return url


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """One agent the user connects to, as whom, with which key."""

    url: str = DEFAULT_AGENT_URL
    user: str = ""
    key: str | None = None
    """Fingerprint of the keystore key used to log in."""

    def same_account(self, other: AgentProfile) -> bool:
        return self.url == other.url and self.user == other.user

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "user": self.user, "key": self.key}

    @classmethod
    def from_json(cls, data: Any) -> AgentProfile:
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise SettingsError(f"a remembered agent is malformed: {data!r}")
        key = data.get("key")
        return cls(
            url=data["url"],
            user=str(data.get("user") or ""),
            key=key if isinstance(key, str) and key else None,
        )


class Settings:
    """The remembered agents, most recently used first, saved on every change."""

    def __init__(self, path: Path, profiles: list[AgentProfile] | None = None) -> None:
        self._path = path
        self._profiles: list[AgentProfile] = list(profiles or [])

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the settings file (none yet: empty settings); raises :class:`SettingsError`."""
        path = path or data_dir() / "settings.json"
        try:
            raw = path.read_text("utf-8")
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise SettingsError(f"cannot read the settings file {path}: {exc}") from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"the settings file {path} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise SettingsError(
                f"the settings file {path} has an unknown format",
                hint="it was written by another version of atr-desktop; move it away to start anew",
            )
        agents = data.get("agents", [])
        if not isinstance(agents, list):
            raise SettingsError(f"the settings file {path} has a malformed 'agents' list")
        return cls(path, [AgentProfile.from_json(item) for item in agents])

    @property
    def path(self) -> Path:
        return self._path

    @property
    def profiles(self) -> list[AgentProfile]:
        """Remembered agents, the last used first."""
        return list(self._profiles)

    @property
    def last(self) -> AgentProfile:
        """The profile to preselect: the last used one, else the local default agent."""
        return self._profiles[0] if self._profiles else AgentProfile()

    def remember(self, profile: AgentProfile) -> AgentProfile:
        """Put ``profile`` first (replacing the same URL + user) and save."""
        profile = replace(profile, url=check_agent_url(profile.url))
        rest = [p for p in self._profiles if not p.same_account(profile)]
        self._profiles = [profile, *rest][:MAX_PROFILES]
        self.save()
        return profile

    def forget(self, profile: AgentProfile) -> None:
        """Drop the profile with the same URL and user, and save."""
        self._profiles = [p for p in self._profiles if not p.same_account(profile)]
        self.save()

    def save(self) -> None:
        """Write the file atomically."""
        data = {"version": FORMAT_VERSION, "agents": [p.to_json() for p in self._profiles]}
        try:
            write_atomic(
                self._path,
                json.dumps(data, indent=2) + "\n",
                make_dirs=True,
                dir_mode=PRIVATE_DIR,
            )
        except OSError as exc:
            raise SettingsError(f"cannot write the settings file {self._path}: {exc}") from exc
