"""Take docs/screenshots/distribution-plan.png, distribution-staged.png,
distribution-running.png, distribution-verified.png and distribution-failed.png: the
desktop's distribution screen.

    .venv/bin/python scripts/screenshot_distribution.py [--display :95] [--out-dir DIR]

Starts Xvfb, a real ``svnserve`` (tests/support/svnserve.py) behind a TCP proxy that lets
the agent's commits through at 3 MB/s (tests/support/throttle.py), and a real agent whose
dist repository it is (the password in the agent's vault), with an announce delay of an
hour. Through the agent's API: the project's settings get two manual steps; releases
0.9.0, 1.0.0, 1.1.0 and 1.2.0 pass their votes (three PMC members, short votes); 2.0.0 is
a candidate. Then bob, the release manager, logs in to the desktop and opens Release →
Distribution…:

* 1.0.0, its plan awaiting his signature;
* 2.0.0 staged from the desktop (no signature: test channels only), its files' URLs under
  dist/dev/;
* 1.1.0 signed on the desktop and started with a wrong password in the vault: the dist
  channel failed with Subversion's words (the password is then fixed for the others);
* 1.2.0 (a 40 MB source release) signed and started: grabbed while svn commits it through
  the slow proxy (svn reports no byte progress: its files show a busy bar);
* 0.9.0 published and verified, one manual step checked off, one to do.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.models.releases import TreeNode  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from desktop.viewmodels.distribution import DistributionViewModel  # noqa: E402
from desktop.views.distribution_view import DistributionWindow  # noqa: E402
from desktop.views.main_window import MainWindow  # noqa: E402
from scripts.screenshot_desktop import grab, run_desktop, screenshot_workdir  # noqa: E402
from shared.lifecycle import Phase  # noqa: E402
from tests.integration.distribute_support import (  # noqa: E402
    VOTE_SECONDS,
    add_voters,
    big_source_release,
    passed_release,
)
from tests.integration.vote_support import (  # noqa: E402
    client,
    make_candidate,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess  # noqa: E402
from tests.support.svnserve import SvnServe  # noqa: E402
from tests.support.throttle import ThrottlingProxy  # noqa: E402

PASSPHRASE = "screenshot passphrase"
SIZE = (1240, 640)
USER, PASSWORD = "release-bot", "the-right-password"
MANUAL_STEPS = [
    "Update the Homebrew formula (brew bump-formula-pr apache-acme)",
    "Add the release to the project's website and its DOAP file",
]


def set_password(agent: AgentProcess, password: str) -> None:
    with client(agent, agent.admin_token) as admin:
        r = admin.put(
            "/credentials/dist-svn",
            json={"secret": password, "username": USER, "channels": ["svn"]},
        )
        assert r.status_code == 200, r.text


def stage_agent(agent: AgentProcess, work: Path) -> None:
    """The settings, four passed releases and a candidate, through the agent's API."""
    with client(agent, agent.pmc_token) as c:
        r = c.put(
            f"/projects/{PROJECT}/distribution-settings",
            json={"manual_steps": MANUAL_STEPS, "announce_delay_minutes": 60},
        )
        assert r.status_code == 200, r.text
    voters = add_voters(agent)
    rm = agent.committer
    for version in ("0.9.0", "1.0.0", "1.1.0"):
        passed_release(agent, voters, work, version)
    files = big_source_release(work / "1.2.0", "1.2.0", sign=rm.key.sign, extra_bytes=40 << 20)
    passed_release(agent, voters, work, "1.2.0", files=files)
    candidate = source_release(work / "2.0.0", "2.0.0", sign=rm.key.sign)
    make_candidate(agent, rm.token, "2.0.0", candidate)


async def until(
    predicate: Callable[[], bool],
    what: str,
    within: float = 120.0,
    seen: Callable[[], str] | None = None,
) -> None:
    """Wait for ``predicate``; on a timeout say what was waited for and, with ``seen``, what
    was there instead."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            instead = f"; seen: {seen()}" if seen is not None else ""
            raise SystemExit(f"timed out waiting for {what}{instead}")
        await asyncio.sleep(0.05)


def states(vm: DistributionViewModel) -> str:
    """The phase, the distribution's state and each file's, for a timeout's message."""
    status = vm.status
    files = ", ".join(
        f"{c.name}/{f.path}={f.state.value}" for c in vm.channels.channels() for f in c.files
    )
    state = f"{status.kind} {status.state}" if status is not None else "no status"
    return f"{vm.phase}, {state}: {files or 'no file shown'}"


async def open_release(window: MainWindow, version: str) -> DistributionWindow:
    vm = window.vm
    window.select_node(TreeNode(PROJECT, version))
    await until(
        lambda: vm.release is not None and vm.release.version == version, f"{version} on screen"
    )
    dialog = window.open_distribution()
    if dialog is None:
        raise SystemExit("the distribution window did not open")
    dialog.resize(*SIZE)
    dist = dialog.view.vm
    await until(
        lambda: dist.target == (PROJECT, version) and dist.plan is not None, f"{version}'s plan"
    )
    await until(lambda: dist.status is not None and dist.may_manage, f"{version}'s status")
    return dialog


async def approve_and_start(dialog: DistributionWindow) -> None:
    vm = dialog.view.vm
    await vm.approve(passphrase=PASSPHRASE)
    await until(lambda: not vm.start_problem(), "the approval on record")
    await vm.start()


async def stage_candidate(window: MainWindow, out_dir: Path) -> None:
    """2.0.0: a candidate staged to its test channels from the desktop, no signature."""
    dialog = await open_release(window, "2.0.0")
    view, vm = dialog.view, dialog.view.vm
    view.stage_button.click()
    await until(lambda: vm.phase is Phase.STAGED, "2.0.0 staged")
    await until(lambda: vm.status is not None and vm.status.state == "verified", "the staging")
    view.channels_tree.setCurrentIndex(vm.channels.index(0, 0, vm.channels.index(0, 0)))
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "distribution-staged.png")


async def stage_desktop(agent: AgentProcess, out_dir: Path) -> None:
    keystore = Keystore.default()
    login = keystore.import_armored(agent.committer.key.secret_armor, passphrase=PASSPHRASE)
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    await desktop.login_vm.login(
        url=agent.url, user=agent.committer.name, fingerprint=login.fingerprint,
        passphrase=PASSPHRASE,
    )  # fmt: skip
    window = desktop.show_main()
    try:
        await grab_all(agent, window, out_dir)
    finally:  # a failure too: Qt aborts on a worker thread still running at exit
        window.close()
        await desktop.aclose()


async def grab_all(agent: AgentProcess, window: MainWindow, out_dir: Path) -> None:
    await until(lambda: PROJECT in window.vm.tree.project_keys(), "the projects")

    # 1.0.0: the plan, awaiting the release manager's signature
    dialog = await open_release(window, "1.0.0")
    dialog.view.passphrase_edit.setText(PASSPHRASE)
    dialog.view.plan_table.selectRow(0)
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "distribution-plan.png")
    dialog.view.passphrase_edit.clear()

    await stage_candidate(window, out_dir)

    # 1.1.0: a wrong password in the vault, the channel fails with svn's own words
    set_password(agent, "a-wrong-password")
    dialog = await open_release(window, "1.1.0")
    await approve_and_start(dialog)
    vm = dialog.view.vm
    await until(lambda: bool(vm.failed_channels()), "the dist channel to fail")
    set_password(agent, PASSWORD)
    view = dialog.view
    view.channels_tree.setCurrentIndex(vm.channels.index(0, 0, vm.channels.index(0, 0)))
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "distribution-failed.png")

    # 1.2.0: 40 MB through the slow proxy, grabbed while svn commits
    dialog = await open_release(window, "1.2.0")
    await approve_and_start(dialog)
    vm = dialog.view.vm
    await until(
        lambda: any(f.state.value == "running" for c in vm.channels.channels() for f in c.files),
        "the files running",
        seen=lambda: states(vm),
    )
    await asyncio.sleep(1.5)
    grab(dialog, out_dir / "distribution-running.png")
    await until(lambda: vm.status is not None and vm.status.state == "verified", "1.2.0 done")

    # 0.9.0: published and verified; one manual step done, one to do
    dialog = await open_release(window, "0.9.0")
    await approve_and_start(dialog)
    vm = dialog.view.vm
    await until(lambda: vm.status is not None and vm.status.state == "verified", "0.9.0 done")
    await until(lambda: len(vm.manual_steps()) == 2, "the manual steps")
    await vm.mark_done(1)
    await until(lambda: vm.manual_steps()[0].done, "step 1 done")
    view = dialog.view
    view.tabs.setCurrentIndex(2)
    view.manual_table.selectRow(1)
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "distribution-verified.png")
    if vm.phase is not Phase.DISTRIBUTE:
        raise SystemExit(f"0.9.0 is {vm.phase}, not distribute")
    dialog.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":95")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()
    with (
        screenshot_workdir("atr-shot-dist-", args.display) as work,
        SvnServe(work / "svnserve", user=USER, password=PASSWORD) as server,
        ThrottlingProxy("127.0.0.1", server.port, rate=3_000_000) as proxy,
        AgentProcess(
            work / "agent",
            workers=2,
            config={
                "vote_min_hours_floor": VOTE_SECONDS / 3600,
                "scheduler_interval_seconds": 0.5,
                "publish_retry_seconds": 0.2,
                "dist_svn_url": f"svn://127.0.0.1:{proxy.port}/dist",
                "dist_svn_credential": "dist-svn",
            },
        ) as agent,
    ):
        set_password(agent, PASSWORD)
        stage_agent(agent, work)
        run_desktop(stage_desktop(agent, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
