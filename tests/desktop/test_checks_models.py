"""The checks view's models and view-models with reports built in the test (no agent).

The session is real but not logged in: reports and policies are given to the
view-models through the session's own signals, as the agent's answers would be.
"""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop.keystore import Keystore
from desktop.models import EventLogModel, describe_event
from desktop.models.checks import (
    MESSAGE,
    PATH,
    STATUS,
    Grouping,
    ResultRole,
    ResultsModel,
    member_path,
)
from desktop.models.sbom import CATEGORY, ComponentsFilter
from desktop.session import Session
from desktop.theme import (
    CHECK_STATUS_COLOURS,
    FAILED_EVENT_COLOUR,
    IGNORED_COLOUR,
    LICENSE_CATEGORY_COLOURS,
)
from desktop.viewmodels.checks import ChecksViewModel
from desktop.viewmodels.policy import PolicyEditorViewModel, RuleDraft, rule_problem
from desktop.views.check_detail import diff_html, parse_unified_diff, result_html
from shared.errors import ValidationError
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, Release, Revision, Role
from shared.protocol.checks import IgnoredBy, PolicyOut
from tests.desktop.checks_data import BIN, PROJECT, SRC, VERSION, report, result
from tests.desktop.conftest import QtLoop

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _revision(number: int = 1) -> Revision:
    return Revision(
        project=PROJECT, version=VERSION, number=number, created_at=NOW, created_by="bob",
        message="", files=[],
    )  # fmt: skip


@pytest.fixture
def session(qloop: QtLoop, keystore: Keystore) -> Session:
    return Session(keystore)


def _checks_vm(session: Session, role: Role = Role.PMC) -> ChecksViewModel:
    vm = ChecksViewModel(session, role=lambda: role)
    vm.show_revision(_revision())
    session.checks_changed.emit(report())
    return vm


def _rows(model: ResultsModel, parent: QModelIndex | None = None) -> list[Any]:
    parent = parent or QModelIndex()
    return [model.index(r, 0, parent).data(ResultRole) for r in range(model.rowCount(parent))]


def test_results_are_coloured_by_severity_and_ignored_ones_struck_through(
    session: Session,
) -> None:
    vm = _checks_vm(session)
    vm.set_status_shown("pass", True)
    model = vm.results
    assert model.rowCount() == 10
    for row in range(model.rowCount()):
        index = model.index(row, STATUS)
        item = index.data(ResultRole)
        font = index.data(Qt.ItemDataRole.FontRole)
        colour = index.data(Qt.ItemDataRole.ForegroundRole)
        if item.ignored is None:
            assert colour == QColor(CHECK_STATUS_COLOURS[item.status])
            assert index.data() == item.status
            assert font is None or not font.strikeOut()
        else:  # greyed, struck through in every column, the reason in the tooltip
            assert index.data() == "ignored blocker"
            message = model.index(row, MESSAGE)
            assert isinstance(message.data(Qt.ItemDataRole.FontRole), QFont)
            assert message.data(Qt.ItemDataRole.FontRole).strikeOut()
            assert message.data(Qt.ItemDataRole.ForegroundRole) == QColor(IGNORED_COLOUR)
            assert "the Gradle wrapper is part of the build" in message.data(
                Qt.ItemDataRole.ToolTipRole
            )
            assert "set by alice" in message.data(Qt.ItemDataRole.ToolTipRole)
    blocker = next(r for r in range(model.rowCount()) if model.index(r, STATUS).data() == "blocker")
    assert model.index(blocker, STATUS).data(Qt.ItemDataRole.FontRole).bold()
    # a member of the artifact is shown by its path inside the archive, in full in the tooltip
    lic = next(r for r in range(model.rowCount()) if "LICENSE" in model.index(r, PATH).data())
    assert model.index(lic, PATH).data() == "LICENSE"
    assert model.index(lic, PATH).data(Qt.ItemDataRole.ToolTipRole) == f"{SRC}!/LICENSE"
    assert member_path(result("paths", "", "pass", "x", artifact="")) == ""


def test_status_toggles_text_filter_and_ignored_toggle(session: Session) -> None:
    vm = _checks_vm(session)
    statuses = lambda: sorted({r.status for r in _rows(vm.results)})  # noqa: E731
    assert vm.statuses == {"blocker", "warning", "note"}  # passes are hidden at first
    assert statuses() == ["blocker", "note", "warning"]
    assert vm.shown_count() == 6
    assert vm.status_counts() == {"blocker": 3, "warning": 1, "note": 1, "pass": 4}
    assert vm.ignored_count() == 1

    vm.set_status_shown("blocker", False)
    assert "blocker" not in statuses()
    # the ignored result was a blocker: hidden with the blockers
    assert all(r.ignored is None for r in _rows(vm.results))
    vm.set_status_shown("blocker", True)
    vm.set_show_ignored(False)
    assert vm.shown_count() == 5 and all(r.ignored is None for r in _rows(vm.results))
    vm.set_show_ignored(True)

    vm.set_text_filter("  license  HEADER ")  # every word, any case, any field
    assert [r.path for r in _rows(vm.results)] == [
        f"{SRC}!/src/gen/Parser.java",
        f"{SRC}!/src/main/Lib.java",
    ]
    vm.set_text_filter("signatures bin")
    assert [r.path for r in _rows(vm.results)] == [f"{BIN}.asc"]
    vm.set_text_filter("nothing like this")
    assert vm.shown_count() == 0
    with pytest.raises(ValueError, match="no status"):
        vm.set_status_shown("fatal", True)


def test_grouping_by_file_and_by_check(session: Session) -> None:
    vm = _checks_vm(session)
    vm.set_grouping(Grouping.CHECK)
    model = vm.results
    titles = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert titles == ["signatures", "license_notice", "license_headers", "compiled_code", "sbom"]
    headers = model.index(2, 0)
    assert headers.data() == "blocker"  # the worst counted status of the group
    assert headers.data(Qt.ItemDataRole.ForegroundRole) == QColor(CHECK_STATUS_COLOURS["blocker"])
    assert model.index(2, MESSAGE).data() == "1 blocker, 1 note"
    assert len(_rows(model, headers)) == 2
    compiled = model.index(3, 0)
    assert compiled.data() == "pass"  # only an ignored result: nothing counts
    assert model.index(3, MESSAGE).data() == "1 ignored"

    vm.set_grouping(Grouping.FILE)
    files = [model.index(r, 1).data() for r in range(model.rowCount())]
    assert files == [f"{BIN}.asc", f"{SRC}!/LICENSE", f"{SRC}!/src/gen/Parser.java",
                     f"{SRC}!/src/main/Lib.java", f"{SRC}!/gradle/wrapper/gradle-wrapper.jar",
                     SRC]  # fmt: skip
    assert model.rowCount(model.index(5, 0)) == 1  # the SBOM warning (passes hidden)
    key = ("license_notice", SRC, f"{SRC}!/LICENSE", _rows(model, model.index(1, 0))[0].message)
    found = model.index_of(key)
    assert found.isValid() and found.parent() == model.index(1, 0)
    vm.set_grouping(Grouping.NONE)
    assert model.index_of(key).isValid() and not model.index_of(key).parent().isValid()


def test_selection_survives_live_reloads_and_shows_the_newest_version(session: Session) -> None:
    vm = _checks_vm(session)
    details: list[Any] = []
    vm.detail_changed.connect(details.append)
    headers = next(
        r for r in _rows(vm.results) if r.check == "license_headers" and r.status != "note"
    )
    vm.select(headers)
    assert details[-1] == headers

    # the PMC ignores the file: the next report has it ignored, the detail follows
    items = [
        r.model_copy(update={"status": "note", "ignored": IgnoredBy(
            rule=1, reason="generated by JavaCC", original_status="blocker")})
        if r == headers else r
        for r in report().results
    ]  # fmt: skip
    session.checks_changed.emit(report(items=items))
    assert details[-1].ignored is not None and details[-1].path == headers.path
    assert vm.selected is not None and vm.selected.ignored is not None

    # a report of another revision is not this one's
    session.checks_changed.emit(report(revision=2, items=[]))
    assert vm.report is not None and vm.report.revision == 1

    vm.show_revision(None)
    assert vm.report is None and details[-1] is None and vm.results.rowCount() == 0
    assert vm.summary().state == "none"


def test_summary_headline_banner_and_tab_title(session: Session) -> None:
    vm = ChecksViewModel(session, role=lambda: Role.COMMITTER)
    assert vm.summary().headline.startswith("No revision yet")
    vm.show_revision(_revision())
    assert vm.summary().state == "loading" and vm.summary().banner == ""
    session.checks_changed.emit(report(state="running", done_runs=3, items=[]))
    summary = vm.summary()
    assert summary.headline == "Checks running: 3 of 7 done"
    assert summary.banner == ""
    assert vm.tab_title() == "Checks (3/7)"
    session.checks_changed.emit(report())
    summary = vm.summary()
    assert summary.blocked
    assert summary.banner == "Blocked: 3 blockers — this release cannot go to vote"
    assert summary.headline == "All 7 checks done"
    assert vm.tab_title() == "Checks (3 blockers)"
    clean = [r for r in report().results if r.status != "blocker"]
    session.checks_changed.emit(report(items=clean))
    assert vm.summary().banner == "No blocker: the checks allow this release to go to vote"
    assert vm.tab_title() == "Checks"


def _release(phase: Phase, latest: int | None = 1, version: str = VERSION) -> Release:
    return Release(
        project=PROJECT, version=version, phase=phase, created_at=NOW, created_by="bob",
        updated_at=NOW, latest_revision=latest,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("phase", "clean", "blocked"),
    [
        (Phase.COMPOSE,
         ("No blocker so far: move the release to checks when its files are complete", "clear"),
         ("Blocked: 3 blockers — this release cannot go to vote", "blocked")),
        (Phase.CANDIDATE,
         ("No blocker: the checks allow this release to go to vote", "clear"),
         ("Blocked: 3 blockers — this release cannot go to vote", "blocked")),
        (Phase.VOTE,
         ("Under vote: the checks of the revision voted on found no blocker", "info"),
         ("Under vote — 3 blockers found since the vote started (a key revoked, the policy "
          "changed?): tell the voters", "warning")),
        (Phase.ANNOUNCED,
         ("Released and announced: these are the checks of the revision voted on, kept as its "
          "record", "info"),
         ("Released and announced — 3 blockers found after the vote (a key revoked, the policy "
          "changed?)", "warning")),
        (Phase.ARCHIVED,
         ("Released and archived: these are the checks of the revision voted on, kept as its "
          "record", "info"),
         ("Released and archived — 3 blockers found after the vote (a key revoked, the policy "
          "changed?)", "warning")),
        (Phase.FAILED,
         ("The release failed: move it back to compose to make a new revision", "info"),
         ("Failed: 3 blockers — fix them in a new revision (back to compose)", "blocked")),
    ],
)  # fmt: skip
def test_the_verdict_banner_follows_the_releases_phase(
    session: Session,
    phase: Phase,
    clean: tuple[str, str],
    blocked: tuple[str, str],
) -> None:
    """An announced release's checks never say it may go to vote; before the vote they do."""
    vm = _checks_vm(session)
    vm.set_release(_release(phase))
    assert (vm.summary().banner, vm.summary().banner_tone) == blocked
    clean_items = [r for r in report().results if r.status != "blocker"]
    session.checks_changed.emit(report(items=clean_items))
    assert (vm.summary().banner, vm.summary().banner_tone) == clean
    if phase not in (Phase.COMPOSE, Phase.CANDIDATE):
        assert "go to vote" not in vm.summary().banner


def test_an_older_revision_and_another_releases_phase(session: Session) -> None:
    vm = _checks_vm(session)
    vm.set_release(_release(Phase.COMPOSE, latest=3))
    assert vm.summary().banner == (
        "Revision 1 is not the latest: the checks of revision 3 decide what happens to the release"
    )
    vm.set_release(_release(Phase.ANNOUNCED, version="9.9.9"))  # not the release shown
    assert vm.summary().banner == "Blocked: 3 blockers — this release cannot go to vote"


def test_sbom_components_with_category_colours(session: Session) -> None:
    vm = _checks_vm(session)
    assert vm.sbom_artifacts() == [SRC]
    assert vm.sbom_artifact == SRC
    model = vm.components
    assert model.rowCount() == 5
    assert vm.sbom_summary() == (
        "5 components: 2 category A · 1 category B · 1 category X · 1 unknown"
    )
    colours = {
        model.index(r, CATEGORY).data(): model.index(r, CATEGORY).data(
            Qt.ItemDataRole.ForegroundRole
        )
        for r in range(model.rowCount())
    }
    assert colours == {c: QColor(LICENSE_CATEGORY_COLOURS[c]) for c in ("A", "B", "X", "unknown")}
    assert "binary form only" in model.index(2, CATEGORY).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(4, 2).data() == ""  # no license stated: shown empty, never guessed

    proxy = ComponentsFilter()
    proxy.setSourceModel(model)
    proxy.sort(CATEGORY, Qt.SortOrder.AscendingOrder)  # worst first
    assert [proxy.index(r, CATEGORY).data() for r in range(5)] == ["X", "unknown", "B", "A", "A"]
    proxy.set_filter_text("JAKARTA")
    assert proxy.rowCount() == 1

    session.checks_changed.emit(report(items=[r for r in report().results if r.check != "sbom"]))
    assert vm.sbom_artifacts() == [] and vm.sbom_artifact is None and model.rowCount() == 0


def test_license_diff_is_rendered_as_a_coloured_monospace_unified_diff() -> None:
    item = next(r for r in report().results if r.check == "license_notice")
    lines = parse_unified_diff(item.data["diff"])
    kinds = [line.kind for line in lines]
    assert kinds[:3] == ["file", "file", "hunk"]
    assert lines[2].text.startswith("@@ -64,7 +64,7 @@")
    removed = [line.text for line in lines if line.kind == "removed"]
    added = [line.text for line in lines if line.kind == "added"]
    assert removed == ["-   2. Grant of Copyright License. Subject to the terms and conditions of"]
    assert added == ["+   2. Grant of Copyleft License. Subject to the terms and conditions of"]
    assert kinds.count("context") == 6

    html = diff_html("--- a\n+++ b\n@@ -1 +1 @@\n-<old> & co\n+<new>\n same\n\\ No newline")
    assert "&lt;old&gt; &amp; co" in html and "<old>" not in html
    assert 'bgcolor="#fdecea"' in html and 'bgcolor="#e6f4ea"' in html  # removed, added
    assert html.count("white-space: pre") == 7 and "monospace" in html

    detail = result_html(item)
    assert "Difference (- expected, + found)" in detail
    assert "Copyleft" in detail and "LICENSE departs" in detail
    assert '"diff"' not in detail  # shown as a diff, not again in the data dump
    assert '"line": 67' in detail


def test_signature_detail_names_the_signers() -> None:
    item = next(r for r in report().results if r.check == "signatures" and r.status == "pass")
    html = result_html(item)
    assert "6028 F516 14C2 142C 9A4A ED89 4DC8 DC50 8AA4 50D3" in html
    assert "Alice &lt;alice@example.org&gt;" in html
    assert "RSA 4096" in html
    ignored = next(r for r in report().results if r.ignored is not None)
    html = result_html(ignored)
    assert "ignored by rule 1" in html and "the Gradle wrapper is part of the build" in html
    assert "<s>" in html
    sbom = next(r for r in report().results if r.check == "sbom" and r.status == "pass")
    html = result_html(sbom)
    assert "(5 components: see the SBOM tab)" in html and "commons-io" not in html
    assert "Save it from the SBOM tab" in html


def test_ignore_refusals_and_prefilled_rules(session: Session) -> None:
    vm = _checks_vm(session)
    by_check = {(r.check, r.status): r for r in report().results}
    signature_blocker = by_check[("signatures", "blocker")]
    assert "can never be ignored" in vm.ignore_refusal(signature_blocker)
    assert vm.ignore_refusal(by_check[("checksums", "pass")]).startswith("a passing result")
    ignored = next(r for r in report().results if r.ignored)
    assert vm.ignore_refusal(ignored).startswith("already ignored by rule 1")
    header = by_check[("license_headers", "blocker")]
    assert vm.ignore_refusal(header) == ""
    assert vm.ignore_refusal(None) == "select a result first"

    committer = _checks_vm(session, Role.COMMITTER)
    assert committer.ignore_refusal(header) == (
        "changing the project's ignore rules needs the pmc role (you are committer)"
    )
    assert not committer.can_edit_policy

    draft = vm.rule_for(header)
    assert draft == RuleDraft("license_headers", f"{SRC}!/src/gen/Parser.java", "blocker", "")
    odd = result("paths", "docs/[draft]*.txt", "warning", "unknown file")
    escaped = vm.rule_for(odd).path
    assert escaped == "docs/[[]draft][*].txt"  # glob characters escaped: it matches this file only
    assert fnmatch.fnmatchcase(odd.path, escaped)
    assert not fnmatch.fnmatchcase("docs/d.txt", escaped)


def test_rule_validation() -> None:
    ok = RuleDraft("license_headers", "*.json", None, "generated fixtures")
    assert rule_problem(ok) == ""
    assert "write the reason" in rule_problem(RuleDraft("license_headers", "*", None, "   "))
    assert rule_problem(RuleDraft("", "*", None, "x")).startswith("choose the check")
    assert rule_problem(RuleDraft("paths", " ", None, "x")).startswith("give a path glob")
    refused = rule_problem(RuleDraft("signatures", "*", "blocker", "key lost"))
    assert "blockers of the signatures check can never be ignored" in refused
    assert "checksums" in rule_problem(RuleDraft("checksums", "*", "blocker", "x"))
    # a rule on signatures without a status ignores their warnings and notes only: allowed
    assert rule_problem(RuleDraft("signatures", "*", None, "SHA-1 signatures of old RMs")) == ""
    known = ["paths", "signatures"]
    assert "there is no check 'pathz'" in rule_problem(
        RuleDraft("pathz", "*", None, "x"), known_checks=known
    )


def test_policy_editor_draft_save_and_read_only(session: Session, qloop: QtLoop) -> None:
    errors: list[str] = []
    session.error.connect(errors.append)
    editor = PolicyEditorViewModel(session, project=PROJECT, report=report())
    assert not editor.loaded and editor.updated_note == "loading the policy…"
    wrapper = {
        "check": "compiled_code",
        "path": "*gradle-wrapper.jar",
        "reason": "the Gradle wrapper is part of the build",
        "status": None,
    }
    stored = {"ignores": [wrapper]}
    session.policy_loaded.emit(
        PolicyOut(project=PROJECT, policy=stored, updated_by="alice", updated_at=NOW)
    )
    assert editor.loaded and not editor.dirty
    assert editor.updated_note == "last changed by alice on 2026-01-02 03:04 UTC"
    rows = editor.rules.rows()
    assert len(rows) == 1 and rows[0].matches == 1 and not rows[0].unsaved

    draft = RuleDraft("license_headers", f"{SRC}!/src/gen/*", None, "generated by JavaCC")
    assert editor.match_note(draft) == "matches 1 result of revision 1"
    with pytest.raises(ValidationError, match="write the reason"):
        editor.add(RuleDraft("license_headers", "*", None, ""))
    row = editor.add(draft)
    assert row == 1 and editor.dirty
    assert editor.rules.rows()[1].unsaved and editor.rules.index(1, 0).data() == "2 *"
    assert editor.problem(draft) == "rule 2 already ignores the same results"
    assert editor.problem(draft, editing=1) == ""
    assert editor.default_change_reason() == (
        f"ignore license_headers results on {SRC}!/src/gen/*: generated by JavaCC"
    )
    assert "compiled_code" in editor.known_checks() and "sbom" in editor.known_checks()
    editor.remove(0)
    assert "stop ignoring compiled_code" in editor.default_change_reason()
    editor.revert()
    assert not editor.dirty and len(editor.draft_rules()) == 1

    # someone else saves meanwhile: an unsaved draft is marked stale, not overwritten
    editor.add(draft)
    docx = {"check": "paths", "path": "*.docx", "reason": "notes in Word", "status": None}
    other = {"ignores": [wrapper, docx]}
    session.policy_loaded.emit(PolicyOut(project=PROJECT, policy=other, updated_by="carol",
                                         updated_at=datetime(2026, 1, 3, tzinfo=UTC)))  # fmt: skip
    assert editor.stale and len(editor.draft_rules()) == 2
    assert editor.draft_rules()[1].check == "license_headers"
    editor.reload()
    assert not editor.stale and not editor.dirty
    assert [r.check for r in editor.draft_rules()] == ["compiled_code", "paths"]

    # saving without a connection: the error goes to the session's one error place
    editor.add(draft)
    with pytest.raises(ValidationError, match="write why"):
        editor.save("  ")
    task = editor.save("the parser is generated")
    assert editor.saving
    qloop.run(_quietly(task))
    assert not editor.saving and editor.dirty  # nothing was saved
    assert errors and "not connected to an agent" in errors[-1]
    editor.close()
    editor.close()  # twice is harmless

    reader = PolicyEditorViewModel(
        session, project=PROJECT, can_edit=False, read_only_reason="needs the pmc role"
    )
    session.policy_loaded.emit(PolicyOut(project=PROJECT, policy={}))
    assert reader.loaded and reader.updated_note == "no change since the project was created"
    with pytest.raises(ValidationError, match="needs the pmc role"):
        reader.add(draft)
    with pytest.raises(ValidationError, match="needs the pmc role"):
        reader.save("x")
    reader.close()


async def _quietly(task: Any) -> None:
    try:
        await task
    except Exception:
        return


def test_check_events_read_well_in_the_log_pane() -> None:
    def event(kind: EventKind, **data: Any) -> Event:
        return Event(id=1, at=NOW, kind=kind, project=PROJECT, version=VERSION, data=data)

    queued = event(EventKind.CHECKS_QUEUED, revision=2, runs=16, queued=13, reused=3, rerun=False)
    assert (
        describe_event(queued)
        == "checks queued on revision 2: 16 runs (3 reused from earlier runs)"
    )
    finished = event(
        EventKind.CHECK_FINISHED, revision=2, check="sbom", artifact=SRC, state="done",
        summary={"blocker": 0, "warning": 3, "note": 1, "pass": 1}, worst="warning",
    )  # fmt: skip
    assert describe_event(finished) == f"sbom on {SRC}: 3 warning, 1 note, 1 pass"
    failed = event(
        EventKind.CHECK_FINISHED, check="archives", artifact=SRC, state="error", error="gone"
    )
    assert describe_event(failed) == f"archives on {SRC} could not run: gone"
    done = event(
        EventKind.CHECKS_DONE, revision=2, summary={"blocker": 1, "pass": 9}, ignored=1,
        blocked=True,
    )  # fmt: skip
    assert (
        describe_event(done) == "checks of revision 2 done: 1 blocker, 9 pass, 1 ignored — blocked"
    )
    policy = event(
        EventKind.POLICY_CHANGED, reason="reviewed",
        ignores_added=[{"check": "compiled_code", "path": "*.jar"}], ignores_removed=[],
        changed={},
    )  # fmt: skip
    assert describe_event(policy) == "policy: ignore compiled_code on *.jar (reviewed)"
    model = EventLogModel()
    model.append([done, finished])
    assert model.index(0, 4).data(Qt.ItemDataRole.ForegroundRole) == QColor(FAILED_EVENT_COLOUR)
    assert model.index(1, 4).data(Qt.ItemDataRole.ForegroundRole) is None


def test_header_summary_names_reasons_and_folders(session: Session) -> None:
    vm = ChecksViewModel(session, role=lambda: Role.COMMITTER)
    vm.show_revision(_revision())
    session.checks_changed.emit(report())
    assert vm.header_summaries() == []  # the sample has no header summary
    folders = [
        {"folder": f"test/f{i}", "files": 10 - i, "reasons": {"missing": 10 - i},
         "pattern": f"test/f{i}/*"}
        for i in range(6)
    ]  # fmt: skip
    summary = result(
        "license_headers",
        SRC,
        "note",
        "45 source files without a header",
        reasons=[{"reason": "missing", "status": "warning", "files": 45}],
        folders=folders,
    )
    session.checks_changed.emit(report(items=[*report().results, summary]))
    assert vm.header_summaries() == [
        f"License headers in {SRC}: 45 without a header (warning) — in test/f0/* 10, "
        "test/f1/* 9, test/f2/* 8, test/f3/* 7, 2 more"
    ]
