"""Take docs/screenshots/dashboard.png, waiting-for-you.png and project-page.png: the project
dashboard's charts and release practice, the "waiting for you" list, the hosted project page.

    .venv/bin/python scripts/screenshot_triggers.py [--display :96] [--out-dir DIR]

Starts Xvfb and a real agent (fast votes, no announce delay), then stages through real
parts: 30 past releases imported from an ASF-like dist tree (tests/integration/dist_tree.py);
two releases taken through the agent to their announcement (first upload, vote, passed,
distributed, announced), one with a release whose checks fail; a tag pushed to a bare git
repository whose webhook makes the agent build 5.0.0's source archive and ask bob (the
release manager) to sign it. The desktop logs in as bob: the dashboard window is grabbed,
then the waiting list; the hosted project page is taken with headless Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from scripts.screenshot_desktop import (  # noqa: E402
    grab,
    run_desktop,
    screenshot_workdir,
    until,
)
from tests.integration.dist_tree import make_tree  # noqa: E402
from tests.integration.distribute_support import (  # noqa: E402
    add_voters,
    approve_plan,
    passed_release,
    wait_distribution,
)
from tests.integration.trigger_support import (  # noqa: E402
    SECRET,
    bare_repository,
    deliver,
    push_payload,
    set_triggers,
    wait_event,
)
from tests.integration.vote_support import client, upload  # noqa: E402
from tests.support.agent import PROJECT, AgentProcess  # noqa: E402
from tests.support.chromium import CHROMIUM, chromium  # noqa: E402

PASSPHRASE = "screenshot passphrase"
DASHBOARD_SIZE = (1360, 860)
WAITING_SIZE = (1100, 360)


def stage_agent(agent: AgentProcess, work: Path) -> None:
    tree = make_tree(work / "tree")
    agent.cli(
        "import-dist",
        PROJECT,
        "--from",
        f"{tree.url}/release/{PROJECT}",
        "--dev",
        f"{tree.url}/dev/{PROJECT}",
    )
    voters = add_voters(agent)
    with client(agent, agent.committer_token) as c:  # bob's key in KEYS, for the checks
        r = c.post(f"/projects/{PROJECT}/keys", json={"armored": agent.committer.key.public_armor})
        assert r.status_code in (200, 201), r.text
    for version in ("4.0.0", "4.1.0"):
        passed_release(agent, voters, work, version)
        approve_plan(agent, agent.committer, version)
        with client(agent, agent.committer_token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/{version}/distribution/start", json={})
            assert r.status_code == 200, r.text
        wait_distribution(agent, version, "verified")
        with client(agent, agent.committer_token) as c:
            r = c.post(f"/projects/{PROJECT}/releases/{version}/announce", json={})
            assert r.status_code == 200, r.text
    bad = work / "bad" / "apache-acme-lib-4.2.0-src.tar.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an archive at all")
    with client(agent, agent.committer_token) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "4.2.0"}).is_success
    upload(agent, agent.committer_token, "4.2.0", [bad])
    bare, commits = bare_repository(work / "git", ["v5.0.0-rc1"])
    set_triggers(agent, webhook_secret=SECRET, release_manager="bob")  # the push names the repo
    r = deliver(agent, push_payload("v5.0.0-rc1", commits["v5.0.0-rc1"], clone_url=str(bare)))
    assert r.status_code == 202, r.text
    wait_event(agent, "release.signatures_requested", version="5.0.0")


async def stage_desktop(agent: AgentProcess, out_dir: Path) -> None:
    keystore = Keystore.default()
    login = keystore.import_armored(agent.committer.key.secret_armor, passphrase=PASSPHRASE)
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    await desktop.login_vm.login(
        url=agent.url, user="bob", fingerprint=login.fingerprint, passphrase=PASSPHRASE
    )
    window = desktop.show_main()
    vm = desktop.main_vm
    await until(lambda: PROJECT in vm.tree.project_keys(), "the projects")

    dashboard = window.open_dashboard()
    dashboard.resize(*DASHBOARD_SIZE)
    view = dashboard.view
    await until(lambda: view.vm.dashboard is not None, "the dashboard", within=60)
    await asyncio.sleep(1.0)
    grab(dashboard, out_dir / "dashboard.png")
    dashboard.close()

    waiting = window.open_waiting()
    waiting.resize(*WAITING_SIZE)
    await until(lambda: bool(waiting.vm.items), "the waiting list", within=60)
    await asyncio.sleep(0.5)
    grab(waiting, out_dir / "waiting-for-you.png")
    waiting.close()
    window.close()
    await desktop.aclose()


def project_page(agent: AgentProcess, out: Path) -> None:
    if CHROMIUM is None:
        print("chromium is not installed: no project-page.png")
        return
    proc = chromium(
        "--window-size=1200,1500", f"--screenshot={out}", f"{agent.url}/projects/{PROJECT}/"
    )
    if not out.exists():
        raise SystemExit(f"chromium wrote no screenshot: {proc.stderr[-2000:]}")
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":96")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()
    started = time.monotonic()
    config = {
        "vote_min_hours_floor": 2.0 / 3600,
        "scheduler_interval_seconds": 0.5,
        "announce_delay_minutes": 0,
        "git_local_allowed": True,
        "publish_retry_seconds": 0.2,
    }
    with (
        screenshot_workdir("atr-shot-tr-", args.display) as work,
        AgentProcess(work / "agent", workers=2, config=config) as agent,
    ):
        stage_agent(agent, work)
        project_page(agent, args.out_dir / "project-page.png")
        run_desktop(stage_desktop(agent, args.out_dir))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
