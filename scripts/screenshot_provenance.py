"""Take docs/screenshots/attestations-vote.png, attestations-checks.png and automation-keys.png:
the desktop's provenance screens, under Xvfb.

    .venv/bin/python scripts/screenshot_provenance.py [--display :96] [--out-dir DIR]

Starts Xvfb and a real agent with two workers (tests/support/agent.py) whose votes may last
seconds, then through the agent's API: three PMC members vote +1 on release 1.0.0 (its
checks pass), the vote passes and the agent writes its attestations; an admin makes a
code-signing certificate that expires in 12 days and rotates the attestation key. The
desktop logs in as the admin; the attestations window of 1.0.0 is grabbed on the vote and
on the checks, then the automation keys window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.models.releases import TreeNode  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from scripts.screenshot_desktop import (  # noqa: E402
    grab,
    run_desktop,
    screenshot_workdir,
    until,
)
from tests.integration.distribute_support import VOTE_SECONDS, add_voters, passed_release  # noqa: E402
from tests.integration.vote_support import client  # noqa: E402
from tests.support.agent import PROJECT, AgentProcess  # noqa: E402

VERSION = "1.0.0"
PASSPHRASE = "screenshot passphrase"
ATTESTATIONS_SIZE = (1240, 760)
KEYS_SIZE = (1400, 420)


def stage_agent(agent: AgentProcess, work: Path) -> None:
    voters = add_voters(agent)
    passed_release(agent, voters, work / "rc", VERSION)
    with client(agent, agent.admin_token) as c:
        r = c.post("/automation-keys", json={
            "use": "codesign", "certificate": "self-signed", "days": 12,
            "subject": "CN=Apache Acme Code Signing,O=The Apache Software Foundation,C=US",
        })  # fmt: skip
        assert r.status_code == 201, r.text
        keys = c.get("/automation-keys").json()
        active = next(k for k in keys if k["use"] == "attestation" and k["state"] == "active")
        r = c.post(f"/automation-keys/{active['fingerprint']}/rotate", json={"reason": "yearly"})
        assert r.status_code == 200, r.text


async def stage_desktop(agent: AgentProcess, out_dir: Path) -> None:
    keystore = Keystore.default()
    login = keystore.import_armored(agent.admin.key.secret_armor, passphrase=PASSPHRASE)
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    await desktop.login_vm.login(
        url=agent.url, user=agent.admin.name, fingerprint=login.fingerprint, passphrase=PASSPHRASE
    )
    window = desktop.show_main()
    vm = desktop.main_vm
    await until(lambda: PROJECT in vm.tree.project_keys(), "the projects")
    window.select_node(TreeNode(PROJECT, VERSION))
    await until(lambda: vm.release is not None and vm.release.version == VERSION, "the release")

    dialog = window.provenance.open_attestations()
    assert dialog is not None
    dialog.resize(*ATTESTATIONS_SIZE)
    attestations = dialog.vm
    await until(lambda: len(attestations.rows) == 2 and not attestations.busy, "attestations")
    dialog.table.selectRow(1)  # the vote
    dialog.tabs.setCurrentIndex(0)
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "attestations-vote.png")
    dialog.table.selectRow(0)  # the release: its checks
    dialog.tabs.setCurrentIndex(1)
    await asyncio.sleep(1.0)
    grab(dialog, out_dir / "attestations-checks.png")
    dialog.close()

    keys = window.provenance.open_keys()
    keys.resize(*KEYS_SIZE)
    await until(lambda: len(keys.vm.keys) >= 3 and not keys.vm.busy, "the agent's keys")
    keys.table.selectRow(0)
    await asyncio.sleep(1.0)
    grab(keys, out_dir / "automation-keys.png")
    keys.close()
    window.close()
    await desktop.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":96")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()
    config = {
        "vote_min_hours_floor": VOTE_SECONDS / 3600,
        "scheduler_interval_seconds": 0.5,
        "announce_delay_minutes": 0,
    }
    with (
        screenshot_workdir("atr-shot-prov-", args.display) as work,
        AgentProcess(work / "agent", workers=2, config=config) as agent,
    ):
        stage_agent(agent, work)
        run_desktop(stage_desktop(agent, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
