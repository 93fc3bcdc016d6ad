"""Move to vote from the main window: the source tag or commit, its URL and the release notes
go into the [VOTE] mail (against a real agent); the dialog's checks without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from desktop.errors import DesktopError
from desktop.models.releases import TreeNode
from desktop.session import Session
from desktop.viewmodels.main import MainViewModel
from desktop.viewmodels.vote_start import VoteStartDraft, vote_start_problem
from desktop.views.main_window import MainWindow
from desktop.views.vote_start_dialog import VoteStartDialog
from shared.lifecycle import Phase
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.integration.vote_support import make_candidate, source_release
from tests.support.agent import PROJECT, AgentProcess

REF = "v1.4.0-rc1"
SOURCE = "https://github.com/apache/acme/releases/tag/v1.4.0-rc1"
NOTES = "https://acme.apache.org/changes/1.4.0"


def test_the_fields_are_checked_as_the_agent_would(qapp: Any) -> None:
    assert vote_start_problem(VoteStartDraft()) == ""  # all optional
    request = VoteStartDraft(f"  {REF} ", SOURCE, "").request()
    assert (request.source_ref, request.source_url, request.release_notes_url) == (
        REF,
        SOURCE,
        None,
    )
    assert vote_start_problem(VoteStartDraft(source_ref="v1 rc1")).startswith(
        "Source tag or commit: a git tag, branch or commit id"
    )
    assert vote_start_problem(VoteStartDraft(source_url="github.com/apache/acme")).startswith(
        "Source URL: an http:// or https:// address"
    )
    assert vote_start_problem(VoteStartDraft(release_notes_url="ftp://x")).startswith(
        "Release notes: "
    )
    with pytest.raises(DesktopError):
        VoteStartDraft(source_url="javascript:alert(1)").request()

    dialog = VoteStartDialog(PROJECT, "1.4.0")
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled() and ok.text() == "Start the vote"
    dialog.url_edit.setText("not a url")
    assert not ok.isEnabled() and dialog.problem.text().startswith("Source URL: ")
    dialog.url_edit.setText(SOURCE)
    assert ok.isEnabled() and dialog.problem.isHidden()
    dialog.deleteLater()


def test_move_to_vote_sends_the_source_and_the_notes(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    version = "1.4.0"
    rm = agent.committer
    make_candidate(agent, rm.token, version, source_release(tmp_path, version, sign=rm.key.sign))

    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "alice")
    session = Session(keystore)
    qloop.run(session.login(agent.url, agent.pmc.name, fingerprint, passphrase=PASSPHRASE))
    vm = MainViewModel(session)
    window = MainWindow(vm)
    qtbot.addWidget(window)
    window.show()
    qloop.wait_until(lambda: PROJECT in vm.tree.project_keys(), what="the projects")
    window.select_node(TreeNode(PROJECT, version))
    qloop.wait_until(
        lambda: vm.release is not None and vm.release.phase is Phase.CANDIDATE,
        what="the candidate on screen",
    )
    qloop.wait_until(lambda: Phase.VOTE in window.panel.transition_buttons(), what="buttons")
    window.panel.transition_buttons()[Phase.VOTE].click()
    dialog = window.findChild(VoteStartDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.ref_edit.setText(REF)
    dialog.url_edit.setText(SOURCE)
    dialog.notes_edit.setText(NOTES)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qloop.wait_until(
        lambda: vm.release is not None and vm.release.phase is Phase.VOTE,
        what="the release in its vote",
        timeout=60,
    )

    def vote_mail() -> str:
        for mail in agent.outbox():
            if mail["Subject"].startswith("[VOTE]") and version in mail["Subject"]:
                return str(mail.get_content())
        return ""

    qloop.wait_until(lambda: bool(vote_mail()), what="the [VOTE] mail")
    text = vote_mail()
    assert f"The source was built from {REF}" in text, text
    assert SOURCE in text and NOTES in text
    qloop.run(session.aclose())
