"""The distribution screen without an agent: its models (checked by Qt's model tester), its
view-model's rules and flows (a session whose agent calls are answered here), and its view.

The whole flow against a real agent is tests/desktop/test_distribution_live.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from desktop.errors import DesktopError
from desktop.keystore import Keystore
from desktop.models.distribution import (
    ChannelSettingsModel,
    ChannelsModel,
    ManualStepsModel,
    PlanModel,
    ProgressRole,
    manual_steps,
)
from desktop.session import Session
from desktop.viewmodels.distribution import (
    DistributionViewModel,
    parse_settings,
    plan_kind,
    settings_json,
)
from desktop.views.distribution_view import DistributionView
from shared.distribute import plan_text, with_digest
from shared.errors import ApiError
from shared.lifecycle import Phase
from shared.openpgp.cleartext import verify_cleartext
from shared.protocol import (
    Event,
    EventKind,
    Membership,
    Project,
    Release,
    Role,
    Task,
    TaskState,
    TaskType,
    User,
)
from shared.protocol.distribute import (
    ApprovalOut,
    ChannelKind,
    ChannelOut,
    ChannelSettings,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
    PlannedChannel,
    PlannedFile,
    StepOut,
    StepState,
)
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE
from tests.desktop.test_table_model import _role_type_errors
from tests.support.keys import fresh_key

PROJECT, VERSION = "acme-lib", "1.0.0"
NOW = datetime.now(UTC)
TARBALL = "apache-acme-lib-1.0.0-src.tar.gz"
FILES = (TARBALL, TARBALL + ".asc", TARBALL + ".sha512")
SVN = "file:///srv/dist"


# --- protocol objects -----------------------------------------------------------------------


def make_plan(*, kind: DistributionKind = "production", extra: str = "") -> DistributionPlan:
    area = "release" if kind == "production" else "dev"
    channels = [
        PlannedChannel(
            name="dist",
            kind=ChannelKind.SVN,
            target=f"{SVN}/{area}/{PROJECT}/{VERSION}",
            files=[
                PlannedFile(
                    path=path,
                    sha512=f"{n:x}" * 128,
                    size=1000 * (n + 1),
                    target=f"{SVN}/{area}/{PROJECT}/{VERSION}/{path}",
                )
                for n, path in enumerate(FILES)
            ],
        )
    ]
    return with_digest(
        DistributionPlan(
            kind=kind,
            project=PROJECT,
            version=VERSION,
            revision=2,
            channels=channels,
            manual_steps=["Update the Homebrew formula", "Tweet it" + extra],
        )
    )


def step(path: str, state: StepState, **more: Any) -> StepOut:
    return StepOut(path=path, state=state, updated_at=NOW, **more)


def channel(
    name: str, state: StepState, files: list[StepOut], kind: ChannelKind = ChannelKind.SVN
) -> ChannelOut:
    return ChannelOut(
        name=name, kind=kind, state=state, target=f"{SVN}/release/{PROJECT}", files=files
    )


def manual(*done: bool) -> ChannelOut:
    texts = ["Update the Homebrew formula", "Tweet it"]
    files = [
        step(f"{n}. {texts[n - 1]}", StepState.DONE if d else StepState.MANUAL)
        for n, d in enumerate(done, start=1)
    ]
    state = StepState.DONE if all(done) else StepState.MANUAL
    return ChannelOut(name="manual", kind=ChannelKind.MANUAL, state=state, target="", files=files)


def approval(plan: DistributionPlan, fingerprint: str = "AB" * 20) -> ApprovalOut:
    return ApprovalOut(
        digest=plan.digest,
        approved_by="bob",
        fingerprint=fingerprint,
        approved_at=NOW,
        signed="-----BEGIN PGP SIGNED MESSAGE-----…",
    )


def status(phase: Phase, state: str = "none", **more: Any) -> DistributionStatus:
    return DistributionStatus(
        project=PROJECT,
        version=VERSION,
        phase=phase.value,
        state=state,  # type: ignore[arg-type]
        download_page=f"http://agent/projects/{PROJECT}/downloads/",
        **({"kind": "production"} if state != "none" else {}) | more,
    )


def release(phase: Phase, created_by: str = "bob") -> Release:
    return Release(
        project=PROJECT, version=VERSION, phase=phase, created_at=NOW, created_by=created_by,
        updated_at=NOW, latest_revision=2,
    )  # fmt: skip


def user(name: str, role: Role) -> User:
    return User(
        name=name,
        email=f"{name}@example.org",
        memberships=[Membership(committee="acme", role=role)],
    )


# --- a session whose agent calls are answered here ------------------------------------------


class FakeSession(Session):
    """Logged in as ``user`` without an agent: distribution calls are answered from its
    attributes and recorded in :attr:`calls`."""

    def __init__(self, keystore: Keystore, who: User, fingerprint: str) -> None:
        super().__init__(keystore)
        self._user = who
        self._fingerprint = fingerprint
        self.plans: dict[str, DistributionPlan] = {"production": make_plan()}
        self.calls: list[tuple[Any, ...]] = []
        self.approve_answer: Callable[[str], ApprovalOut] | None = None
        self.answer: DistributionStatus | None = None
        self.saved_settings: DistributionSettings | None = None
        self.tasks: list[Task] = []

    def watch_distribution(self, project: str | None, version: str | None = None) -> None:
        self._distribution = (project, version) if project and version else None
        self.calls.append(("watch", project, version))

    def load_distribution_settings(self, project: str) -> None:
        self.calls.append(("settings", project))

    def load_release(self, project: str, version: str) -> None:
        self.calls.append(("release", project, version))

    def refresh_distribution(self) -> None:
        self.calls.append(("reload",))

    def distribution_plan(
        self, project: str, version: str, *, kind: DistributionKind = "production"
    ) -> asyncio.Task[DistributionPlan]:  # type: ignore[override]
        self.calls.append(("plan", kind))
        return self._answer(self.plans[kind])

    def approve_distribution(
        self, project: str, version: str, signed: str
    ) -> asyncio.Task[ApprovalOut]:  # type: ignore[override]
        self.calls.append(("approve", signed))
        assert self.approve_answer is not None
        answer = self.approve_answer

        async def run() -> ApprovalOut:
            return answer(signed)

        return asyncio.ensure_future(run())

    def start_distribution(
        self, project: str, version: str, *, kind: DistributionKind = "production"
    ) -> asyncio.Task[DistributionStatus]:  # type: ignore[override]
        return self._action("start", kind)

    def retry_channel(
        self, project: str, version: str, channel: str
    ) -> asyncio.Task[DistributionStatus]:  # type: ignore[override]
        return self._action("retry", channel)

    def mark_manual_done(
        self, project: str, version: str, number: int
    ) -> asyncio.Task[DistributionStatus]:  # type: ignore[override]
        return self._action("done", number)

    def announce(
        self, project: str, version: str, *, force_early: bool = False, reason: str = ""
    ) -> asyncio.Task[DistributionStatus]:  # type: ignore[override]
        return self._action("announce", force_early, reason)

    def release_tasks(self, project: str, version: str) -> asyncio.Task[list[Task]]:  # type: ignore[override]
        self.calls.append(("tasks",))
        return self._answer(list(self.tasks))

    def set_distribution_settings(
        self, project: str, settings: DistributionSettings, *, based_on: DistributionSettings
    ) -> asyncio.Task[DistributionSettings]:  # type: ignore[override]
        self.calls.append(("save", settings))
        self.saved_settings = settings
        return self._answer(settings)

    def _action(self, *call: Any) -> asyncio.Task[DistributionStatus]:
        self.calls.append(call)
        answer = self.answer

        async def run() -> DistributionStatus:
            if isinstance(answer, Exception):
                raise answer
            assert answer is not None
            self.distribution_changed.emit(answer)  # as the session does after an action
            return answer

        return asyncio.ensure_future(run())

    @staticmethod
    def _answer(value: Any) -> asyncio.Task[Any]:
        async def run() -> Any:
            return value

        return asyncio.ensure_future(run())


@pytest.fixture
def bob(keystore: Keystore) -> tuple[FakeSession, str]:
    key = keystore.import_armored(fresh_key("bob").secret_armor, passphrase=PASSPHRASE)
    return FakeSession(keystore, user("bob", Role.COMMITTER), key.fingerprint), key.fingerprint


def make_vm(
    session: Session, phase: Phase, qloop: QtLoop, *, created_by: str = "bob"
) -> DistributionViewModel:
    vm = DistributionViewModel(
        session, projects=[Project(key=PROJECT, name="Acme Library", committee="acme")]
    )
    vm.show_release(PROJECT, VERSION, release(phase, created_by))
    qloop.settle(0.05)  # the plan loads
    return vm


# --- models -----------------------------------------------------------------------------------


def test_plan_model_lists_every_file_of_every_channel(qapp: Any, qtmodeltester: Any) -> None:
    model = PlanModel()
    model.set_plan(make_plan())
    assert model.rowCount() == 3
    assert _role_type_errors(model) == []
    qtmodeltester.check(model)
    assert model.data(model.index(0, PlanModel.CHANNEL)) == "dist (svn)"
    assert model.data(model.index(0, PlanModel.FILE)) == TARBALL
    assert model.data(model.index(1, PlanModel.SIZE)) == "2.0 KiB"
    sha = model.data(model.index(0, PlanModel.SHA512))
    assert sha.startswith("0" * 24) and sha.endswith("…")
    assert model.data(model.index(0, PlanModel.SHA512), Qt.ItemDataRole.ToolTipRole) == (
        "SHA-512 " + "0" * 128
    )
    assert model.data(model.index(2, PlanModel.TARGET)).endswith(
        f"/release/{PROJECT}/1.0.0/{FILES[2]}"
    )
    model.set_plan(None)
    assert model.rowCount() == 0


def _channels() -> list[ChannelOut]:
    return [
        channel(
            "dist",
            StepState.RUNNING,
            [
                step(FILES[0], StepState.RUNNING, attempts=1),
                step(FILES[1], StepState.DONE, url=f"{SVN}/release/x/{FILES[1]}", verified=True),
                step(FILES[2], StepState.PENDING),
            ],
        ),
        channel(
            "pypi",
            StepState.FAILED,
            [
                step(
                    "acme-1.0.0.tar.gz",
                    StepState.FAILED,
                    attempts=3,
                    error="upload to https://upload.pypi.org/legacy/: 403 Invalid or non-existent "
                    "authentication information.\nSee https://pypi.org/help/#invalid-auth",
                )
            ],
            ChannelKind.PYPI,
        ),
        manual(True, False),
    ]


def test_channels_model_is_a_tree_of_channels_and_files_with_live_progress(
    qapp: Any, qtmodeltester: Any
) -> None:
    model = ChannelsModel()
    model.set_channels(_channels())
    qtmodeltester.check(model)
    assert model.rowCount() == 2  # the manual steps are not channels here
    dist, pypi = model.index(0, 0), model.index(1, 0)
    assert model.rowCount(dist) == 3 and model.rowCount(pypi) == 1
    assert model.parent(model.index(2, 0, dist)) == dist
    assert model.data(model.index(0, ChannelsModel.STATE)) == "running"
    assert model.data(model.index(0, ChannelsModel.PROGRESS)) == "1 of 3 published, 1 verified"
    assert model.data(model.index(0, ChannelsModel.PROGRESS), ProgressRole) == (1, 3)
    running = model.index(0, ChannelsModel.PROGRESS, dist)
    assert model.data(running, ProgressRole) == (0, 0)  # no byte progress yet: a busy bar
    assert model.data(running) == "publishing…"
    assert model.data(model.index(1, ChannelsModel.STATE, dist)) == "done ✔"
    assert model.data(model.index(1, ChannelsModel.PROGRESS, dist), ProgressRole) is None
    assert model.data(model.index(2, ChannelsModel.WHERE, dist)) == "—"
    assert model.url_at(model.index(1, ChannelsModel.NAME, dist)) == f"{SVN}/release/x/{FILES[1]}"
    assert model.url_at(model.index(2, ChannelsModel.NAME, dist)) is None  # not published yet
    assert model.url_at(dist) == f"{SVN}/release/{PROJECT}"  # a channel row: its target
    assert model.has_errors()

    # the registry's words: the first line in the cell, all of it in the tooltip
    error = model.index(0, ChannelsModel.ERROR, pypi)
    assert model.data(error) == (
        "upload to https://upload.pypi.org/legacy/: 403 Invalid or non-existent authentication "
        "information."
    )
    assert "invalid-auth" in model.data(error, Qt.ItemDataRole.ToolTipRole)
    assert model.data(model.index(1, ChannelsModel.ERROR)).startswith("upload to")  # the channel's
    assert (
        model.data(model.index(1, ChannelsModel.STATE), Qt.ItemDataRole.ForegroundRole).name()
        == "#c62828"
    )
    assert model.data(model.index(0, ChannelsModel.NAME, pypi)) == "acme-1.0.0.tar.gz"
    assert model.data(model.index(1, ChannelsModel.NAME)) == "pypi"
    assert model.data(model.index(0, ChannelsModel.NAME)) == "dist (svn)"

    # live: progress of a big upload, then its step done; the tester checks every signal
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, _r: changed.append((a.row(), a.column())))
    model.set_progress("dist", FILES[0], 3 * 1024 * 1024, 12 * 1024 * 1024)
    assert model.data(running, ProgressRole) == (3 * 1024 * 1024, 12 * 1024 * 1024)
    assert model.data(running) == "3.0 MiB of 12.0 MiB"
    assert (0, ChannelsModel.PROGRESS) in changed
    assert model.update_step("dist", step(FILES[0], StepState.DONE, url="svn://x", attempts=1))
    assert model.data(model.index(0, ChannelsModel.STATE, dist)) == "done"
    assert model.data(model.index(0, ChannelsModel.PROGRESS, dist), ProgressRole) is None
    assert model.data(model.index(0, ChannelsModel.PROGRESS)) == "2 of 3 published, 1 verified"
    assert not model.update_step("npm", step("x", StepState.DONE))  # not shown: a reload brings it

    # the same channels and files again: changed in place (the view keeps its selection)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.set_channels(_channels())
    assert resets == []
    model.set_channels(_channels()[:1])  # another shape: a reset
    assert resets == [1] and model.rowCount() == 1
    model.clear_progress()
    model.set_channels([])
    assert model.rowCount() == 0 and model.data(QModelIndex()) is None


def test_manual_steps_are_a_checklist_that_asks_before_it_checks(
    qapp: Any, qtmodeltester: Any
) -> None:
    steps = manual_steps(_channels())
    assert [(s.number, s.text, s.done) for s in steps] == [
        (1, "Update the Homebrew formula", True),
        (2, "Tweet it", False),
    ]
    model = ManualStepsModel()
    model.set_steps(steps, editable=True)
    assert _role_type_errors(model) == []
    qtmodeltester.check(model)
    first, second = model.index(0, 0), model.index(1, 0)
    assert model.data(first, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.data(second, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert model.data(second) == "2. Tweet it"
    assert model.data(model.index(1, 1)) == "to do"
    assert model.data(model.index(0, 1)).startswith("done ")
    assert not model.flags(first) & Qt.ItemFlag.ItemIsUserCheckable  # done: cannot be undone
    assert model.flags(second) & Qt.ItemFlag.ItemIsUserCheckable
    asked: list[int] = []
    model.mark_requested.connect(asked.append)
    assert not model.setData(second, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert asked == [2]
    assert model.data(second, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked  # not yet
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.set_steps(steps, editable=True)  # the same steps again: in place (keeps a selection)
    assert resets == []
    model.set_steps(steps, editable=False)  # a committer who is not the RM
    assert not model.flags(second) & Qt.ItemFlag.ItemIsUserCheckable
    model.setData(second, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert asked == [2]


def test_channel_settings_model(qapp: Any, qtmodeltester: Any) -> None:
    model = ChannelSettingsModel()
    model.set_rows(
        [
            ChannelSettings(
                name="pypi", kind=ChannelKind.PYPI, url="https://upload.pypi.org/legacy/",
                staging_url="https://test.pypi.org/legacy/", files=["*.whl", "*.tar.gz"],
                package="apache-acme", credential="pypi-acme", staging_credential="testpypi-acme",
                options={"x": "y"},
            )
        ]
    )  # fmt: skip
    assert _role_type_errors(model) == []
    qtmodeltester.check(model)
    assert model.data(model.index(0, ChannelSettingsModel.FILES)) == "*.whl, *.tar.gz"
    assert model.data(model.index(0, ChannelSettingsModel.CREDENTIAL)) == (
        "pypi-acme (staging: testpypi-acme)"
    )
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == "options: x=y"


# --- the view-model -------------------------------------------------------------------------


def test_which_plan_a_phase_shows() -> None:
    assert plan_kind(Phase.COMPOSE) is None and plan_kind(Phase.CHECKS) is None
    assert plan_kind(Phase.CANDIDATE) == plan_kind(Phase.VOTE) == "staging"
    assert plan_kind(Phase.PASSED) == plan_kind(Phase.ANNOUNCED) == "production"
    assert plan_kind(Phase.FAILED) is None


def test_the_plan_is_signed_here_with_the_login_key_and_sent(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, fingerprint = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    plan = session.plans["production"]
    assert vm.plan == plan and vm.plan_model.rowCount() == 3
    session.distribution_changed.emit(status(Phase.PASSED))
    assert vm.guidance().text.startswith("The vote passed. Review the plan")
    assert vm.approve_problem() == ""
    assert vm.start_problem() == "sign and approve the plan first"
    assert vm.needs_passphrase()
    session.approve_answer = lambda _signed: approval(plan, fingerprint)

    approved = qloop.run(vm.approve(passphrase=PASSPHRASE))
    assert approved.digest == plan.digest
    [(_, signed)] = [c for c in session.calls if c[0] == "approve"]
    # a clear-signature by bob's key of exactly the plan's canonical text
    public = session.keystore.export_public(fingerprint)
    checked = verify_cleartext(signed, [public])
    assert checked.valid and checked.signer == fingerprint
    assert checked.text.rstrip("\n") == plan_text(plan).rstrip("\n")

    session.distribution_changed.emit(status(Phase.PASSED, "planned", approval=approval(plan)))
    assert vm.approve_problem() == "this plan is approved: start the distribution"
    assert vm.start_problem() == ""
    assert vm.guidance().text == "Approved by bob: start the distribution."
    assert vm.guidance().tone == "ok"


def test_a_wrong_passphrase_is_said_and_nothing_is_sent(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    session.distribution_changed.emit(status(Phase.PASSED))
    failures: list[str] = []
    vm.failed.connect(failures.append)
    with pytest.raises(DesktopError):
        qloop.run(vm.approve(passphrase="not it"))
    assert "passphrase" in failures[0]
    assert not [c for c in session.calls if c[0] == "approve"]
    assert not vm.busy


def test_a_plan_changed_meanwhile_is_refused_and_the_new_plan_is_offered(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    session.distribution_changed.emit(status(Phase.PASSED))
    signed_plan = vm.plan
    assert signed_plan is not None
    new_plan = make_plan(extra=" (and the blog)")  # the PMC changed the manual steps
    session.plans["production"] = new_plan

    def refuse(_signed: str) -> ApprovalOut:
        raise ApiError(
            409, "conflict",
            f"the signed plan ({signed_plan.digest}) is not the current plan ({new_plan.digest})",
        )  # fmt: skip

    session.approve_answer = refuse
    failures: list[str] = []
    vm.failed.connect(failures.append)
    with pytest.raises(ApiError):
        qloop.run(vm.approve(passphrase=PASSPHRASE))
    assert vm.plan == new_plan  # the new plan is on screen, to review and sign
    assert "is not the current plan" in failures[0]
    assert new_plan.digest[:19] in vm.plan_note and "Review it, then sign it" in vm.plan_note
    assert vm.approve_problem() == ""  # the new plan may be signed

    # an approval on record of the old plan: outdated, start refused
    session.distribution_changed.emit(
        status(Phase.PASSED, "planned", approval=approval(signed_plan))
    )
    assert vm.approval_outdated
    assert vm.start_problem() == "the plan changed since it was approved: sign it again"
    assert vm.guidance().tone == "warn" and "sign it again" in vm.guidance().text


def test_who_may_act(qloop: QtLoop, keystore: Keystore) -> None:
    key = keystore.import_armored(fresh_key("carol").secret_armor, passphrase=PASSPHRASE)
    carol = FakeSession(keystore, user("carol", Role.COMMITTER), key.fingerprint)
    vm = make_vm(carol, Phase.PASSED, qloop, created_by="bob")  # bob is the RM, not carol
    carol.distribution_changed.emit(status(Phase.PASSED))
    assert not vm.may_manage and not vm.may_edit_settings
    assert vm.approve_problem() == "needs the pmc role, or being the release manager (bob)"
    alice = FakeSession(keystore, user("alice", Role.PMC), key.fingerprint)
    vm = make_vm(alice, Phase.PASSED, qloop, created_by="bob")
    alice.distribution_changed.emit(status(Phase.PASSED))
    assert vm.may_manage and vm.may_edit_settings and vm.approve_problem() == ""


def test_step_and_progress_events_show_at_once(qloop: QtLoop, bob: tuple[FakeSession, str]) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.DISTRIBUTE, qloop)
    session.distribution_changed.emit(status(Phase.DISTRIBUTE, "running", channels=_channels()))
    session.tasks = [
        Task(id=41, type=TaskType.DISTRIBUTE, state=TaskState.RUNNING, project=PROJECT,
             version=VERSION, revision=2, args={"distribution": 1, "channel": "dist"},
             result=None, error=None, attempts=1, max_attempts=5, created_at=NOW,
             created_by="bob", started_at=NOW, finished_at=None),
    ]  # fmt: skip

    def event(
        kind: EventKind, data: dict[str, Any], task_id: int | None = None, **more: Any
    ) -> Event:
        return Event(id=1000 + len(data), at=NOW, kind=kind, project=more.get("project", PROJECT),
                     version=VERSION, task_id=task_id, data=data)  # fmt: skip

    # a progress event names its task and file: the task's channel is looked up once
    session.event_received.emit(
        event(
            EventKind.TASK_PROGRESS,
            {"done": 5_000_000, "total": 20_000_000, "path": FILES[0], "attempt": 1},
            41,
        )
    )
    qloop.wait_until(lambda: vm.channels.progress("dist", FILES[0]) == (5_000_000, 20_000_000),
                     what="the progress of the upload")  # fmt: skip
    dist = vm.channels.index(0, 0)
    assert (
        vm.channels.data(vm.channels.index(0, ChannelsModel.PROGRESS, dist))
        == "4.8 MiB of 19.1 MiB"
    )
    session.event_received.emit(
        event(
            EventKind.TASK_PROGRESS,
            {"done": 20_000_000, "total": 20_000_000, "path": FILES[0], "attempt": 1},
            41,
        )
    )
    assert vm.channels.progress("dist", FILES[0]) == (20_000_000, 20_000_000)
    assert [c for c in session.calls if c[0] == "tasks"] == [("tasks",)]  # looked up once
    # another release's events change nothing
    session.event_received.emit(
        event(EventKind.DISTRIBUTION_STEP, {"channel": "dist", "path": FILES[0], "state": "failed"},
              project="globex-app")
    )  # fmt: skip
    assert vm.channels.data(vm.channels.index(0, ChannelsModel.STATE, dist)) == "running"
    session.event_received.emit(
        event(EventKind.DISTRIBUTION_STEP, {"channel": "dist", "path": FILES[0], "state": "done",
              "url": f"{SVN}/release/acme-lib/1.0.0/{FILES[0]}", "verified": True})
    )  # fmt: skip
    assert vm.channels.data(vm.channels.index(0, ChannelsModel.STATE, dist)) == "done ✔"
    assert vm.channels.data(vm.channels.index(0, ChannelsModel.WHERE, dist)).endswith(FILES[0])


def test_a_failed_channel_is_retried(qloop: QtLoop, bob: tuple[FakeSession, str]) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.DISTRIBUTE, qloop)
    session.distribution_changed.emit(status(Phase.DISTRIBUTE, "failed", channels=_channels()))
    assert [c.name for c in vm.failed_channels()] == ["pypi"]
    guidance = vm.guidance()
    assert guidance.tone == "error" and "failed on pypi" in guidance.text
    assert vm.retry_problem("dist") == "dist has not failed"
    assert vm.retry_problem("pypi") == ""
    session.answer = status(Phase.DISTRIBUTE, "running", channels=_channels())
    qloop.run(vm.retry("pypi"))
    assert ("retry", "pypi") in session.calls


def test_announce_waits_for_verified_manual_steps_and_the_delay(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.DISTRIBUTE, qloop)
    dist = channel("dist", StepState.DONE, [step(f, StepState.DONE, verified=True) for f in FILES])
    session.distribution_changed.emit(
        status(Phase.DISTRIBUTE, "running", channels=[dist, manual(False, False)])
    )
    assert vm.announce_problem() == "every file must be published and verified first"
    assert vm.mark_problem() == ""
    after = NOW + timedelta(minutes=42)
    session.distribution_changed.emit(
        status(Phase.DISTRIBUTE, "verified", channels=[dist, manual(True, False)],
               announce_after=after)
    )  # fmt: skip
    assert vm.announce_problem(NOW) == "1 manual step to do first: Tweet it"
    assert vm.guidance(NOW).text.startswith("Published and verified. Do the manual steps")
    assert not vm.announce_waits_for_delay(NOW)
    session.answer = status(Phase.DISTRIBUTE, "verified", channels=[dist, manual(True, True)],
                            announce_after=after)  # fmt: skip
    qloop.run(vm.mark_done(2))
    assert ("done", 2) in session.calls
    assert all(s.done for s in vm.manual_steps())  # the agent's answer is shown
    problem = vm.announce_problem(NOW)
    assert problem.startswith("possible at ") and "(in 42m 00s)" in problem
    assert vm.announce_waits_for_delay(NOW)
    assert vm.guidance(NOW).text.endswith("mirrors catch up first.")
    assert vm.announce_problem(after) == ""
    with pytest.raises(DesktopError):  # not yet: the delay stands
        qloop.run(vm.announce())
    # early, with a reason recorded
    session.answer = status(Phase.ANNOUNCED, "verified", channels=[dist, manual(True, True)])
    qloop.run(vm.announce(early_reason="security fix, the mirrors are not needed"))
    assert ("announce", True, "security fix, the mirrors are not needed") in session.calls


def test_settings_are_checked_here_before_they_are_sent(qloop: QtLoop, keystore: Keystore) -> None:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    alice = FakeSession(keystore, user("alice", Role.PMC), key.fingerprint)
    vm = make_vm(alice, Phase.PASSED, qloop)
    settings = DistributionSettings(manual_steps=["Update the Homebrew formula"])
    alice.distribution_settings_changed.emit(PROJECT, settings)
    assert vm.settings == settings
    text = settings_json(settings)
    assert parse_settings(text) == settings
    assert vm.settings_problem(text) == ""
    assert vm.settings_problem("{").startswith("JSON: ")
    bad_kind = text.replace(
        '"channels": []', '"channels": [{"name": "x", "kind": "ftp", "url": "u"}]'
    )
    assert vm.settings_problem(bad_kind).startswith("channels.0.kind: Input should be")
    assert vm.settings_problem('{"line_depth": 0}').startswith("line_depth: ")
    new = text.replace('"Update the Homebrew formula"', '"Update the Homebrew formula", "Blog"')
    saved = qloop.run(vm.save_settings(new))
    assert saved.manual_steps == ["Update the Homebrew formula", "Blog"]
    # the agent's own refusal is the step's failure, word for word
    failures: list[str] = []
    vm.failed.connect(failures.append)

    def refuse(*_args: Any, **_kw: Any) -> asyncio.Task[DistributionSettings]:
        async def run() -> DistributionSettings:
            raise ApiError(400, "invalid", "channel name 'dist' is reserved or used twice",
                           hint="give each channel its own name")  # fmt: skip

        return asyncio.ensure_future(run())

    alice.set_distribution_settings = refuse  # type: ignore[method-assign]
    with pytest.raises(ApiError):
        qloop.run(vm.save_settings(new))
    assert "channel name 'dist' is reserved" in failures[0]


def test_a_step_under_way_is_never_cancelled_by_another(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.DISTRIBUTE, qloop)
    session.distribution_changed.emit(status(Phase.DISTRIBUTE, "failed", channels=_channels()))
    gate = asyncio.Event()

    def slow(*_args: Any) -> asyncio.Task[DistributionStatus]:
        async def run() -> DistributionStatus:
            await gate.wait()
            return status(Phase.DISTRIBUTE, "running", channels=_channels())

        return asyncio.ensure_future(run())

    session.retry_channel = slow  # type: ignore[method-assign]
    first = vm.retry("pypi")
    qloop.settle(0.05)
    assert vm.busy == "Retrying pypi…"
    failures: list[str] = []
    vm.failed.connect(failures.append)
    second = vm.mark_done(2)
    with pytest.raises(DesktopError):
        qloop.run(second)
    assert failures == ["wait until this is done: Retrying pypi…"]
    assert not first.done()
    gate.set()
    qloop.run(first)
    assert not vm.busy


# --- the view -------------------------------------------------------------------------------


def test_the_view_shows_what_may_be_done_and_why(
    qloop: QtLoop, qtbot: Any, bob: tuple[FakeSession, str]
) -> None:
    session, fingerprint = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    view = DistributionView(vm)
    qtbot.addWidget(view)
    session.distribution_changed.emit(status(Phase.PASSED))
    assert view.tabs.currentIndex() == 0  # the plan
    view.show()
    assert view.approve_button.isVisible() and view.start_button.isVisible()
    assert not view.stage_button.isVisible() and not view.announce_button.isVisible()
    assert view.passphrase_edit.isVisible()
    assert not view.approve_button.isEnabled()  # the passphrase first
    view.passphrase_edit.setText(PASSPHRASE)
    assert view.approve_button.isEnabled()
    assert not view.start_button.isEnabled()
    assert view.start_button.toolTip() == "sign and approve the plan first"
    assert "digest sha256:" in view.digest_label.text()
    assert "Not approved yet" in view.approval_label.text()
    plan = session.plans["production"]
    session.approve_answer = lambda _s: approval(plan, fingerprint)
    view.approve_button.click()
    qloop.wait_until(lambda: not vm.busy, what="the approval")
    assert "is approved" in view.status.text()
    assert view.passphrase_edit.text() == ""
    session.distribution_changed.emit(status(Phase.PASSED, "planned", approval=approval(plan)))
    assert "Approved by bob" in view.approval_label.text()
    assert "ABAB ABAB ABAB" in view.approval_label.text()  # the fingerprint in groups of four
    assert view.start_button.isEnabled() and not view.approve_button.isEnabled()

    # running, then a channel fails: its words in the error box, a retry button for it
    session.distribution_changed.emit(status(Phase.DISTRIBUTE, "failed", channels=_channels()))
    assert view.tabs.currentIndex() == 1
    assert view.tabs.tabText(1) == "Channels (1/4 published, 1 failed)"
    assert list(view._retry_buttons) == ["pypi"]
    assert view._stripes.isActive()  # dist's tarball runs without a byte count: moving stripes
    assert view.error_box.isVisible()
    assert "403 Invalid or non-existent" in view.error_text.text()
    assert "invalid-auth" in view.error_text.text()  # the whole text
    assert "pypi · acme-1.0.0.tar.gz" in view.error_box.title()
    assert view.guidance.text().startswith("Publishing failed on pypi")
    session.answer = status(Phase.DISTRIBUTE, "running", channels=_channels()[:1] + _channels()[2:])
    view._retry_buttons["pypi"].click()
    qloop.wait_until(lambda: ("retry", "pypi") in session.calls, what="the retry")
    qloop.wait_until(lambda: not view._retry_buttons, what="the retry button to go")

    # verified: the manual steps' tab, the announce button waits and says until when
    dist = channel("dist", StepState.DONE, [step(f, StepState.DONE, verified=True) for f in FILES])
    session.distribution_changed.emit(
        status(Phase.DISTRIBUTE, "verified", channels=[dist, manual(True, False)],
               announce_after=NOW + timedelta(hours=2))
    )  # fmt: skip
    assert view.tabs.currentIndex() == 2
    assert not view._stripes.isActive()  # nothing runs: no repaints
    assert view.tabs.tabText(2) == "Manual steps (1/2 done)"
    assert view.announce_button.isVisible() and not view.announce_button.isEnabled()
    assert "1 manual step to do first" in view.announce_when.text()
    assert not view.early_button.isVisible()  # only the delay can be overridden
    view.manual_table.selectRow(1)
    assert view.mark_button.isEnabled()
    session.answer = status(Phase.DISTRIBUTE, "verified", channels=[dist, manual(True, True)],
                            announce_after=NOW + timedelta(hours=2))  # fmt: skip
    view.mark_button.click()
    qloop.wait_until(lambda: ("done", 2) in session.calls, what="the step marked")
    qloop.wait_until(lambda: "possible at" in view.announce_when.text(), what="the delay")
    assert view.early_button.isVisible()
    assert view.tabs.tabText(2) == "Manual steps (2/2 done)"

    session.distribution_changed.emit(
        status(Phase.ANNOUNCED, "verified", channels=[dist, manual(True, True)])
    )
    assert not view.announce_button.isVisible()
    assert "downloads/" in view.download_link.text() and view.download_link.isVisible()
    assert view.guidance.text() == "Announced: the release is on its download page."


def test_settings_editor_is_read_only_for_a_committer(
    qloop: QtLoop, qtbot: Any, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    view = DistributionView(vm)
    qtbot.addWidget(view)
    session.distribution_settings_changed.emit(
        PROJECT, DistributionSettings(manual_steps=["Update the Homebrew formula"])
    )
    assert view.settings_edit.isReadOnly()
    assert "Read-only" in view.settings_problem.text()
    assert not view.settings_save.isEnabled()
    assert "Update the Homebrew formula" in view.settings_summary.text()


def test_settings_editor_shows_the_problem_where_it_is(
    qloop: QtLoop, qtbot: Any, keystore: Keystore
) -> None:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    alice = FakeSession(keystore, user("alice", Role.PMC), key.fingerprint)
    vm = make_vm(alice, Phase.PASSED, qloop)
    view = DistributionView(vm)
    qtbot.addWidget(view)
    alice.distribution_settings_changed.emit(PROJECT, DistributionSettings())
    assert not view.settings_edit.isReadOnly()
    assert not view.settings_save.isEnabled()  # nothing changed
    view.settings_edit.setPlainText('{"channels": [{"name": "Py", "kind": "pypi", "url": "u"}]}')
    assert "channels.0.name" in view.settings_problem.text()
    assert not view.settings_save.isEnabled()
    view.settings_edit.setPlainText('{"manual_steps": ["Blog"]}')
    assert view.settings_save.isEnabled()
    view.settings_save.click()
    qloop.wait_until(lambda: alice.saved_settings is not None, what="the settings saved")
    assert alice.saved_settings is not None and alice.saved_settings.manual_steps == ["Blog"]


def test_a_passed_release_does_not_show_its_staging_as_its_distribution(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    vm = make_vm(session, Phase.PASSED, qloop)
    staged = status(Phase.PASSED, "failed", kind="staging", channels=_channels())
    session.distribution_changed.emit(staged)
    assert vm.channels.rowCount() == 0 and vm.manual_steps() == [] and vm.failed_channels() == []
    assert vm.guidance().text.startswith("The vote passed. Review the plan")
    session.plans["staging"] = make_plan(kind="staging")
    vm2 = make_vm(session, Phase.STAGED, qloop)  # during the vote, the staging is what there is
    assert vm2.plan is not None and vm2.plan.kind == "staging"
    session.distribution_changed.emit(
        status(Phase.STAGED, "failed", kind="staging", channels=_channels())
    )
    assert vm2.channels.rowCount() == 2 and [c.name for c in vm2.failed_channels()] == ["pypi"]
    assert vm2.guidance().tone == "error"


def test_a_candidate_is_staged_without_a_signature(
    qloop: QtLoop, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    session.plans["staging"] = make_plan(kind="staging")
    vm = make_vm(session, Phase.CANDIDATE, qloop)
    session.distribution_changed.emit(status(Phase.CANDIDATE))
    assert vm.plan is not None and vm.plan.kind == "staging"
    assert vm.approve_problem() == "a plan is approved once the release's vote has passed"
    assert vm.stage_problem() == ""
    assert vm.guidance().text.startswith("Optional: stage the candidate")
    session.answer = status(Phase.CANDIDATE, "running", kind="staging", channels=_channels()[:1])
    qloop.run(vm.stage())
    assert ("start", "staging") in session.calls
    assert vm.stage_problem() == "this candidate is staged already"
    assert vm.guidance().text == "Staging the candidate to its test channels…"


def test_staged_urls_are_shown_whole_and_copied(
    qloop: QtLoop, qtbot: Any, bob: tuple[FakeSession, str]
) -> None:
    session, _fpr = bob
    session.plans["staging"] = make_plan(kind="staging")
    vm = make_vm(session, Phase.STAGED, qloop)
    view = DistributionView(vm)
    qtbot.addWidget(view)
    view.show()
    dev = f"{SVN}/dev/{PROJECT}/1.0.0-rc1"
    staged = channel(
        "dist",
        StepState.DONE,
        [step(f, StepState.DONE, url=f"{dev}/{f}", verified=True) for f in FILES],
    )
    session.distribution_changed.emit(
        status(Phase.STAGED, "verified", kind="staging", channels=[staged])
    )
    assert view.guidance.text() == "The candidate is staged on its test channels."
    assert not view.stage_button.isVisible()
    tree = view.channels_tree
    assert tree.isColumnHidden(ChannelsModel.ERROR)  # nothing failed: the URLs get its width
    assert tree.textElideMode() is Qt.TextElideMode.ElideMiddle  # the file name stays in view
    assert not view.copy_url_action.isEnabled()
    tree.setCurrentIndex(vm.channels.index(0, 0, vm.channels.index(0, 0)))
    assert view.copy_url_action.isEnabled()
    view.copy_url_action.trigger()
    assert QGuiApplication.clipboard().text() == f"{dev}/{FILES[0]}"
    assert view.status.text() == f"✔ Copied {dev}/{FILES[0]}"

    session.distribution_changed.emit(status(Phase.STAGED, "failed", kind="staging",
                                             channels=_channels()[1:2]))  # fmt: skip
    assert not tree.isColumnHidden(ChannelsModel.ERROR)
