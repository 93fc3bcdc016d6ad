"""The desktop's waiting list and dashboard against a real agent: a tag push asks bob to sign
(with a notification), bob signs on this computer from the list, the dashboard loads."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from desktop.session import Session
from desktop.viewmodels.dashboard import DashboardViewModel
from desktop.viewmodels.waiting import WaitingViewModel, action_of
from desktop.views.dashboard_view import DashboardView, _nice_max, human_hours
from desktop.views.waiting_view import WaitingWindow
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.integration.trigger_support import (
    SECRET,
    bare_repository,
    deliver,
    push_payload,
    set_triggers,
)
from tests.support.agent import AgentFactory, AgentProcess

PROJECT = "acme-lib"


def test_a_trigger_asks_bob_to_sign_and_he_does(
    agent_factory: AgentFactory, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    agent = agent_factory(config={"git_local_allowed": True})  # a bare repository on disk
    keystore, fingerprint = keystore_for(agent.committer, tmp_path / "home")
    session = Session(keystore)
    qloop.run(session.login(agent.url, "bob", fingerprint, passphrase=PASSPHRASE))
    vm = WaitingViewModel(session)
    window = WaitingWindow(vm)
    qtbot.addWidget(window)
    notes: list[tuple[str, str]] = []
    vm.notify.connect(lambda title, text: notes.append((title, text)))
    vm.refresh()
    qloop.settle(0.5)
    assert vm.items == [] and "Nothing waits for you" in window.header.text()

    bare, commits = bare_repository(tmp_path / "git", ["v3.0.0-rc1"])
    set_triggers(agent, git_url=str(bare), webhook_secret=SECRET, release_manager="bob")
    assert deliver(agent, push_payload("v3.0.0-rc1", commits["v3.0.0-rc1"])).status_code == 202

    qloop.wait_until(lambda: bool(vm.items), timeout=90, what="the step waiting for bob")
    (item,) = vm.items
    assert (item.version, item.step.kind) == ("3.0.0", "sign")
    assert action_of(item).label == "Sign…" and window.buttons[0].text() == "Sign…"
    qloop.wait_until(lambda: bool(notes), what="the notification")
    assert notes[0][0] == "acme-lib 3.0.0: your signature is needed"

    revision = qloop.run(vm.sign(item, passphrase=PASSPHRASE), timeout=120)
    names = sorted(f.path for f in revision.files)
    assert names == [
        "apache-acme-lib-3.0.0-src.tar.gz",
        "apache-acme-lib-3.0.0-src.tar.gz.asc",
        "apache-acme-lib-3.0.0-src.tar.gz.sha512",
    ]
    # the signature is bob's, over the bytes the agent built
    folder = tmp_path / "check"
    paths = qloop.run(session.download_files(PROJECT, "3.0.0", revision.number, names[:2], folder))
    home = tmp_path / "gpg"
    home.mkdir(mode=0o700)
    (home / "bob.asc").write_text(agent.committer.key.public_armor)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--import", str(home / "bob.asc")],
                   check=True, capture_output=True)  # fmt: skip
    verified = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--verify", str(paths[1]), str(paths[0])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    qloop.wait_until(
        lambda: [i.step.kind for i in vm.items] == ["start_checks"], what="the next step"
    )
    qloop.run(session.aclose())


def test_dashboard_loads_and_draws(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    qloop.run(session.login(agent.url, "alice", fingerprint, passphrase=PASSPHRASE))
    vm = DashboardViewModel(session)
    view = DashboardView(vm, [PROJECT, "globex-app"])
    qtbot.addWidget(view)
    qloop.wait_until(lambda: vm.dashboard is not None, what="the dashboard")
    assert "Acme Library" in view.summary.text()
    assert "How Acme Library releases" in view.practice.text()
    assert len(view.year_chart.series()) == 1 and len(view.time_chart.series()) == 1
    assert "Vote</b>: on dev@acme-lib.apache.org, at least 72 h" in view.practice.text()
    qloop.run(session.aclose())


def test_axis_and_duration_wording() -> None:
    assert [_nice_max(v) for v in (0, 3, 4, 5, 9, 30)] == [4, 4, 4, 8, 20, 40]
    assert [human_hours(h) for h in (0.001, 0.25, 5, 100)] == [
        "3.6 s",
        "15 min",
        "5.0 h",
        "4.2 days",
    ]
