"""``atr-desktop``: the QApplication on a qasync loop, the login dialog, then the main window.

::

    atr-desktop [--agent URL] [--user NAME] [--key FILE] [--auto-login]

``--key`` uses an ASCII-armored secret key file for this run without storing
it (for example the demo key ``atr-agent demo`` writes); with ``--auto-login``
and a user, the window opens logged in, skipping the dialog when the key needs
no passphrase (or its passphrase is remembered in the OS keyring).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.errors import SettingsError
from desktop.gcguard import GuiThreadCollector
from desktop.keystore import Keystore
from desktop.paths import data_dir, set_application_names
from desktop.session import Session, describe_error
from desktop.settings import AgentProfile, Settings
from desktop.viewmodels.login import LoginViewModel
from desktop.viewmodels.main import MainViewModel
from desktop.views.login_dialog import LoginDialog
from desktop.views.main_window import MainWindow
from desktop.views.style import APP_STYLE
from shared.errors import AtrError
from shared.protocol import User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for."""

    agent: str | None = None
    user: str | None = None
    key: Path | None = None
    auto_login: bool = False
    smoke_test: bool = False
    """Hidden: log in, wait for the main window and the project tree, report, exit (packaging)."""


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="atr-desktop", description="Desktop client of the trusted release manager."
    )
    parser.add_argument("--agent", metavar="URL", help="agent to connect to (preselected)")
    parser.add_argument("--user", metavar="NAME", help="user to log in as (preselected)")
    parser.add_argument(
        "--key",
        metavar="FILE",
        type=Path,
        help="ASCII-armored secret key to use for this run (not copied into the keystore)",
    )
    parser.add_argument(
        "--auto-login",
        action="store_true",
        help="log in at once with --agent/--user/--key (or the last used agent)",
    )
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return Options(
        agent=args.agent,
        user=args.user,
        key=args.key,
        auto_login=args.auto_login or args.smoke_test,
        smoke_test=args.smoke_test,
    )


def load_settings() -> tuple[Settings, str | None]:
    """The settings, or fresh ones and a warning when the file cannot be read (kept aside)."""
    path = data_dir() / "settings.json"
    try:
        return Settings.load(path), None
    except SettingsError as exc:
        aside = path.with_name(path.name + ".unreadable")
        try:
            path.replace(aside)
        except OSError:
            return Settings(path.with_name("settings.session.json")), exc.diagnostics()
        return Settings(path), f"{exc.diagnostics()}\nIt was moved to {aside}."


class _Window(MainWindow):
    closed = Signal()

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()


class DesktopApp(QObject):
    """Wires keystore, settings, session, view-models and windows; decides what shows when."""

    finished = Signal()
    """The user closed the main window (or cancelled the first login)."""

    def __init__(
        self,
        *,
        keystore: Keystore,
        settings: Settings,
        session: Session | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.keystore = keystore
        self.settings = settings
        self.session = session or Session(keystore, parent=self)
        self.login_vm = LoginViewModel(session=self.session, keystore=keystore, settings=settings)
        self.main_vm = MainViewModel(self.session)
        self.window: _Window | None = None
        self.login_dialog: LoginDialog | None = None

    def start(self, options: Options, *, warning: str | None = None) -> None:
        """Show the login dialog, or log in at once with ``--auto-login``."""
        last = self.settings.last
        profile = AgentProfile(
            url=options.agent or last.url,
            user=options.user or last.user,
            key=last.key if not options.user or options.user == last.user else None,
        )
        problems = [warning] if warning else []
        if options.key is not None:
            try:
                key = self.login_vm.use_key_file(options.key)
                profile = AgentProfile(url=profile.url, user=profile.user, key=key.fingerprint)
            except AtrError as exc:
                problems.append(exc.diagnostics())
        self.login_vm.initial = profile
        if (
            options.auto_login
            and not problems
            and profile.user
            and profile.key
            and not self.login_vm.needs_passphrase(profile.key)
            and not self.login_vm.is_insecure(profile.url)  # the dialog asks first
        ):
            task = self.login_vm.login(url=profile.url, user=profile.user, fingerprint=profile.key)
            task.add_done_callback(self._auto_login_done)
            return
        self.show_login("\n".join(problems))

    def _auto_login_done(self, task: asyncio.Task[User]) -> None:
        if task.cancelled() or task.exception() is not None:
            error = None if task.cancelled() else task.exception()
            self.show_login(describe_error(error) if error else "")
            return
        self.show_main()

    def show_login(self, problem: str = "") -> LoginDialog:
        dialog = LoginDialog(self.login_vm, parent=self.window)
        if problem:
            dialog.status.setText(problem)
            dialog.status.setStyleSheet("color: #c62828;")
        dialog.accepted.connect(self.show_main)
        dialog.rejected.connect(self._login_rejected)
        self.login_dialog = dialog
        dialog.show()
        return dialog

    def _login_rejected(self) -> None:
        if self.window is None:
            self.finished.emit()

    def show_main(self) -> MainWindow:
        if self.window is None:
            window = _Window(self.main_vm)
            window.connect_requested.connect(self.show_login)
            window.closed.connect(self.finished)
            self.window = window
        self.window.show()
        self.window.raise_()
        return self.window

    async def aclose(self) -> None:
        self.login_vm.cancel()
        await self.session.aclose()


SMOKE_TIMEOUT = 60.0
"""Seconds ``--smoke-test`` waits for the main window and the project tree."""
SMOKE_CLOSE_TIMEOUT = 10.0
"""Seconds ``--smoke-test`` waits for the session to close before it exits all the same."""


async def smoke_test(desktop: DesktopApp, *, started: float) -> int:
    """``--smoke-test``: wait until the main window shows the project tree (after the
    automatic login), print what it shows on stdout, close it and answer the exit code: 0
    shown, 2 the login failed, 3 timed out. Used to test the packaged binary headless."""
    shown = False
    while time.monotonic() - started < SMOKE_TIMEOUT:
        window = desktop.window
        if window is None and desktop.login_dialog is not None:
            print(f"smoke: login failed: {desktop.login_dialog.status.text()}", flush=True)
            return 2
        if window is not None and window.isVisible():
            if not shown:
                shown = True
                print(f"smoke: main window after {time.monotonic() - started:.2f} s", flush=True)
            projects = desktop.main_vm.tree.project_keys()
            if projects:
                print(f"smoke: project tree: {', '.join(projects)}", flush=True)
                window.close()
                return 0
        await asyncio.sleep(0.05)
    print("smoke: timed out waiting for the main window and its projects", flush=True)
    return 3


def _awaiting(coro: object) -> list[str]:
    """Where a suspended coroutine waits: file:line of each coroutine it awaits, in turn."""
    places: list[str] = []
    while coro is not None and len(places) < 12:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            places.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None)
    if coro is not None:
        places.append(repr(coro))
    return places


async def _run(app: QApplication, options: Options, *, started: float) -> int:
    settings, warning = load_settings()
    desktop = DesktopApp(keystore=Keystore.default(), settings=settings)
    done = asyncio.Event()
    desktop.finished.connect(done.set)
    desktop.start(options, warning=warning)
    if options.smoke_test:
        code = await smoke_test(desktop, started=started)
        closing = asyncio.ensure_future(desktop.aclose())
        await asyncio.wait({closing}, timeout=SMOKE_CLOSE_TIMEOUT)
        if not closing.done():
            # About one run in fifteen, Session.aclose waits longer than this for its jobs
            # to end after their cancellation (jobs.py, Jobs.close). Said on stdout, with
            # where it waits, so the packaging test can report it; the exit is not held up.
            where = "; ".join(_awaiting(closing.get_coro()))
            print(
                f"smoke: closing the session took over {SMOKE_CLOSE_TIMEOUT:.0f} s "
                f"(waiting at {where})",
                flush=True,
            )
            closing.cancel()
        return code
    await done.wait()
    await desktop.aclose()
    return 0


def configure_application(app: QApplication) -> None:
    """Names, style and quit behaviour of the desktop's QApplication."""
    set_application_names()
    app.setApplicationDisplayName("ATR release manager")
    app.setStyle("Fusion")  # the same look on every platform (and under Xvfb)
    app.setStyleSheet(APP_STYLE)
    app.setQuitOnLastWindowClosed(False)  # the application decides when it is done


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``atr-desktop``."""
    started = time.monotonic()
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every request
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if not isinstance(app, QApplication):  # pragma: no cover - a QCoreApplication exists
        raise SystemExit("atr-desktop needs a GUI application")
    configure_application(app)
    collector = GuiThreadCollector(app)
    collector.start()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with loop:
            return int(loop.run_until_complete(_run(app, options, started=started)))
    except AtrError as exc:  # pragma: no cover - shown before the window exists
        QMessageBox.critical(None, "atr-desktop", exc.diagnostics())
        return 1
    finally:
        collector.stop()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
