"""Take docs/screenshots/main-window.png: the desktop, logged in, with a live stream, under Xvfb.

    .venv/bin/python scripts/screenshot_desktop.py [--display :99] [--out PATH]

Starts Xvfb (1400x900x24), a real agent (tests/support/agent.py's AgentProcess,
seeded with committee 'acme', project 'acme-lib' and PMC member 'alice'), then
the desktop logged in as alice with her key. It creates releases, moves one to
the vote, uploads signed artifacts, runs the inventory and a log-emitting task,
waits for their log lines in the log pane and grabs the main window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import keyring
import qasync
from keyring.backends import null
from PySide6.QtWidgets import QApplication, QWidget

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp, Options, configure_application  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.models.releases import TreeNode  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from shared.lifecycle import Phase  # noqa: E402
from shared.protocol import EventKind, TaskState, TaskType  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402

SIZE = (1400, 900)


@contextlib.contextmanager
def xvfb(display: str) -> Iterator[None]:
    """A virtual X server on ``display`` for as long as the block runs."""
    number = display.lstrip(":")
    lock = Path(f"/tmp/.X{number}-lock")  # noqa: S108 - where X servers keep their locks
    if lock.exists():
        raise SystemExit(f"display {display} is in use ({lock} exists); pass --display")
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        socket = Path(f"/tmp/.X11-unix/X{number}")  # noqa: S108 - the X socket's fixed place
        while not socket.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("Xvfb did not start")
            time.sleep(0.05)
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        yield
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def screenshot_workdir(prefix: str, display: str) -> Iterator[Path]:
    """What every screenshot script runs in: a throwaway folder (the desktop's home in it),
    a virtual X server on ``display``, and a keyring that stores nothing (never the
    machine's own)."""
    keyring.set_keyring(null.Keyring())  # type: ignore[no-untyped-call]
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        os.environ["ATR_DESKTOP_HOME"] = str(work / "desktop-home")
        with xvfb(display):
            yield work


def grab(widget: QWidget, out: Path) -> None:
    """Save a PNG of ``widget`` as it is on screen."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def run_desktop(stage: Coroutine[Any, Any, object]) -> None:
    """Run ``stage`` to its end in a QApplication styled as the desktop's, on qasync's loop."""
    app = QApplication([sys.argv[0]])
    configure_application(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(stage)


def _tarball(path: Path, top: str, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return path


def make_artifacts(folder: Path, version: str, sign: Callable[[bytes], str]) -> list[Path]:
    """A source and a binary archive, each with a detached signature and a SHA-512 file."""
    folder.mkdir(parents=True, exist_ok=True)
    top = f"apache-acme-lib-{version}"
    licence = b"Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n"
    notice = (
        b"Apache Acme Library\nCopyright 2026 The Apache Software Foundation\n\n"
        b"This product includes software developed at\n"
        b"The Apache Software Foundation (http://www.apache.org/).\n"
    )
    sources = {
        "LICENSE": licence,
        "NOTICE": notice,
        "README.md": b"# Apache Acme Library\n",
        "pom.xml": b"<project><artifactId>acme-lib</artifactId></project>\n",
        **{f"src/main/java/org/apache/acme/Part{i}.java": os.urandom(4000) for i in range(12)},
    }
    archives = [
        _tarball(folder / f"{top}-src.tar.gz", top, sources),
        _tarball(
            folder / f"{top}-bin.tar.gz",
            top,
            {"LICENSE": licence, "NOTICE": notice, "lib/acme-lib.jar": os.urandom(900_000)},
        ),
    ]
    out: list[Path] = []
    for archive in archives:
        data = archive.read_bytes()
        signature = archive.with_name(archive.name + ".asc")
        signature.write_text(sign(data))
        checksum = archive.with_name(archive.name + ".sha512")
        checksum.write_text(f"{hashlib.sha512(data).hexdigest()}  {archive.name}\n")
        out += [archive, signature, checksum]
    return out


async def until(predicate: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def stage(work: Path, agent_url: str, key_file: Path, out: Path) -> None:
    """Drive the desktop like a release manager would, then grab the window."""
    keystore = Keystore.default()
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    desktop.start(Options(agent=agent_url, user="alice", key=key_file, auto_login=True))
    await until(lambda: desktop.window is not None, "the main window")
    window = desktop.window
    if window is None:
        raise SystemExit("the main window did not open")
    window.resize(*SIZE)
    window.move(0, 0)
    vm, session = desktop.main_vm, desktop.session
    await until(lambda: "acme-lib" in vm.tree.project_keys(), "the projects")
    fingerprint = keystore.list_keys()[0].fingerprint

    def sign(data: bytes) -> str:
        return keystore.sign(fingerprint, data)

    # an earlier release whose checks are running, and one that failed
    await session.create_release("acme-lib", "0.9.0")
    await session.upload("acme-lib", "0.9.0", make_artifacts(work / "0.9.0", "0.9.0", sign))
    await session.transition("acme-lib", "0.9.0", Phase.CHECKS, reason="rc1 looks good")
    await session.create_release("acme-lib", "0.8.2")
    await session.upload("acme-lib", "0.8.2", make_artifacts(work / "0.8.2", "0.8.2", sign))
    await session.transition("acme-lib", "0.8.2", Phase.CHECKS)
    await session.transition("acme-lib", "0.8.2", Phase.FAILED, reason="missing NOTICE")

    # the release on screen: created, uploaded through the session, inventoried live
    await vm.create_release("acme-lib", "1.0.0")
    await until(lambda: vm.release is not None, "the release panel")
    files = make_artifacts(work / "1.0.0", "1.0.0", sign)
    await session.upload("acme-lib", "1.0.0", files, message="RC1 artifacts")
    await until(lambda: vm.files.rowCount() == len(files), "the files table")
    emit = await session.start_task(
        "acme-lib", "1.0.0", TaskType.DIAGNOSTIC_EMIT, args={"count": 12, "rate": 20}
    )
    inventory = vm.start_inventory()
    if inventory is None:
        raise SystemExit("the release is not on screen")
    task = await inventory
    started = {task.id, emit.id}

    def succeeded() -> bool:
        done = [t for t in vm.tasks.tasks() if t.id in started]
        return len(done) == 2 and all(t.state is TaskState.SUCCEEDED for t in done)

    await until(succeeded, "the tasks to succeed")
    await until(
        lambda: sum(1 for e in vm.events.events() if e.kind is EventKind.TASK_LOG) >= 15,
        "log lines in the log pane",
    )
    window.select_node(TreeNode("acme-lib", "1.0.0"))
    window.panel.files_table.selectRow(0)
    await asyncio.sleep(1.5)  # let the last refreshes and repaints land
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")
    window.close()
    await desktop.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":99")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots/main-window.png")
    args = parser.parse_args()

    with (
        screenshot_workdir("atr-screenshot-", args.display) as work,
        AgentProcess(work / "agent") as agent,
    ):
        key_file = agent.pmc.key.write_secret(work / "alice-secret.asc")
        run_desktop(stage(work, agent.url, key_file, args.out))
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size // 1024} KiB)")
    return 0 if size < 500 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
