"""The connect/login flow, outside any widget: pick an agent, a user and a key, log in.

Keys are generated or imported off the GUI thread (RSA-4096 generation takes
seconds); every long step is a job whose task the dialog's Cancel cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.errors import DesktopError
from desktop.keystore import DEFAULT_BITS, Keystore, StoredKey
from desktop.session import Session
from desktop.settings import AgentProfile, Settings, check_agent_url
from desktop.viewmodels.steps import StepViewModel
from shared.challenge import is_insecure_url
from shared.errors import ValidationError
from shared.ids import check_user_name
from shared.protocol import User


class LoginViewModel(StepViewModel):
    """State and actions of the connect dialog."""

    keys_changed = Signal(list)
    """``list[StoredKey]``"""
    key_added = Signal(object)
    """the new :class:`StoredKey` (generated or imported), to preselect it"""
    succeeded = Signal(object)
    """the :class:`~shared.protocol.User` logged in"""

    def __init__(
        self,
        *,
        session: Session,
        keystore: Keystore,
        settings: Settings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._keystore = keystore
        self._settings = settings
        self.initial: AgentProfile | None = None
        """What the dialog preselects (e.g. from the command line); default: the last used."""

    # --- what the dialog shows ------------------------------------------------------------------

    @property
    def profiles(self) -> list[AgentProfile]:
        """Remembered agents, the last used first (the local default when none)."""
        return self._settings.profiles or [self._settings.last]

    @property
    def last(self) -> AgentProfile:
        """The profile to preselect."""
        return self.initial or self._settings.last

    @staticmethod
    def is_insecure(url: str) -> bool:
        """Whether ``url`` is plain http:// to another computer (the dialog warns first)."""
        try:
            return is_insecure_url(check_agent_url(url))
        except ValidationError:
            return False

    def keys(self) -> list[StoredKey]:
        return self._keystore.list_keys()

    def needs_passphrase(self, fingerprint: str | None) -> bool:
        """Whether the dialog must ask for the key's passphrase (none is remembered)."""
        if not fingerprint:
            return False
        try:
            return self._keystore.needs_passphrase(fingerprint)
        except DesktopError:
            return False

    def is_remembered(self, fingerprint: str | None) -> bool:
        if not fingerprint:
            return False
        return self._keystore.remembered_passphrase(fingerprint) is not None

    # --- actions --------------------------------------------------------------------------------

    def generate_key(
        self,
        *,
        name: str,
        email: str,
        passphrase: str,
        remember: bool,
        bits: int = DEFAULT_BITS,
    ) -> asyncio.Task[StoredKey]:
        """Generate an RSA key in a worker thread, store it, optionally remember the passphrase."""

        async def run() -> StoredKey:
            key = await asyncio.to_thread(
                self._keystore.generate, name=name, email=email, passphrase=passphrase, bits=bits
            )
            if remember:
                await asyncio.to_thread(
                    self._keystore.remember_passphrase, key.fingerprint, passphrase
                )
            return key

        return self._run_key_job(run(), f"Generating an RSA-{bits} key…")

    def import_key(self, path: Path, *, passphrase: str, remember: bool) -> asyncio.Task[StoredKey]:
        """Import an armored secret key file, protected with ``passphrase``."""

        async def run() -> StoredKey:
            key = await asyncio.to_thread(self._keystore.import_file, path, passphrase=passphrase)
            if remember:
                await asyncio.to_thread(
                    self._keystore.remember_passphrase, key.fingerprint, passphrase
                )
            return key

        return self._run_key_job(run(), f"Importing {path.name}…")

    def use_key_file(self, path: Path) -> StoredKey:
        """Use a key file for this run only (not stored), e.g. ``--key`` on the command line."""
        key = self._keystore.load_transient(path)
        self.keys_changed.emit(self.keys())
        self.key_added.emit(key)
        return key

    def login(
        self,
        *,
        url: str,
        user: str,
        fingerprint: str | None,
        passphrase: str = "",
        remember: bool = False,
    ) -> asyncio.Task[User]:
        """Check the inputs, remember the passphrase if asked, log in, remember the agent."""

        async def run() -> User:
            agent_url = check_agent_url(url)
            name = check_user_name(user.strip())
            if not fingerprint:
                raise ValidationError("choose a key to sign the login with, or make one")
            if passphrase:
                await asyncio.to_thread(self._keystore.check_passphrase, fingerprint, passphrase)
                if remember:  # it unlocks the key again: S2K and a test signature
                    await asyncio.to_thread(
                        self._keystore.remember_passphrase, fingerprint, passphrase
                    )
            logged_in = await self._session.login(
                agent_url, name, fingerprint, passphrase=passphrase or None
            )
            self._settings.remember(AgentProfile(url=agent_url, user=name, key=fingerprint))
            self.succeeded.emit(logged_in)
            return logged_in

        return self._start(run(), f"Connecting to {url.strip()}…")

    def cancel(self) -> None:
        """Cancel the running step (a key generation finishes in its thread, unused)."""
        self._jobs.cancel_all()

    def forget_passphrase(self, fingerprint: str) -> None:
        self._keystore.forget_passphrase(fingerprint)

    # --- internals ------------------------------------------------------------------------------

    def _run_key_job(
        self, coro: Coroutine[Any, Any, StoredKey], what: str
    ) -> asyncio.Task[StoredKey]:
        async def run() -> StoredKey:
            key = await coro
            self.keys_changed.emit(self.keys())
            self.key_added.emit(key)
            return key

        return self._start(run(), what)
