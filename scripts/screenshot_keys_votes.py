"""Take docs/screenshots/keys-view.png, votes-view.png, votes-decided.png and
checks-after-vote.png: the desktop's keys and votes screens, and a voted release's checks.

    .venv/bin/python scripts/screenshot_keys_votes.py [--display :97] [--out-dir DIR]

Starts Xvfb and a real agent (tests/support/agent.py), then stages what the screens show
through the agent's real API: two more PMC members (dave, erin); bob, the release
manager, publishes his key and makes a candidate whose checks pass; alice (PMC) imports
old keys into KEYS (one expiring soon, one expired and weak, one revoked); release 0.9.0
is voted on and passes (alice, dave and erin +1 with API tokens; the operator closes it);
alice starts the vote on 1.0.0, where dave and erin cast a binding +1 and bob a
non-binding +1. Then the desktop logs in as alice, who also uses a key of her GnuPG
keyring (published from the keys screen): the keys window is grabbed; then the votes
window, after the candidate was downloaded and verified on this computer and alice cast
her +1 from it; then the passed vote of 0.9.0 in the same window; then 0.9.0's Checks tab.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.models.releases import TreeNode  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from desktop.views.main_window import MainWindow  # noqa: E402
from scripts.screenshot_desktop import (  # noqa: E402
    grab,
    run_desktop,
    screenshot_workdir,
    until,
)
from tests.integration.vote_support import (  # noqa: E402
    add_member,
    ballot,
    client,
    make_candidate,
    sign_ballot,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess  # noqa: E402
from tests.support.keymaker import KeyMaker  # noqa: E402

VERSION = "1.0.0"
EARLIER = "0.9.0"
PASSPHRASE = "screenshot passphrase"
KEYS_SIZE = (1240, 640)
VOTES_SIZE = (1360, 840)


def stage_agent(agent: AgentProcess, work: Path, maker: KeyMaker) -> None:
    """Everything the screens show, made through the agent's API."""
    members = [add_member(agent, name) for name in ("dave", "erin")]
    old = [
        maker.make("Alice Doe <alice@example.org>", "rsa4096", expire="20d"),
        maker.make("Bob Builder <bob@example.org>", "rsa1024", expire="1d", past=True),
        maker.make("Alice Doe (2019) <alice@example.org>", "rsa2048"),
    ]
    keys_file = "\n".join([old[0].public, old[1].public, maker.revoked_public(old[2])])
    with client(agent, agent.pmc_token) as c:  # before the candidate: key changes rerun checks
        r = c.post(f"/projects/{PROJECT}/keys/import", json={"keys_file": keys_file})
        assert r.status_code == 200, r.text
    rm = agent.committer
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/keys", json={"armored": rm.key.public_armor})
        assert r.status_code in (200, 201), r.text
    vote_and_pass(agent, work, [agent.pmc, *members])
    files = source_release(work / "dist", VERSION, sign=rm.key.sign)
    revision = make_candidate(agent, rm.token, VERSION, files)
    with client(agent, agent.pmc_token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote", json={})
        assert r.status_code == 201, r.text
    for member, comment in zip(members, ("Checked sigs, sums, LICENSE/NOTICE", ""), strict=True):
        with client(agent, member.token) as c:
            signed = sign_ballot(member.key, ballot(revision, "+1", comment=comment))
            r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote/ballots",
                       json={"signed": signed})  # fmt: skip
            assert r.status_code == 201, r.text
    with client(agent, rm.token) as c:
        signed = sign_ballot(rm.key, ballot(revision, "+1", comment="RM: built on Linux"))
        r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote/ballots", json={"signed": signed})
        assert r.status_code == 201, r.text


def vote_and_pass(agent: AgentProcess, work: Path, voters: list[Any]) -> None:
    """Release 0.9.0: a candidate, a vote with three binding +1, closed by the operator."""
    rm = agent.committer
    files = source_release(work / "dist-0.9", EARLIER, sign=rm.key.sign)
    revision = make_candidate(agent, rm.token, EARLIER, files)
    with client(agent, agent.pmc_token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{EARLIER}/vote", json={})
        assert r.status_code == 201, r.text
    for voter in voters:
        with client(agent, voter.token) as c:
            signed = sign_ballot(voter.key, ballot(revision, "+1", comment="checked"))
            r = c.post(f"/projects/{PROJECT}/releases/{EARLIER}/vote/ballots",
                       json={"signed": signed})  # fmt: skip
            assert r.status_code == 201, r.text
    agent.cli("vote", "close", PROJECT, EARLIER, "--reason", "all votes are in")


async def stage_desktop(agent: AgentProcess, maker: KeyMaker, out_dir: Path) -> None:
    keystore = Keystore.default()
    login = keystore.import_armored(agent.pmc.key.secret_armor, passphrase=PASSPHRASE)
    gnupg_key = maker.make("Alice Doe <alice@apache.org>", "rsa3072")
    keystore.add_gnupg_key(gnupg_key.fingerprint, home=maker.home)
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    await desktop.login_vm.login(
        url=agent.url, user="alice", fingerprint=login.fingerprint, passphrase=PASSPHRASE
    )
    window = desktop.show_main()
    vm = desktop.main_vm
    await until(lambda: PROJECT in vm.tree.project_keys(), "the projects")
    await keys_screen(window, login.fingerprint, out_dir)
    await votes_screen(window, out_dir)

    window.resize(1360, 860)
    window.select_node(TreeNode(PROJECT, EARLIER))
    panel = window.panel
    panel.tabs.setCurrentWidget(panel.checks_view)
    checks = vm.checks
    await until(lambda: checks.summary().banner != "", "0.9.0's checks", within=60)
    await asyncio.sleep(1.0)
    grab(window, out_dir / "checks-after-vote.png")
    window.close()
    await desktop.aclose()


async def keys_screen(window: MainWindow, fingerprint: str, out_dir: Path) -> None:
    keys_window = window.open_keys()
    keys_vm = keys_window.view.vm
    keys_window.resize(*KEYS_SIZE)
    await until(lambda: keys_vm.project == PROJECT, "the project in the keys screen")
    await until(lambda: keys_vm.project_keys.rowCount() >= 4, "the project's keys")
    await keys_vm.publish(fingerprint)
    await until(lambda: keys_vm.published(fingerprint) is not None, "alice's key in KEYS")
    keys_window.view.select_key(fingerprint)
    keys_window.view.theirs.selectRow(0)
    await asyncio.sleep(1.0)
    grab(keys_window, out_dir / "keys-view.png")
    keys_window.close()


async def votes_screen(window: MainWindow, out_dir: Path) -> None:
    votes_window = window.open_votes()
    votes_vm = votes_window.view.vm
    votes_window.resize(*VOTES_SIZE)
    await until(lambda: votes_vm.votes.rowCount() == 2, "the open and the passed vote")
    await until(lambda: votes_vm.vote is not None, "the vote")
    await until(lambda: len(votes_vm.vote.ballots) == 3 if votes_vm.vote else False, "ballots")
    result = await votes_vm.verify()
    if not result.ok:
        raise SystemExit(f"the candidate did not verify: {result.problems}")
    view = votes_window.view
    view.value_buttons["+1"].setChecked(True)
    view.comment_edit.setText("Verified signatures and checksums; built from source on Linux")
    view.passphrase_edit.setText(PASSPHRASE)
    view.cast_button.click()  # as alice would
    await until(lambda: votes_vm.my_ballot is not None, "alice's ballot, cast", within=60)
    view.files_table.selectRow(0)
    await asyncio.sleep(1.0)
    grab(votes_window, out_dir / "votes-view.png")

    view.votes_table.selectRow(1)  # the passed vote of 0.9.0
    await until(lambda: votes_vm.vote is not None and votes_vm.vote.version == EARLIER, "0.9.0")
    await asyncio.sleep(0.5)
    grab(votes_window, out_dir / "votes-decided.png")
    votes_window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":97")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="atr-kv-g-"))  # short: gpg-agent's socket
    os.chmod(home, 0o700)
    maker = KeyMaker(home)
    try:
        with (
            screenshot_workdir("atr-shot-kv-", args.display) as work,
            AgentProcess(work / "agent") as agent,
        ):
            stage_agent(agent, work, maker)
            run_desktop(stage_desktop(agent, maker, args.out_dir))
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
