"""The distribution screen against a real agent: a passed release taken to ``announced`` from
the desktop, and a failed channel retried.

Real parts: an agent with two workers (fast votes, no announce delay), GnuPG checking the
plan's signature, Subversion (the agent's embedded ``file://`` dist repository; a real
``svnserve`` behind a slow TCP proxy for the failing channel), the file outbox.

1. alice (PMC) adds a manual step in the settings editor; bob, the release manager, signs
   the plan on his desktop and starts it; each file goes ``pending → done → done ✔``
   (verified) on his screen from the agent's events; he ticks the manual step off and
   announces; the [ANNOUNCE] mail goes out and the download page is linked.
2. The dist repository's password in the agent's vault is wrong: the channel fails with
   Subversion's own words on screen (the password nowhere); the operator fixes it, bob
   clicks *Retry dist*: the files are shown running (a busy bar: svn reports no byte
   progress) through the slow proxy, then published and verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop.models.distribution import ChannelsModel, ProgressRole
from desktop.models.releases import TreeNode
from desktop.session import Session
from desktop.viewmodels.distribution import DistributionViewModel, settings_json
from desktop.viewmodels.main import MainViewModel
from desktop.views.distribution_view import DistributionView
from desktop.views.main_window import MainWindow
from shared.lifecycle import Phase
from shared.protocol.distribute import DistributionSettings
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.integration.distribute_support import (
    add_voters,
    big_source_release,
    distribution_agent,
    passed_release,
    status,
    svn,
)
from tests.integration.vote_support import client, make_candidate, source_release
from tests.support.agent import PROJECT, AgentFactory, AgentProcess, AgentUser
from tests.support.svnserve import SvnServe
from tests.support.throttle import ThrottlingProxy

TARBALL = "apache-acme-lib-{}-src.tar.gz"
STEP = "Update the Homebrew formula (brew bump-formula-pr apache-acme)"


def _login(qloop: QtLoop, agent: AgentProcess, who: AgentUser, home: Path) -> Session:
    keystore, fingerprint = keystore_for(who, home)
    session = Session(keystore)
    qloop.run(session.login(agent.url, who.name, fingerprint, passphrase=PASSPHRASE))
    return session


class StateLog:
    """Every state the channels tree showed for one file, in order (no repeats)."""

    def __init__(self, model: ChannelsModel, path: str) -> None:
        self.model = model
        self.path = path
        self.states: list[str] = []
        self.busy_bar = False
        model.dataChanged.connect(self.look)
        model.modelReset.connect(self.look)

    def look(self, *_args: object) -> None:
        for row in range(self.model.rowCount()):
            parent = self.model.index(row, 0)
            for child in range(self.model.rowCount(parent)):
                index = self.model.index(child, ChannelsModel.STATE, parent)
                step = self.model.step_at(index)
                if step is None or step.path != self.path:
                    continue
                state = str(self.model.data(index))
                if not self.states or self.states[-1] != state:
                    self.states.append(state)
                progress = self.model.index(child, ChannelsModel.PROGRESS, parent)
                if self.model.data(progress, ProgressRole) == (0, 0):
                    self.busy_bar = True


def test_a_passed_release_is_approved_published_and_announced_from_the_desktop(
    agent_factory: AgentFactory, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    version = "1.0.0"
    revision = passed_release(agent, voters, tmp_path, version)
    tarball = TARBALL.format(version)

    # alice (PMC) adds a manual step from her desktop's settings editor
    alice = _login(qloop, agent, agent.pmc, tmp_path / "alice")
    alice_vm = DistributionViewModel(alice)
    alice_view = DistributionView(alice_vm)
    qtbot.addWidget(alice_view)
    alice_vm.show_release(PROJECT, version)
    alice.refresh_projects()  # her role in the project comes with its committee
    qloop.wait_until(lambda: alice_vm.may_edit_settings, what="alice's projects")
    qloop.wait_until(lambda: alice_vm.settings is not None, what="the settings")
    assert alice_vm.may_edit_settings and not alice_view.settings_edit.isReadOnly()
    edited = DistributionSettings(manual_steps=[STEP])
    alice_view.settings_edit.setPlainText(settings_json(edited))
    assert alice_view.settings_save.isEnabled(), alice_view.settings_problem.text()
    alice_view.settings_save.click()
    qloop.wait_until(lambda: not alice_vm.busy, what="the settings saved")
    assert "Saved the distribution settings" in alice_view.status.text(), alice_view.status.text()
    with client(agent, agent.pmc_token) as c:
        assert c.get(f"/projects/{PROJECT}/distribution-settings").json()["manual_steps"] == [STEP]

    # bob, the release manager: the main window, the release, Release → Distribution…
    bob = _login(qloop, agent, agent.committer, tmp_path / "bob")
    main_vm = MainViewModel(bob)
    window = MainWindow(main_vm)
    qtbot.addWidget(window)
    qloop.wait_until(lambda: PROJECT in main_vm.tree.project_keys(), what="bob's projects")
    window.select_node(TreeNode(PROJECT, version))
    qloop.wait_until(lambda: main_vm.release is not None, what="the release")
    assert main_vm.release is not None and main_vm.release.phase is Phase.PASSED
    assert window.distribution_action.isEnabled()
    dialog = window.open_distribution()
    assert dialog is not None
    view, vm = dialog.view, dialog.view.vm
    dialog.show()
    qloop.wait_until(lambda: vm.plan is not None and vm.status is not None, what="the plan")
    plan = vm.plan
    assert plan is not None and plan.kind == "production" and plan.manual_steps == [STEP]
    released = {f["path"] for f in revision["files"]}
    (archive,) = [p for p in released if p.endswith(".tar.gz")]
    added = {f"{PROJECT}-{version}.intoto.jsonl", f"{archive}.cdx.json"}  # agent.provenance
    planned = [f.path for c in plan.channels for f in c.files]
    assert sorted(planned) == sorted(released | added)
    assert vm.plan_model.rowCount() == len(planned)
    assert plan.digest in view.digest_label.text()
    assert view.tabs.currentIndex() == 0
    assert view.guidance.text().startswith("The vote passed. Review the plan")
    assert not view.start_button.isEnabled()

    # sign on this desktop: the agent checks it (GnuPG) against bob's registered key
    view.passphrase_edit.setText(PASSPHRASE)
    assert view.approve_button.isEnabled(), view.approve_button.toolTip()
    view.approve_button.click()
    qloop.wait_until(lambda: not vm.busy, what="the approval", timeout=60)
    assert "is approved" in view.status.text(), view.status.text()
    qloop.wait_until(lambda: vm.approval is not None, what="the approval on record")
    approval = vm.approval
    assert approval is not None and approval.approved_by == "bob"
    assert approval.digest == plan.digest
    assert approval.fingerprint == bob.key_fingerprint
    assert "Approved by bob" in view.approval_label.text()

    # start: the states follow the agent's events live
    states = StateLog(vm.channels, tarball)
    assert view.start_button.isEnabled(), view.start_button.toolTip()
    view.start_button.click()
    qloop.wait_until(lambda: vm.phase is Phase.DISTRIBUTE, what="the distribution started")
    qloop.wait_until(
        lambda: vm.status is not None and vm.status.state == "verified",
        what="every file published and verified",
        timeout=120,
    )
    qloop.wait_until(lambda: states.states[-1:] == ["done ✔"], what="the tarball verified")
    assert states.states[0] in ("pending", "running"), states.states
    assert "done" in states.states, states.states  # published, then downloaded back
    assert states.states.index("done") < states.states.index("done ✔")
    for file in vm.channels.channels()[0].files:
        assert file.verified and file.url is not None
        assert file.url.endswith(f"/release/{PROJECT}/{version}/{file.path}")
    assert view.tabs.tabText(1) == f"Channels ({len(planned)}/{len(planned)} published)"
    url = next(f.url for f in vm.channels.channels()[0].files if f.path == tarball)
    assert url is not None and tarball in svn("ls", url.rsplit("/", 1)[0])

    # the manual step: the announcement waits for it; ticked off in the checklist
    qloop.wait_until(lambda: view.tabs.currentIndex() == 2, what="the manual steps' tab")
    assert "1 manual step to do first" in view.announce_when.text()
    assert not view.announce_button.isEnabled()
    box = vm.manual.index(0, 0)
    assert vm.manual.data(box) == f"1. {STEP}"
    vm.manual.setData(box, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)  # ticked
    qloop.wait_until(lambda: all(s.done for s in vm.manual_steps()), what="the step done")
    assert status(agent, agent.committer.token, version)["channels"][-1]["files"][0]["state"] == (
        "done"
    )

    # announce: no delay on this agent
    qloop.wait_until(view.announce_button.isEnabled, what="the announce button")
    view.announce_button.click()
    qloop.wait_until(lambda: vm.phase is Phase.ANNOUNCED, what="the announcement", timeout=60)
    qloop.wait_until(view.download_link.isVisible, what="the download page link")
    assert f"{agent.url}/projects/{PROJECT}/downloads/" in view.download_link.text()
    assert view.guidance.text() == "Announced: the release is on its download page."
    qloop.wait_until(  # the outbox is delivered to its files after the transition
        lambda: (
            "[ANNOUNCE] Apache Acme Library 1.0.0 released"
            in [m["Subject"] for m in agent.outbox()]
        ),
        what="the announcement mail",
    )
    dialog.close()
    assert bob.watched_distribution is None  # closing the window stops the reloads
    for session in (alice, bob):
        qloop.run(session.aclose())


def test_a_failed_channel_shows_the_registry_words_and_is_retried(
    agent_factory: AgentFactory, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    user, password = "release-bot", "pw-Zq8#desktop-not-in-any-view"
    with (
        SvnServe(tmp_path / "svnserve", user=user, password=password) as server,
        ThrottlingProxy("127.0.0.1", server.port, rate=1_000_000) as proxy,
    ):
        agent = distribution_agent(
            agent_factory,
            dist_svn_url=f"svn://127.0.0.1:{proxy.port}/dist",
            dist_svn_credential="dist-svn",
        )
        _set_password(agent, user, "wrong-" + password)
        voters = add_voters(agent)
        version = "2.0.0"
        files = big_source_release(
            tmp_path / version, version, sign=agent.committer.key.sign, extra_bytes=3 << 20
        )
        passed_release(agent, voters, tmp_path, version, files=files)

        bob = _login(qloop, agent, agent.committer, tmp_path / "bob")
        vm = DistributionViewModel(bob)
        view = DistributionView(vm)
        qtbot.addWidget(view)
        view.show()
        vm.show_release(PROJECT, version)
        qloop.wait_until(lambda: vm.plan is not None and vm.may_manage, what="the plan")
        qloop.run(vm.approve(passphrase=PASSPHRASE), timeout=60)
        qloop.wait_until(lambda: not vm.start_problem(), what="the approval on record")
        qloop.run(vm.start())
        qloop.wait_until(
            lambda: bool(vm.failed_channels()), what="the channel to fail", timeout=120
        )

        assert view.tabs.currentIndex() == 1
        assert list(view._retry_buttons) == ["dist"]
        assert view.error_box.isVisible()
        error = view.error_text.text()
        assert "E170001" in error and "Password incorrect" in error, error  # svn's own words
        assert password not in error
        assert view.guidance.text().startswith("Publishing failed on dist")
        assert "failed" in view.tabs.tabText(1)

        _set_password(agent, user, password)  # the operator fixes the vault
        tarball = TARBALL.format(version)
        states = StateLog(vm.channels, tarball)
        view._retry_buttons["dist"].click()
        qloop.wait_until(
            lambda: vm.status is not None and vm.status.state == "verified",
            what="the retried channel verified",
            timeout=180,
        )
        qloop.wait_until(lambda: states.states[-1:] == ["done ✔"], what="the tarball verified")
        assert "running" in states.states, states.states  # 3 MB through a 1 MB/s proxy
        assert states.busy_bar  # svn reports no byte progress: a busy bar while it commits
        assert not view._retry_buttons and not view.error_box.isVisible()
        assert view.guidance.text() == "Everything is published and verified: announce the release."
        assert password not in view.status.text() + view.guidance.text()
        qloop.run(bob.aclose())


def _set_password(agent: AgentProcess, user: str, password: str) -> None:
    with client(agent, agent.admin_token) as admin:
        r = admin.put(
            "/credentials/dist-svn",
            json={"secret": password, "username": user, "channels": ["svn"]},
        )
        assert r.status_code == 200, r.text


def test_a_candidate_is_staged_from_the_desktop(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    version = "3.0.0"
    rm = agent.committer
    make_candidate(agent, rm.token, version, source_release(tmp_path, version, sign=rm.key.sign))
    bob = _login(qloop, agent, rm, tmp_path / "bob")
    vm = DistributionViewModel(bob)
    view = DistributionView(vm)
    qtbot.addWidget(view)
    view.show()
    vm.show_release(PROJECT, version)
    qloop.wait_until(lambda: vm.plan is not None and vm.may_manage, what="the staging plan")
    assert vm.plan is not None and vm.plan.kind == "staging"
    assert view.stage_button.isVisible() and not view.approve_button.isVisible()
    assert view.stage_button.isEnabled(), view.stage_button.toolTip()
    view.stage_button.click()
    qloop.wait_until(lambda: vm.phase is Phase.STAGED, what="the candidate staged", timeout=120)
    # the phase's event comes at once, the status reload after its debounce
    qloop.wait_until(
        lambda: vm.status is not None and vm.status.state == "verified", what="the staging status"
    )
    urls = [f.url or "" for c in vm.channels.channels() for f in c.files]
    assert urls and all(f"/dev/{PROJECT}/{version}-rc1/" in url for url in urls), urls
    assert view.guidance.text() == "The candidate is staged on its test channels."
    assert not view.stage_button.isVisible()
    qloop.run(bob.aclose())
