"""The flat tables' one base (:class:`RowTableModel`) and Qt's model contract on every table.

``qtmodeltester`` attaches Qt's own ``QAbstractItemModelTester`` to a model: it checks
every index, parent, row and column count and header, and re-checks after each signal
the model emits; a broken contract is reported as a ``qt.modeltest`` warning, which
fails the test. That tester converts role values leniently (a string passes as a font),
so the type of every role's value is checked here as well. (pytest-qt's Python tester,
``force_py=True``, checks those types but cannot be used: with PySide6 6.12 each
``SignalInstance.disconnect(slot)`` it makes takes a reference from ``True``, and after
a few dozen models Python aborts at exit in ``bool_dealloc``.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap

from desktop.keystore import StoredKey
from desktop.models.events import EventLogModel, LogRow
from desktop.models.files import FilesModel
from desktop.models.ignore_rules import IgnoreRulesModel, RuleRow
from desktop.models.keys import MyKeysModel, ProjectKeysModel
from desktop.models.sbom import Component, ComponentsModel
from desktop.models.table import Index, RowTableModel
from desktop.models.tasks import TasksModel
from desktop.models.votes import BallotsModel, VerificationModel, VotesModel
from desktop.verify import FileCheck, Verification
from shared.checks.policy import IgnoreRule
from shared.openpgp.keys import KeyInfo
from shared.protocol import Event, EventKind, Revision, RevisionFile, Task, TaskState, TaskType
from shared.protocol.keys import ProjectKeyOut
from shared.protocol.votes import BallotOut, Tally, VoteOut

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
Pair = tuple[str, int]
_Role = Qt.ItemDataRole
ROLE_TYPES: dict[Qt.ItemDataRole, tuple[type, ...]] = {
    _Role.DisplayRole: (str,),
    _Role.EditRole: (str, int, float),
    _Role.ToolTipRole: (str,),
    _Role.StatusTipRole: (str,),
    _Role.WhatsThisRole: (str,),
    _Role.FontRole: (QFont,),
    _Role.ForegroundRole: (QColor, QBrush),
    _Role.BackgroundRole: (QColor, QBrush),
    _Role.DecorationRole: (QIcon, QPixmap, QColor),
    _Role.TextAlignmentRole: (int, Qt.AlignmentFlag),
    _Role.CheckStateRole: (Qt.CheckState,),
    _Role.SizeHintRole: (QSize,),
}
"""What Qt's views accept for each standard role (``None``: the role is not given)."""


class Pairs(RowTableModel[Pair]):
    """The smallest real subclass: a name and a count per row."""

    COLUMNS = ("Name", "Count")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        return str(self._rows[index.row()][index.column()])

    def put(self, row: int, pair: Pair) -> None:
        self._replace_row(row, pair)

    def add(self, row: int, pair: Pair) -> None:
        self._insert_row(row, pair)

    def touch(self, row: int, column: int) -> None:
        self._changed(row, row, column=column, roles=[Qt.ItemDataRole.DisplayRole])


class Signals:
    """Every structural signal of a model, in order, with its arguments."""

    def __init__(self, model: RowTableModel[Any]) -> None:
        self.seen: list[tuple[Any, ...]] = []
        model.modelAboutToBeReset.connect(lambda: self.seen.append(("aboutToReset",)))
        model.modelReset.connect(lambda: self.seen.append(("reset",)))
        model.rowsInserted.connect(lambda _p, a, b: self.seen.append(("inserted", a, b)))
        model.dataChanged.connect(
            lambda tl, br, roles: self.seen.append(
                ("changed", tl.row(), tl.column(), br.row(), br.column(), list(roles))
            )
        )


def _role_type_errors(model: RowTableModel[Any]) -> list[str]:
    """Cells whose value for a standard role is of a type Qt's views cannot use."""
    errors = []
    for row in range(model.rowCount()):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            for role, types in ROLE_TYPES.items():
                value = model.data(index, role)
                if value is not None and not isinstance(value, types):
                    errors.append(f"({row}, {column}) {role.name}: {value!r}")
    return errors


def _cells(model: RowTableModel[Any]) -> list[list[Any]]:
    return [
        [model.index(r, c).data() for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def test_the_base_counts_rows_and_columns_and_names_the_columns(qapp: Any) -> None:
    model = Pairs()
    assert (model.rowCount(), model.columnCount()) == (0, 2)
    model.set_rows(iter([("a", 1), ("b", 2), ("c", 3)]))  # any iterable, taken once
    assert (model.rowCount(), model.columnCount()) == (3, 2)
    child = model.index(0, 0)
    assert (model.rowCount(child), model.columnCount(child)) == (0, 0)  # a flat table
    horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    assert [model.headerData(s, horizontal) for s in range(2)] == ["Name", "Count"]
    assert model.headerData(0, horizontal, Qt.ItemDataRole.ToolTipRole) is None
    assert model.headerData(0, vertical) is None
    assert model.headerData(2, horizontal) is None  # past the last column: nothing, no error
    assert _cells(model) == [["a", "1"], ["b", "2"], ["c", "3"]]
    assert model.row_at(1) == ("b", 2)
    copy = model.rows()
    copy.clear()  # a copy: the model keeps its rows
    assert model.rowCount() == 3


def test_the_base_emits_a_reset_an_insert_or_a_change(qapp: Any) -> None:
    model = Pairs()
    model.set_rows([("a", 1), ("c", 3)])
    signals = Signals(model)

    model.add(1, ("b", 2))
    model.add(3, ("d", 4))  # at the end
    with pytest.raises(IndexError, match=r"row 9 is outside 0\.\.4"):
        model.add(9, ("z", 0))
    model.put(0, ("A", 10))
    model.touch(2, 1)
    model.set_rows([])
    model.touch(0, 0)  # no rows: nothing to repaint, no signal with an invalid index

    assert signals.seen == [
        ("inserted", 1, 1),
        ("inserted", 3, 3),
        ("changed", 0, 0, 0, 1, []),
        ("changed", 2, 1, 2, 1, [Qt.ItemDataRole.DisplayRole]),
        ("aboutToReset",),
        ("reset",),
    ]
    assert model.rowCount() == 0


def test_the_base_resets_even_when_the_change_fails(qapp: Any) -> None:
    model = Pairs()
    signals = Signals(model)

    def broken() -> Any:
        yield ("a", 1)
        raise RuntimeError("the rows could not be read")

    with pytest.raises(RuntimeError):
        model.set_rows(broken())
    assert signals.seen == [("aboutToReset",), ("reset",)]  # views are never left mid-reset
    assert model.rowCount() == 0


def test_the_base_passes_qts_model_tester(qapp: Any, qtmodeltester: Any) -> None:
    model = Pairs()
    model.set_rows([("a", 1), ("b", 2)])
    qtmodeltester.check(model)
    model.add(0, ("z", 0))
    model.put(2, ("B", 20))
    model.set_rows([("only", 1)])
    assert _cells(model) == [["only", "1"]]


def test_the_role_type_check_finds_a_value_views_cannot_use(qapp: Any) -> None:
    class BoldByName(Pairs):
        def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
            return "bold" if role == Qt.ItemDataRole.FontRole else super().data(index, role)

    model = BoldByName()
    model.set_rows([("a", 1)])
    assert _role_type_errors(model) == ["(0, 0) FontRole: 'bold'", "(0, 1) FontRole: 'bold'"]


def _task(task_id: int, state: TaskState, **fields: Any) -> Task:
    values: dict[str, Any] = {
        "id": task_id, "type": TaskType.INVENTORY, "state": state, "project": "acme-lib",
        "version": "1.0.0", "revision": 1, "args": {}, "result": None, "error": None,
        "attempts": 1, "max_attempts": 3, "created_at": NOW, "created_by": "bob",
        "started_at": None, "finished_at": None,
    }  # fmt: skip
    values.update(fields)
    return Task(**values)


def _files() -> FilesModel:
    model = FilesModel()
    files = [
        RevisionFile(path=f"acme-{n}.tar.gz", size=n * 1000, sha256="a" * 64, sha512="b" * 128)
        for n in (2, 1, 3)
    ]
    model.set_revision(
        Revision(
            project="acme-lib", version="1.0.0", number=1, created_at=NOW, created_by="bob",
            message="", files=files,
        )
    )  # fmt: skip
    return model


def _rules() -> IgnoreRulesModel:
    model = IgnoreRulesModel()
    model.set_rows(
        [
            RuleRow(IgnoreRule(check="rat", path="docs/*", reason="generated\nby the build")),
            RuleRow(IgnoreRule(check="license", reason="new", status="warning"), unsaved=True),
            RuleRow(IgnoreRule(check="sbom", reason="known"), matches=3),
        ]
    )
    return model


def _stored(fingerprint: str, *, expires: datetime | None = None) -> StoredKey:
    info = KeyInfo(
        fingerprint=fingerprint, algorithm="RSA", bits=4096,
        user_ids=("Alice Doe <alice@example.org>",), created_at=NOW - timedelta(days=9),
        expires_at=expires,
    )  # fmt: skip
    return StoredKey(info=info, protected=True, path=None)


def _my_keys() -> MyKeysModel:
    model = MyKeysModel()
    model.set_keys(
        [_stored("A" * 40), _stored("B" * 40, expires=NOW - timedelta(days=1))], login="A" * 40
    )
    return model


def _project_keys() -> ProjectKeysModel:
    model = ProjectKeysModel()
    keys = [
        ProjectKeyOut(
            project="acme-lib",
            fingerprint=c * 40,
            algorithm="ed25519",
            bits=None,
            user_ids=["Bob <bob@example.org>"],
            created_at=NOW,
            expires_at=None,
            revoked_at=NOW if state == "revoked" else None,
            revocation_reason=None,
            state=state,
            flags=["weak"] if state == "revoked" else [],
            owner="bob",
            added_by="bob",
            added_at=NOW,
        )
        for c, state in (("C", "valid"), ("D", "revoked"), ("E", "expiring"))
    ]
    model.set_keys("acme-lib", keys)
    return model


def _components() -> ComponentsModel:
    model = ComponentsModel()
    model.set_components(
        [
            Component.from_data(
                {
                    "name": "left-pad",
                    "version": "1.3.0",
                    "category": "A",
                    "manifests": ["package-lock.json"],
                }
            ),
            Component.from_data({"name": "gpl-thing", "license": "GPL-3.0", "category": "X"}),
            Component.from_data({"name": "mystery"}),
        ]
    )
    return model


def _tasks() -> TasksModel:
    model = TasksModel()
    model.set_tasks(
        [
            _task(1, TaskState.SUCCEEDED, started_at=NOW, finished_at=NOW, result={"files": 2}),
            _task(2, TaskState.RUNNING, started_at=NOW),
            _task(3, TaskState.FAILED, error="boom"),
        ]
    )
    return model


def _vote(vote_id: int, project: str) -> VoteOut:
    ends = NOW + timedelta(days=vote_id)
    tally = Tally(
        outcome="open", ends_at=ends, binding={"+1": 3, "0": 0, "-1": 0}, non_binding={"+1": 1}
    )
    return VoteOut(
        id=vote_id, project=project, version="1.0.0", revision=1, round="project",
        list_address="dev@acme.apache.org", security=False, started_by="alice",
        started_at=NOW, ends_at=ends, tally=tally, ballots=[],
        candidate_url="http://agent/c", keys_url="http://agent/KEYS",
    )  # fmt: skip


def _votes() -> VotesModel:
    model = VotesModel()
    model.set_votes([_vote(2, "acme-lib"), _vote(1, "other")])
    return model


def _ballots() -> BallotsModel:
    model = BallotsModel()
    model.set_ballots(
        [
            BallotOut(
                voter=voter,
                value=value,
                binding=binding,
                source="desktop",
                comment="",
                fingerprint="F" * 40,
                cast_at=NOW + timedelta(minutes=n),
                superseded=n == 0,
            )
            for n, (voter, value, binding) in enumerate(
                [("alice", "0", True), ("alice", "+1", True), ("carol", "-1", False)]
            )
        ]
    )
    return model


def _verification() -> VerificationModel:
    model = VerificationModel()
    model.set_verification(
        Verification(
            files=[
                FileCheck(
                    path="acme.tar.gz",
                    kind="artifact",
                    size=10,
                    sha512="c" * 128,
                    signature="good",
                    checksum="matches",
                    signer="Alice",
                ),
                FileCheck(path="acme.tar.gz.asc", kind="signature", size=1, sha512="d" * 128),
                FileCheck(path="acme.zip", kind="artifact", size=5, problems=["unreadable"]),
            ],
            keys=1,
        )
    )
    return model


def _events() -> EventLogModel:
    model = EventLogModel(max_rows=4)
    model.append(
        [
            Event(
                id=1, at=NOW, kind=EventKind.RELEASE_CREATED, project="acme-lib", version="1.0.0"
            ),
            Event(
                id=2,
                at=NOW,
                kind=EventKind.TASK_FINISHED,
                task_id=7,
                data={"state": "failed", "error": "boom"},
            ),
            Event(id=3, at=NOW, kind=EventKind.TASK_LOG, data={"level": "warning", "line": "x"}),
        ]
    )
    return model


def _change_tasks(model: TasksModel) -> None:
    model.upsert(_task(2, TaskState.SUCCEEDED, started_at=NOW, finished_at=NOW))  # in place
    model.upsert(_task(9, TaskState.QUEUED))  # newest: inserted on top
    model.refresh_durations()


def _change_votes(model: VotesModel) -> None:
    model.update_vote(_vote(2, "acme-lib").model_copy(update={"revision": 2}))
    model.update_vote(_vote(5, "third"))


def _change_events(model: EventLogModel) -> None:
    model.append(Event(id=10 + n, at=NOW, kind=EventKind.TASK_PROGRESS) for n in range(3))
    model.set_rows([LogRow(e, "again") for e in model.events()] * 2)  # bounded too
    assert model.rowCount() == model.max_rows
    model.clear()


CASES: dict[str, tuple[Callable[[], RowTableModel[Any]], Callable[[Any], None]]] = {
    "files": (_files, lambda m: m.set_revision(None)),
    "ignore rules": (_rules, lambda m: m.set_rows(m.rows()[1:])),
    "my keys": (_my_keys, lambda m: m.set_published({"A" * 40: "acme-lib (valid)"})),
    "project keys": (_project_keys, lambda m: m.set_keys(None, [])),
    "sbom components": (_components, lambda m: m.set_components(m.components()[:1])),
    "tasks": (_tasks, _change_tasks),
    "votes": (_votes, _change_votes),
    "ballots": (_ballots, lambda m: m.set_ballots(m.ballots()[:1])),
    "verification": (_verification, lambda m: m.set_progress("acme.zip", 1, 2)),
    "event log": (_events, _change_events),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_table_keeps_qts_model_contract(qapp: Any, qtmodeltester: Any, name: str) -> None:
    make, change = CASES[name]
    model = make()
    assert model.rowCount() > 0
    assert isinstance(model, RowTableModel)
    assert _role_type_errors(model) == []
    for row in range(model.rowCount()):  # the model's own roles answer too
        for role in (Qt.ItemDataRole.UserRole + 1, Qt.ItemDataRole.UserRole + 2):
            model.data(model.index(row, 0), role)
    assert model.data(QModelIndex()) is None
    qtmodeltester.check(model)
    change(model)  # the tester re-checks the model after each signal the change emits
