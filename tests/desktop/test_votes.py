"""Votes from the desktop against a real agent: the RM publishes their key and uploads
desktop-signed artifacts, the checks pass, the vote starts; three PMC members each verify
the candidate on their own desktop, then cast a clear-signed +1; the tally follows live; a
committer votes by email; the operator closes the vote, which passes with the right [RESULT] mail.

Also the votes screen's models and its rules for +1, with protocol objects built here."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop.keystore import Keystore
from desktop.models.votes import BallotsModel, VotesModel, counts_text, standing, time_left
from desktop.session import Session
from desktop.verify import FileCheck, Verification
from desktop.viewmodels.keys import KeysViewModel
from desktop.viewmodels.upload import UploadViewModel
from desktop.viewmodels.votes import Verified, VotesViewModel
from desktop.views.votes_view import VotesView
from shared.lifecycle import Phase
from shared.protocol import Membership, Project, Role, User
from shared.protocol.votes import BallotOut, Tally, VoteOut
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.integration.test_votes import mbox
from tests.integration.vote_support import add_member, source_release
from tests.support.agent import AgentProcess
from tests.support.keys import fresh_key

PROJECT = "acme-lib"
VERSION = "1.0.0"
NOW = datetime.now(UTC)


def _vote(**changes: Any) -> VoteOut:
    data: dict[str, Any] = {
        "id": 7,
        "project": PROJECT,
        "version": VERSION,
        "revision": 2,
        "round": "project",
        "list_address": "dev@acme.apache.org",
        "security": False,
        "started_by": "alice",
        "started_at": NOW - timedelta(hours=1),
        "ends_at": NOW + timedelta(hours=71, minutes=30),
        "tally": Tally(
            outcome="open",
            ends_at=NOW + timedelta(hours=71, minutes=30),
            binding={"+1": 2, "0": 0, "-1": 0},
            non_binding={"+1": 1, "0": 1, "-1": 0},
        ),
        "ballots": [],
        "candidate_url": "http://agent/projects/acme-lib/candidates/1.0.0",
        "keys_url": "http://agent/projects/acme-lib/KEYS",
    }
    data.update(changes)
    return VoteOut(**data)


def _ballot(voter: str, value: str, *, binding: bool = True, minutes: int = 0) -> BallotOut:
    return BallotOut(
        voter=voter,
        value=value,  # type: ignore[arg-type]
        binding=binding,
        source="desktop",
        comment="",
        fingerprint="A" * 40,
        cast_at=NOW - timedelta(minutes=minutes),
        superseded=False,
    )


class _FakeSession(Session):
    """A session that is logged in as ``user`` without an agent (for the rules of +1)."""

    def __init__(self, keystore: Keystore, user: User, fingerprint: str) -> None:
        super().__init__(keystore)
        self._user = user
        self._fingerprint = fingerprint

    def watch_vote(self, project: str | None, version: str | None = None) -> None:
        return None


def test_vote_models_show_the_tally(qapp: Any) -> None:
    vote = _vote(ballots=[_ballot("alice", "+1", minutes=5), _ballot("bob", "-1", binding=False)])
    model = VotesModel()
    model.set_votes([vote])
    assert model.data(model.index(0, VotesModel.RELEASE)) == "acme-lib 1.0.0"
    assert model.data(model.index(0, VotesModel.BINDING)) == "+1: 2   0: 0   \u22121: 0"
    assert model.data(model.index(0, VotesModel.STANDING)) == "needs 1 more binding +1"
    assert time_left(vote.ends_at, now=NOW).startswith("2d 23h")
    assert time_left(NOW - timedelta(seconds=1), now=NOW) == "ended"
    three = _vote(tally=vote.tally.model_copy(update={"binding": {"+1": 3, "0": 0, "-1": 1}}))
    assert standing(three) == "would pass if it ended now"
    model.update_vote(three)
    assert model.rowCount() == 1
    assert model.data(model.index(0, VotesModel.BINDING)) == counts_text(three.tally.binding)

    ballots = BallotsModel()
    ballots.set_ballots(vote.ballots)
    assert ballots.data(ballots.index(0, BallotsModel.VOTER)) == "bob"  # newest first
    assert ballots.data(ballots.index(0, BallotsModel.BINDING)) == "non-binding"
    colour = ballots.data(ballots.index(0, BallotsModel.VALUE), Qt.ItemDataRole.ForegroundRole)
    assert colour.name() == "#c62828"


def test_plus_one_waits_for_a_verification_that_passed(
    qapp: Any, keystore: Keystore, tmp_path: Path
) -> None:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    alice = User(
        name="alice",
        email="alice@example.org",
        is_admin=False,
        memberships=[Membership(committee="acme", role=Role.PMC)],
    )
    session = _FakeSession(keystore, alice, key.fingerprint)
    project = Project(key=PROJECT, name="Acme", committee="acme")
    vm = VotesViewModel(session, projects=[project])
    view = VotesView(vm)
    session.votes_changed.emit([_vote(), _vote(id=8, project="globex-app", version="2.0")])
    assert [v.project for v in vm.votes.votes()] == [PROJECT]  # only my projects' votes
    assert vm.vote is not None and vm.vote.id == 7  # the view selected the first one
    assert vm.binding
    assert vm.cast_problem("+1") == "verify the candidate on this computer first"
    assert vm.cast_problem("-1") == "" and vm.cast_problem("0") == ""
    assert not view.value_buttons["+1"].isEnabled()

    good = Verification(
        files=[FileCheck(path="a.tar.gz", kind="artifact", size=1, sha512="ab" * 64)], keys=1
    )
    vm._verified = Verified(7, 1, [], good, tmp_path)  # another revision: stale
    assert vm.cast_problem("+1") == "verify the candidate on this computer first"
    vm._verified = Verified(7, 2, [], good, tmp_path)
    assert vm.cast_problem("+1") == ""
    bad = Verification(
        files=[
            FileCheck(path="a.tar.gz", kind="artifact", size=1, sha512="ab" * 64, problems=["x"])
        ],
        keys=1,
    )
    vm._verified = Verified(7, 2, [], bad, tmp_path)
    assert vm.cast_problem("+1") == "the candidate failed verification here"
    session.vote_changed.emit(_vote(tally=_vote().tally.model_copy(update={"outcome": "passed"})))
    assert vm.cast_problem("-1") == "the vote is passed"
    view.deleteLater()


def _alice(keystore: Keystore) -> tuple[_FakeSession, str]:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    alice = User(
        name="alice",
        email="alice@example.org",
        is_admin=False,
        memberships=[Membership(committee="acme", role=Role.PMC)],
    )
    return _FakeSession(keystore, alice, key.fingerprint), key.fingerprint


def _decided(vote_id: int, outcome: str, version: str, days_ago: int, **changes: Any) -> VoteOut:
    when = NOW - timedelta(days=days_ago)
    binding = {"+1": 3, "0": 0, "-1": 0} if outcome == "passed" else {"+1": 1, "0": 0, "-1": 2}
    return _vote(
        id=vote_id,
        version=version,
        started_at=when - timedelta(hours=72),
        ends_at=when,
        decided_at=when,
        reason=f"the vote has {binding['+1']} binding +1",
        tally=Tally(outcome=outcome, ends_at=when, binding=binding,  # type: ignore[arg-type]
                    non_binding={"+1": 0, "0": 0, "-1": 0}),
        **changes,
    )  # fmt: skip


def test_passed_and_failed_votes_are_listed_with_their_tally_and_ballots(
    qapp: Any, keystore: Keystore
) -> None:
    session, _fpr = _alice(keystore)
    vm = VotesViewModel(session, projects=[Project(key=PROJECT, name="Acme", committee="acme")])
    view = VotesView(vm)
    passed = _decided(
        5, "passed", "0.9.0", 3,
        ballots=[_ballot("alice", "+1", minutes=60 * 80), _ballot("dave", "+1", minutes=60 * 79),
                 _ballot("erin", "+1", minutes=60 * 78)],
    )  # fmt: skip
    failed = _decided(4, "failed", "0.8.0", 30, ballots=[_ballot("dave", "-1")])
    session.votes_changed.emit([failed, _vote(), passed])

    # open first, then the decided ones, newest first
    assert [v.id for v in vm.votes.votes()] == [7, 5, 4]
    assert vm.votes.data(vm.votes.index(1, VotesModel.STANDING)) == (
        "vote passed: 3 binding +1, 0 binding \u22121"
    )
    assert vm.votes.data(vm.votes.index(2, VotesModel.ENDS)).startswith("failed ")
    view.filter_combo.setCurrentIndex(2)
    assert view.filter_combo.currentText() == "Decided" and vm.vote_filter == "decided"
    assert [v.id for v in vm.votes.votes()] == [5, 4]
    view.filter_combo.setCurrentIndex(1)
    assert [v.id for v in vm.votes.votes()] == [7]
    view.filter_combo.setCurrentIndex(0)  # "All votes"
    assert vm.vote_filter == "all" and vm.votes.rowCount() == 3

    view.votes_table.selectRow(1)
    assert vm.vote is not None and vm.vote.id == 5
    assert [vm.ballots.data(vm.ballots.index(r, BallotsModel.VOTER)) for r in range(3)] == [
        "erin", "dave", "alice",
    ]  # fmt: skip
    assert "vote passed: 3 binding +1" in view.standing_label.text()
    assert "the vote has 3 binding +1" in view.standing_label.text()  # the agent's reason
    assert "passed " in view.subtitle.text()
    assert not view.cast_button.isEnabled() and view.cast_button.toolTip() == "the vote is passed"
    assert "Your ballot: " in view.my_ballot_label.text() and "(binding)" in (
        view.my_ballot_label.text()
    )
    assert view.value_buttons["+1"].isChecked()  # her own ballot in that vote
    view.votes_table.selectRow(2)
    assert vm.vote is not None and vm.vote.id == 4
    assert "You did not vote; the vote is failed." in view.my_ballot_label.text()
    assert view.value_buttons["0"].isChecked()
    view.deleteLater()


def test_after_casting_the_choice_stays_and_the_cast_ballot_shows(
    qapp: Any, keystore: Keystore, tmp_path: Path
) -> None:
    session, _fpr = _alice(keystore)
    vm = VotesViewModel(session, projects=[Project(key=PROJECT, name="Acme", committee="acme")])
    view = VotesView(vm)
    session.votes_changed.emit([_vote()])
    good = Verification(
        files=[FileCheck(path="a.tar.gz", kind="artifact", size=1, sha512="ab" * 64)], keys=1
    )
    vm._verified = Verified(7, 2, [], good, tmp_path)
    vm.vote_shown.emit(vm.vote)
    assert "You have not voted on this release." in view.my_ballot_label.text()
    view.value_buttons["+1"].setChecked(True)
    assert view.cast_button.text() == "Sign and cast +1"

    vm._set_busy("Signing and casting +1…")  # while the ballot is signed and cast
    assert view.value_buttons["+1"].isChecked()
    assert not view.cast_button.isEnabled()
    vm._set_busy("")
    session.vote_changed.emit(_vote(ballots=[_ballot("alice", "+1")]))  # the reload after

    assert view.value_buttons["+1"].isChecked()  # not "Sign and cast 0"
    assert view.cast_button.text() == "Sign and cast +1 again"
    shown = view.my_ballot_label.text()
    assert "Your ballot: " in shown and "+1" in shown and "(binding)" in shown
    assert "signed in the desktop" in shown
    view.value_buttons["-1"].setChecked(True)
    assert view.cast_button.text() == "Sign and change your vote to \u22121"
    view.deleteLater()


# --- against a real agent ---------------------------------------------------------------------


def _session(
    qloop: QtLoop, agent: AgentProcess, name: str, keystore: Keystore, fpr: str
) -> Session:
    session = Session(keystore)
    qloop.run(session.login(agent.url, name, fpr, passphrase=PASSPHRASE))
    return session


def _prepare_candidate(qloop: QtLoop, agent: AgentProcess, tmp_path: Path) -> Session:
    """Bob, the RM: publish his key, upload artifacts signed on his desktop, run the checks."""
    keystore, fpr = keystore_for(agent.committer, tmp_path / "bob")
    bob = _session(qloop, agent, agent.committer.name, keystore, fpr)
    keys = KeysViewModel(bob)
    keys.refresh()
    qloop.wait_until(lambda: keys.project == PROJECT, what="bob's projects")
    qloop.run(keys.publish(fpr))
    qloop.run(bob.create_release(PROJECT, VERSION))
    files = source_release(
        tmp_path / "dist",
        VERSION,
        sign=lambda data: keystore.sign(fpr, data, passphrase=PASSPHRASE),
    )
    upload = UploadViewModel(bob, project=PROJECT, version=VERSION)
    upload.add_files([files[0]])  # the archive: its .asc and .sha512 are made here again
    upload.sign_first = True
    revision = qloop.run(upload.start(passphrase=PASSPHRASE))
    assert sorted(f.path for f in revision.files) == sorted(p.name for p in files)
    qloop.run(bob.transition(PROJECT, VERSION, Phase.CHECKS, reason="RC1"))
    client = bob._need_client()

    async def candidate() -> bool:
        return (await client.get_release(PROJECT, VERSION)).phase is Phase.CANDIDATE

    for _ in range(600):
        if qloop.run(candidate()):
            break
        qloop.settle(0.3)
    else:
        raise AssertionError("the release did not become a candidate")
    return bob


def test_three_pmc_members_verify_and_vote_from_the_desktop(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    # two more PMC members (first: new members' keys count in the checks' inputs)
    members = [add_member(agent, name) for name in ("dave", "erin")]
    bob = _prepare_candidate(qloop, agent, tmp_path)

    keystore, fpr = keystore_for(agent.pmc, tmp_path / "alice")
    alice = _session(qloop, agent, agent.pmc.name, keystore, fpr)
    sessions = [alice]
    for member in members:
        store = Keystore(tmp_path / member.name / "keys")
        key = store.import_armored(member.key.secret_armor, passphrase=PASSPHRASE)
        sessions.append(_session(qloop, agent, member.name, store, key.fingerprint))
    vms = []
    for session in sessions:
        qloop.wait_until(lambda s=session: bool(s.user), what="login")
        vm = VotesViewModel(session)
        view = VotesView(vm)
        qtbot.addWidget(view)
        vm.refresh()
        vms.append((vm, view))
    # alice (PMC) moves the release to 'vote' from her desktop: that starts the vote, and
    # every desktop sees it appear
    release = qloop.run(alice.transition(PROJECT, VERSION, Phase.VOTE))
    assert release.phase is Phase.VOTE
    vote = qloop.run(alice._need_client().get_vote(PROJECT, VERSION))
    assert vote.tally.binding == {"+1": 0, "0": 0, "-1": 0}
    for vm, _view in vms:
        qloop.wait_until(lambda vm=vm: vm.votes.rowCount() == 1, what="the vote in the list")
        qloop.wait_until(lambda vm=vm: vm.vote is not None, what="the vote selected")

    first_vm = vms[0][0]
    for count, (vm, view) in enumerate(vms, start=1):
        assert vm.binding
        assert not view.value_buttons["+1"].isEnabled()
        result = qloop.run(vm.verify(), timeout=120)
        assert result.ok, result.problems
        assert [f.path for f in result.artifacts] == [f"apache-acme-lib-{VERSION}-src.tar.gz"]
        assert view.value_buttons["+1"].isEnabled()
        assert "verified" in view.verify_summary.text()
        view.value_buttons["+1"].setChecked(True)
        view.comment_edit.setText(f"checked sigs and sums ({count})")
        view.passphrase_edit.setText(PASSPHRASE)
        assert view.cast_button.isEnabled(), view.cast_button.toolTip()
        view.cast_button.click()
        qloop.wait_until(lambda vm=vm: not vm.busy, what="the ballot to be cast")
        assert "recorded" in view.status.text(), view.status.text()
        qloop.wait_until(
            lambda vm=vm, n=count: vm.vote is not None and vm.vote.tally.binding["+1"] == n,
            what=f"{count} binding +1 on the voter's own screen",
        )
        # live on the first voter's screen too, with no refresh asked
        qloop.wait_until(
            lambda n=count: first_vm.vote is not None and first_vm.vote.tally.binding["+1"] == n,
            what=f"{count} binding +1 on alice's screen",
        )
        assert "recorded" in view.status.text()
        # the choice stays (no "Sign and cast 0" trap) and the cast ballot is shown
        assert view.value_buttons["+1"].isChecked()
        assert view.cast_button.text() == "Sign and cast +1 again"
        mine = view.my_ballot_label.text()
        assert "Your ballot: " in mine and "(binding)" in mine and "signed in the desktop" in mine

    final = first_vm.vote
    assert final is not None
    assert final.tally.binding == {"+1": 3, "0": 0, "-1": 0}
    assert standing(final) == "would pass if it ended now"
    assert sorted(b.voter for b in final.ballots) == ["alice", "dave", "erin"]
    assert all(b.source == "desktop" and b.binding for b in final.ballots)

    # bob (committer) votes 0 without verifying: non-binding
    bob_vm = VotesViewModel(bob)
    bob_vm.refresh()
    qloop.wait_until(lambda: bob_vm.votes.rowCount() == 1, what="the vote on bob's screen")
    bob_vm.select(PROJECT, VERSION)
    qloop.wait_until(lambda: bob_vm.vote is not None, what="bob's vote")
    assert not bob_vm.binding
    ballot = qloop.run(bob_vm.cast("0", comment="not checked yet", passphrase=PASSPHRASE))
    assert not ballot.binding
    qloop.wait_until(
        lambda: first_vm.vote is not None and first_vm.vote.tally.non_binding["0"] == 1,
        what="bob's non-binding 0 on alice's screen",
    )

    # then bob votes +1 by email on the list: his last vote is the one that counts (the
    # mbox helper dates replies 5 s back, so let them be later than his desktop ballot)
    qloop.run(asyncio.sleep(6.0))
    outbox = _outbox(agent)
    [opening] = [m for subject, m in outbox.items() if subject.startswith("[VOTE]")]
    source = mbox((f"Bob <{agent.committer.email}>", opening["Message-ID"], "+1\n\nBuilt it.\n"))
    with agent.client(agent.committer_token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{VERSION}/vote/mail",
            json={"format": "mbox", "content": source},
        )
        assert r.status_code == 200, r.text
    assert r.json()["tally"]["non_binding"] == {"+1": 1, "0": 0, "-1": 0}
    qloop.wait_until(
        lambda: first_vm.vote is not None and first_vm.vote.tally.non_binding["+1"] == 1,
        what="bob's email +1 on alice's screen",
    )

    # the operator closes the vote: it passes, and the [RESULT] mail has the right tally
    closed = agent.cli("vote", "close", PROJECT, VERSION, "--reason", "test: all votes are in")
    assert "passed" in closed.stdout
    qloop.wait_until(
        lambda: first_vm.vote is not None and first_vm.vote.tally.outcome == "passed",
        what="the decision on alice's screen",
    )
    with agent.client(agent.committer_token) as c:
        assert c.get(f"/projects/{PROJECT}/releases/{VERSION}").json()["phase"] == "passed"
    # the passed vote stays in the votes list, with its tally and ballots
    qloop.wait_until(
        lambda: [v.tally.outcome for v in first_vm.votes.votes()] == ["passed"],
        what="the passed vote in alice's list",
    )
    assert standing(first_vm.votes.vote_at(0)).startswith("vote passed: 3 binding +1")
    assert first_vm.ballots.rowCount() >= 5

    # the outbox is delivered by the agent's mail loop, a moment after the decision
    def results() -> list[EmailMessage]:
        return [m for subject, m in _outbox(agent).items() if subject.startswith("[RESULT]")]

    qloop.wait_until(lambda: bool(results()), what="the [RESULT] mail in the outbox")
    (result,) = results()
    body = result.get_content()
    assert "has PASSED" in body
    assert "Binding votes:     +1: 3   0: 0   -1: 0" in body
    assert "Non-binding votes: +1: 1   0: 0   -1: 0" in body
    for session in [*sessions, bob]:
        qloop.run(session.aclose())


def _outbox(agent: AgentProcess) -> dict[str, EmailMessage]:
    """Subject → message of every mail the agent wrote to its file outbox."""
    return {str(msg["Subject"]): msg for msg in agent.outbox()}
