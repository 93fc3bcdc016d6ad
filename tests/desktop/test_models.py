"""Item models: the release tree, files, tasks and the bounded, filterable event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from desktop.format import human_duration, human_size, short_hash
from desktop.models import (
    EventFilterProxy,
    EventLogModel,
    FilesModel,
    ReleaseTreeModel,
    TasksModel,
    TreeNode,
    describe_event,
)
from desktop.models.files import FullValueRole
from desktop.theme import TASK_STATE_COLOURS, monospace_font
from shared.lifecycle import Phase
from shared.protocol import (
    Event,
    EventKind,
    Project,
    Release,
    Revision,
    RevisionFile,
    Task,
    TaskState,
    TaskType,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _release(version: str, phase: Phase = Phase.COMPOSE, project: str = "acme-lib") -> Release:
    return Release(
        project=project, version=version, phase=phase, created_at=NOW, created_by="alice",
        updated_at=NOW, latest_revision=None,
    )  # fmt: skip


def _event(event_id: int, kind: EventKind, **fields: Any) -> Event:
    return Event(id=event_id, at=NOW, kind=kind, **fields)


def _task(task_id: int, state: TaskState, **fields: Any) -> Task:
    values: dict[str, Any] = {
        "id": task_id, "type": TaskType.INVENTORY, "state": state, "project": "acme-lib",
        "version": "1.0.0", "revision": 1, "args": {}, "result": None, "error": None,
        "attempts": 1, "max_attempts": 3, "created_at": NOW, "created_by": "bob",
        "started_at": None, "finished_at": None,
    }  # fmt: skip
    values.update(fields)
    return Task(**values)


def test_formatting() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"
    assert short_hash("ab" * 64) == "abababababababab…"
    assert human_duration(1.23) == "1.2s"
    assert human_duration(0.0123) == "12 ms"
    assert human_duration(75) == "1m 15s"
    assert human_duration(timedelta(hours=2, minutes=3)) == "2h 03m"


def test_tree_projects_and_releases(qapp: Any) -> None:
    model = ReleaseTreeModel()
    model.set_projects([
        Project(key="zeta", name="Zeta", committee="z"),
        Project(key="acme-lib", name="Acme Library", committee="acme"),
    ])  # fmt: skip
    assert model.project_keys() == ["acme-lib", "zeta"]
    assert model.item(0, 0).text() == "acme-lib"

    model.set_releases("zeta", [])
    assert model.item(1, 1).text() == "no releases"
    model.set_releases("acme-lib", [_release("1.9.0"), _release("1.10.0"), _release("1.2.0")])
    assert model.release_versions("acme-lib") == ["1.10.0", "1.9.0", "1.2.0"]
    assert model.item(0, 1).text() == "3 releases"

    model.update_release(_release("1.9.0", Phase.CANDIDATE))
    index = model.index_of(TreeNode("acme-lib", "1.9.0"))
    assert index.isValid()
    assert index.siblingAtColumn(1).data() == "candidate"
    assert model.node(index.siblingAtColumn(1)) == TreeNode("acme-lib", "1.9.0")

    model.update_release(_release("2.0.0"))  # a new release is inserted in order
    assert model.release_versions("acme-lib") == ["2.0.0", "1.10.0", "1.9.0", "1.2.0"]

    model.set_projects([Project(key="acme-lib", name="Acme Library", committee="acme")])
    assert model.project_keys() == ["acme-lib"]
    assert model.release_versions("acme-lib") == ["2.0.0", "1.10.0", "1.9.0", "1.2.0"]


def test_files_model_abbreviates_hashes_and_copies_full_values(qapp: Any) -> None:
    sha512 = "f" * 128
    files = [
        RevisionFile(path="b/acme-1.0-src.tar.gz", size=2 * 1024 * 1024, sha256="a" * 64,
                     sha512=sha512),
        RevisionFile(path="a.txt", size=12, sha256="b" * 64, sha512="e" * 128),
    ]  # fmt: skip
    revision = Revision(
        project="acme-lib", version="1.0.0", number=1, created_at=NOW, created_by="bob",
        message="", files=files,
    )  # fmt: skip
    model = FilesModel()
    model.set_revision(revision)
    assert model.rowCount() == 2
    assert model.index(0, 0).data() == "a.txt"  # sorted by path
    assert model.index(1, 1).data() == "2.0 MiB"
    assert model.index(1, 2).data() == "ffffffffffffffff…"
    assert model.index(1, 2).data(Qt.ItemDataRole.ToolTipRole) == sha512
    assert model.index(1, 2).data(FullValueRole) == sha512
    assert model.index(1, 2).data(Qt.ItemDataRole.FontRole) == monospace_font()
    assert model.index(1, 0).data(Qt.ItemDataRole.FontRole) is None
    assert model.copy_text([model.index(1, 0), model.index(1, 2)]) == (
        f"b/acme-1.0-src.tar.gz\t{sha512}"
    )
    assert model.checksum_lines().splitlines()[1] == f"{sha512}  b/acme-1.0-src.tar.gz"


def test_tasks_model_upserts_and_colours_state(qapp: Any) -> None:
    model = TasksModel()
    model.set_tasks([_task(1, TaskState.SUCCEEDED), _task(2, TaskState.QUEUED)])
    assert [model.index(r, 0).data() for r in range(2)] == ["#2", "#1"]

    started = NOW
    model.upsert(
        _task(2, TaskState.SUCCEEDED, started_at=started,
              finished_at=started + timedelta(seconds=3.5), result={"files": 2})
    )  # fmt: skip
    assert model.rowCount() == 2
    assert model.index(0, 2).data() == "succeeded"
    assert model.index(0, 3).data() == "1/3"
    assert model.index(0, 4).data() == "3.5s"
    assert model.index(0, 6).data() == "files=2"
    colour = model.index(0, 2).data(Qt.ItemDataRole.ForegroundRole)
    assert colour.name() == TASK_STATE_COLOURS[TaskState.SUCCEEDED]

    model.upsert(_task(3, TaskState.FAILED, error="boom\ntrace"))
    assert model.index(0, 0).data() == "#3"
    assert model.index(0, 6).data() == "boom"


def test_event_log_is_bounded_and_filterable(qapp: Any) -> None:
    model = EventLogModel(max_rows=5)
    proxy = EventFilterProxy()
    proxy.setSourceModel(model)
    model.append(
        _event(i, EventKind.TASK_LOG, project="acme-lib", version="1.0.0", task_id=7,
               data={"level": "info", "message": f"line {i}"})
        for i in range(1, 9)
    )  # fmt: skip
    assert model.rowCount() == 5
    assert [e.id for e in model.events()] == [4, 5, 6, 7, 8]
    assert model.index(0, 4).data() == "line 4"
    assert model.index(0, 2).data() == "acme-lib 1.0.0"
    assert model.index(0, 3).data() == "#7"

    model.append([_event(9, EventKind.TASK_FINISHED, data={"state": "failed", "error": "x"})])
    assert [e.id for e in model.events()] == [5, 6, 7, 8, 9]

    proxy.set_filter_text("LINE 7")
    assert proxy.rowCount() == 1
    proxy.set_filter_text("task.finished")
    assert proxy.rowCount() == 1
    proxy.set_filter_text("")
    assert proxy.rowCount() == 5


def test_event_descriptions() -> None:
    assert (
        describe_event(
            _event(
                1, EventKind.PHASE_CHANGED, data={"from": "compose", "to": "checks", "reason": ""}
            )
        )
        == "compose → checks"
    )
    assert (
        describe_event(
            _event(1, EventKind.TASK_FINISHED, data={"state": "succeeded", "duration_ms": 1500})
        )
        == "succeeded in 1.5s"
    )
    assert (
        describe_event(_event(1, EventKind.TASK_LOG, data={"level": "warning", "message": "odd"}))
        == "[warning] odd"
    )
    assert (
        describe_event(
            _event(1, EventKind.REVISION_CREATED, data={"number": 2, "files": 3, "message": "rc1"})
        )
        == "revision 2 with 3 files: rc1"
    )
    assert describe_event(_event(1, EventKind.TASK_PROGRESS, data={"done": 1, "total": 4})) == (
        "progress 1/4 (25%)"
    )
    retried = {"level": "info", "message": "a.tar.gz: 3 bytes", "attempt": 2}
    assert describe_event(_event(1, EventKind.TASK_LOG, data=retried)) == (
        "[attempt 2] a.tar.gz: 3 bytes"
    )
    first = {"done": 1, "total": 4, "attempt": 1}
    assert describe_event(_event(1, EventKind.TASK_PROGRESS, data=first)) == "progress 1/4 (25%)"
    assert (
        describe_event(
            _event(1, EventKind.COMMITTEE_CREATED, data={"committee": "acme", "podling": False})
        )
        == "committee=acme podling=false"
    )
