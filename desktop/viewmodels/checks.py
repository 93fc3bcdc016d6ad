"""The checks of the revision on screen: summary, filtered results, detail, SBOMs, ignore rules.

The release panel's Checks and SBOM tabs only render this. It follows the
revision the main view-model shows (:meth:`ChecksViewModel.show_revision`),
asks the session to watch that revision's report — which the session reloads
as ``check.finished`` / ``checks.done`` events arrive — and rebuilds the results
model whenever the report, a filter or the grouping changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QObject, Signal

from desktop.models.checks import (
    STATUSES,
    Grouping,
    ResultKey,
    ResultsModel,
    original_status,
    result_key,
    status_label,
)
from desktop.models.sbom import Component, ComponentsModel, category_counts
from desktop.session import Session
from desktop.viewmodels.policy import PolicyEditorViewModel, RuleDraft, unignorable_reason
from shared.lifecycle import Phase
from shared.protocol import Release, Revision, Role
from shared.protocol.checks import CheckReport, CheckResultOut

DEFAULT_STATUSES = frozenset({"blocker", "warning", "note"})
"""Shown at first: passing results are many and say little."""
SBOM_CHECK = "sbom"
HEADERS_CHECK = "license_headers"
FOLDERS_SHOWN = 4
"""Folders named in a header summary line (the detail of the summary result lists all)."""
_REASON_WORDS = {
    "missing": "without a header",
    "unapproved": "under Category X",
    "category-b": "under Category B",
    "unrecognised": "under an unlisted license",
    "approved": "third-party, approved",
    "build": "build files without an approved header",
    "gpl-exception": "GPL with a build tool's exception",
}
_CATEGORY_WORDS = {"A": "category A", "B": "category B", "X": "category X", "unknown": "unknown"}


BannerTone = Literal["blocked", "clear", "warning", "info"]
"""How the verdict banner is coloured: red, green, amber, neutral."""

_BEFORE_THE_VOTE: dict[Phase | None, tuple[str, BannerTone]] = {
    None: ("No blocker: the checks allow this release to go to vote", "clear"),
    Phase.COMPOSE: (
        "No blocker so far: move the release to checks when its files are complete",
        "clear",
    ),
    Phase.CHECKS: ("No blocker: the release moves on to candidate", "clear"),
    Phase.CANDIDATE: ("No blocker: the checks allow this release to go to vote", "clear"),
    Phase.STAGED: ("No blocker: the checks allow this release to go to vote", "clear"),
}
"""Before the vote, without a blocker: what the release may do next."""

_RECORD = "these are the checks of the revision voted on, kept as its record"
_FOUND_LATER = "found after the vote (a key revoked, the policy changed?)"
_FROM_THE_VOTE_ON: dict[Phase, tuple[tuple[str, BannerTone], tuple[str, BannerTone]]] = {
    Phase.VOTE: (
        ("Under vote: the checks of the revision voted on found no blocker", "info"),
        (
            "Under vote — {found} found since the vote started (a key revoked, the policy "
            "changed?): tell the voters",
            "warning",
        ),
    ),
    Phase.FAILED: (
        ("The release failed: move it back to compose to make a new revision", "info"),
        ("Failed: {found} — fix them in a new revision (back to compose)", "blocked"),
    ),
    Phase.PASSED: (
        (f"The vote passed: {_RECORD}", "info"),
        (f"The vote passed — {{found}} {_FOUND_LATER}", "warning"),
    ),
    Phase.DISTRIBUTE: (
        (f"Released, being distributed: {_RECORD}", "info"),
        (f"Released, being distributed — {{found}} {_FOUND_LATER}", "warning"),
    ),
    Phase.ANNOUNCED: (
        (f"Released and announced: {_RECORD}", "info"),
        (f"Released and announced — {{found}} {_FOUND_LATER}", "warning"),
    ),
    Phase.ARCHIVED: (
        (f"Released and archived: {_RECORD}", "info"),
        (f"Released and archived — {{found}} {_FOUND_LATER}", "warning"),
    ),
}
"""From the vote on: (without a blocker, with blockers) — the checks no longer gate a vote."""


@dataclass(frozen=True, slots=True)
class ChecksSummary:
    """What the summary bar shows."""

    state: str
    """``none`` (no revision), ``loading``, ``pending``, ``running`` or ``done``"""
    counts: dict[str, int]
    """results per status, after ignore rules"""
    ignored: int = 0
    blocked: bool = False
    runs_done: int = 0
    runs_total: int = 0
    run_errors: tuple[str, ...] = ()
    stale: int = 0
    """runs out of date (the policy, keys or a check changed since they ran)"""
    phase: Phase | None = None
    """the release's phase (``None`` while it is not known): the verdict depends on it"""
    revision: int | None = None
    latest_revision: int | None = None

    @property
    def headline(self) -> str:
        """One sentence on where the checks stand."""
        if self.state == "none":
            return "No revision yet: upload the release's files to run the checks."
        if self.state == "loading":
            return "Loading the checks…"
        if self.state == "pending" and self.runs_total == 0:
            return "The checks are queued."
        if self.state in ("pending", "running"):
            return f"Checks running: {self.runs_done} of {self.runs_total} done"
        done = f"All {self.runs_total} checks done"
        return f"{done} · {self.stale} out of date" if self.stale else done

    @property
    def banner(self) -> str:
        """The verdict, for the release's phase ('' while nothing is known)."""
        return self.verdict()[0]

    @property
    def banner_tone(self) -> BannerTone:
        return self.verdict()[1]

    def verdict(self) -> tuple[str, BannerTone]:
        """What the checks mean for the release *in its phase*: before the vote, whether it
        may go to vote; under the vote and after it, what the record says."""
        if not self.blocked and self.state != "done":
            return "", "info"
        blockers = self.counts.get("blocker", 0)
        found = f"{blockers} blocker{'s' if blockers != 1 else ''}"
        latest = self.latest_revision
        if latest is not None and self.revision is not None and self.revision < latest:
            text = (
                f"Revision {self.revision} is not the latest: the checks of revision {latest} "
                "decide what happens to the release"
            )
            return text, "info"
        if self.phase is None or self.phase in _BEFORE_THE_VOTE:
            if self.blocked:
                return f"Blocked: {found} — this release cannot go to vote", "blocked"
            return _BEFORE_THE_VOTE[self.phase]
        (text, tone) = _FROM_THE_VOTE_ON[self.phase][1 if self.blocked else 0]
        return text.format(found=found), tone


def _summary(
    report: CheckReport | None, state: str, release: Release | None = None
) -> ChecksSummary:
    phase = release.phase if release is not None else None
    latest = release.latest_revision if release is not None else None
    if report is None:
        return ChecksSummary(
            state=state, counts=dict.fromkeys(STATUSES, 0), phase=phase, latest_revision=latest
        )
    finished = [run for run in report.runs if run.state in ("done", "error")]
    errors = tuple(
        f"{run.check}{f' on {run.artifact}' if run.artifact else ''}: {run.error}"
        for run in report.runs
        if run.state == "error" and run.error
    )
    return ChecksSummary(
        state=report.state,
        counts={status: report.summary.get(status, 0) for status in STATUSES},
        ignored=report.ignored,
        blocked=report.blocked,
        runs_done=len(finished),
        runs_total=len(report.runs),
        run_errors=errors,
        stale=report.stale,
        phase=phase,
        revision=report.revision,
        latest_revision=latest,
    )


class ChecksViewModel(QObject):
    """Everything the Checks and SBOM tabs show and can do."""

    report_changed = Signal()
    """a new report (or none): the summary, counts and SBOM list may have changed"""
    results_changed = Signal()
    """the results model was rebuilt (report, filter or grouping)"""
    detail_changed = Signal(object)
    """the selected :class:`CheckResultOut` (its newest version), or ``None``"""
    sbom_changed = Signal()
    """the SBOM on screen changed (another artifact, or a new report)"""
    permissions_changed = Signal()
    status_message = Signal(str)

    def __init__(
        self, session: Session, *, role: Callable[[], Role], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._role = role
        self.results = ResultsModel(self)
        self.components = ComponentsModel(self)
        self._target: tuple[str, str, int] | None = None
        self._release: Release | None = None
        self._report: CheckReport | None = None
        self._statuses: set[str] = set(DEFAULT_STATUSES)
        self._show_ignored = True
        self._text = ""
        self._grouping = Grouping.NONE
        self._selected: ResultKey | None = None
        self._sbom_artifact: str | None = None
        session.checks_changed.connect(self._on_report)
        session.logged_out.connect(lambda: self.show_revision(None))

    # --- what the views read --------------------------------------------------------------------

    @property
    def report(self) -> CheckReport | None:
        return self._report

    @property
    def target(self) -> tuple[str, str, int] | None:
        """(project, version, revision) whose checks are shown."""
        return self._target

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(self._statuses)

    @property
    def show_ignored(self) -> bool:
        return self._show_ignored

    @property
    def text_filter(self) -> str:
        return self._text

    @property
    def grouping(self) -> Grouping:
        return self._grouping

    @property
    def selected(self) -> CheckResultOut | None:
        if self._selected is None or self._report is None:
            return None
        return next((r for r in self._report.results if result_key(r) == self._selected), None)

    def summary(self) -> ChecksSummary:
        if self._target is None:
            return _summary(None, "none")
        release, target = self._release, self._target
        if release is not None and (release.project, release.version) != target[:2]:
            release = None  # another release's phase says nothing about these checks
        return _summary(self._report, "loading", release)

    def header_summaries(self) -> list[str]:
        """One line per source archive whose license-header check reported files: how many,
        by reason, and the folders that hold most of them (with the glob to exclude one)."""
        lines: list[str] = []
        for result in self._report.results if self._report else ():
            if result.check != HEADERS_CHECK or result.path != result.artifact:
                continue
            reasons = result.data.get("reasons") or []
            if not reasons:
                continue
            parts = ", ".join(
                f"{r['files']:,} {_REASON_WORDS.get(r['reason'], r['reason'])} ({r['status']})"
                for r in reasons
            )
            folders = result.data.get("folders") or []
            where = ", ".join(f"{f['pattern']} {f['files']:,}" for f in folders[:FOLDERS_SHOWN])
            more = f", {len(folders) - FOLDERS_SHOWN} more" if len(folders) > FOLDERS_SHOWN else ""
            text = f"License headers in {result.artifact}: {parts}"
            lines.append(f"{text} — in {where}{more}" if where else text)
        return lines

    def status_counts(self) -> dict[str, int]:
        """Results that count, per status (ignored ones apart), for the summary's toggles."""
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for result in self._report.results if self._report else ():
            if result.ignored is None:
                counts[result.status] += 1
        return counts

    def ignored_count(self) -> int:
        return sum(1 for r in self._report.results if r.ignored) if self._report else 0

    def shown_count(self) -> int:
        return len(self.results.results())

    def tab_title(self) -> str:
        """The Checks tab's label: its verdict at a glance."""
        summary = self.summary()
        if summary.state in ("pending", "running"):
            return f"Checks ({summary.runs_done}/{summary.runs_total})"
        blockers = summary.counts["blocker"]
        if blockers:
            return f"Checks ({blockers} blocker{'s' if blockers != 1 else ''})"
        return "Checks"

    # --- filters and selection ------------------------------------------------------------------

    def accepts(self, result: CheckResultOut) -> bool:
        """Whether the filters show ``result``."""
        if result.ignored is not None and not self._show_ignored:
            return False
        if original_status(result) not in self._statuses:
            return False
        if not self._text:
            return True
        haystack = " ".join(
            (result.check, result.artifact, result.path, result.message, status_label(result))
        ).lower()
        return all(word in haystack for word in self._text.lower().split())

    def set_status_shown(self, status: str, shown: bool) -> None:
        if status not in STATUSES:
            raise ValueError(f"no status {status!r}")
        if shown:
            self._statuses.add(status)
        else:
            self._statuses.discard(status)
        self._rebuild()

    def set_show_ignored(self, shown: bool) -> None:
        self._show_ignored = shown
        self._rebuild()

    def set_text_filter(self, text: str) -> None:
        self._text = text.strip()
        self._rebuild()

    def set_grouping(self, grouping: Grouping) -> None:
        self._grouping = grouping
        self._rebuild()

    def select(self, result: CheckResultOut | None) -> None:
        """Show ``result``'s detail (kept across reloads of the report)."""
        self._selected = result_key(result) if result is not None else None
        self.detail_changed.emit(self.selected)

    # --- the revision shown ---------------------------------------------------------------------

    def show_revision(self, revision: Revision | None) -> None:
        """Follow another revision (``None``: nothing shown)."""
        target = None if revision is None else (revision.project, revision.version, revision.number)
        if target == self._target:
            return
        self._target = target
        self._report = None
        self._selected = None
        if target is None:
            self.session.watch_checks(None, None, None)
        else:
            self.session.watch_checks(*target)
        self._rebuild()
        self._refresh_sbom()
        self.report_changed.emit()
        self.detail_changed.emit(None)
        self.permissions_changed.emit()

    def set_release(self, release: Release | None) -> None:
        """The release on screen: its phase and latest revision decide the verdict (of the
        revision shown, when it is that release's)."""
        self._release = release
        self.report_changed.emit()

    def refresh(self) -> None:
        self.session.refresh_checks()

    @property
    def can_rerun(self) -> bool:
        """Committers may redo out-of-date runs of the shown revision."""
        return self._target is not None and self.role().rank >= Role.COMMITTER.rank

    def rerun(self) -> asyncio.Task[CheckReport] | None:
        """Redo the runs whose inputs changed since they ran."""
        if self._target is None or not self.can_rerun:
            return None
        task = self.session.rerun_checks(*self._target)

        def done(t: asyncio.Task[CheckReport]) -> None:
            if not t.cancelled() and t.exception() is None:
                self.status_message.emit("Out-of-date checks queued again")

        task.add_done_callback(done)
        return task

    def _on_report(self, report: CheckReport) -> None:
        if (report.project, report.version, report.revision) != self._target:
            return
        self._report = report
        self._rebuild()
        self._refresh_sbom()
        self.report_changed.emit()
        self.detail_changed.emit(self.selected)

    def _rebuild(self) -> None:
        results = self._report.results if self._report else []
        self.results.set_results([r for r in results if self.accepts(r)], self._grouping)
        self.results_changed.emit()

    # --- SBOMs ----------------------------------------------------------------------------------

    def sbom_artifacts(self) -> list[str]:
        """Artifacts whose SBOM the ``sbom`` check summarised (with its components)."""
        return [r.artifact for r in self._sbom_results()]

    @property
    def sbom_artifact(self) -> str | None:
        return self._sbom_artifact

    def show_sbom(self, artifact: str | None) -> None:
        self._sbom_artifact = artifact
        self._refresh_sbom()

    def sbom_summary(self) -> str:
        """Counts of the SBOM on screen: components per license category, those left out."""
        result = self._sbom_result(self._sbom_artifact)
        if result is None:
            return ""
        components = self.components.components()
        counts = category_counts(components)
        parts = [f"{n} {_CATEGORY_WORDS[name]}" for name, n in counts.items() if n]
        text = f"{len(components)} component{'s' if len(components) != 1 else ''}"
        if parts:
            text += ": " + " · ".join(parts)
        omitted = result.data.get("components_omitted")
        if isinstance(omitted, int) and omitted > 0:
            text += f" ({omitted} more not listed by the check)"
        return text

    def save_sbom(self, dest: Path) -> asyncio.Task[Path] | None:
        """Download the SBOM on screen from the agent into ``dest``."""
        if self._target is None or self._sbom_artifact is None:
            return None
        project, version, revision = self._target
        artifact = self._sbom_artifact
        task = self.session.download_sbom(project, version, revision, artifact, dest)

        def done(t: asyncio.Task[Path]) -> None:
            if not t.cancelled() and t.exception() is None:
                self.status_message.emit(f"SBOM of {artifact} saved to {t.result()}")

        task.add_done_callback(done)
        return task

    def _sbom_results(self) -> list[CheckResultOut]:
        if self._report is None:
            return []
        return [  # the summary (a pass) lists the components; a warning may name some too
            r
            for r in self._report.results
            if r.check == SBOM_CHECK
            and original_status(r) == "pass"
            and isinstance(r.data.get("components"), list)
        ]

    def _sbom_result(self, artifact: str | None) -> CheckResultOut | None:
        return next((r for r in self._sbom_results() if r.artifact == artifact), None)

    def _refresh_sbom(self) -> None:
        artifacts = self.sbom_artifacts()
        if self._sbom_artifact not in artifacts:
            self._sbom_artifact = artifacts[0] if artifacts else None
        result = self._sbom_result(self._sbom_artifact)
        raw = result.data.get("components", []) if result is not None else []
        self.components.set_components(
            [Component.from_data(item) for item in raw if isinstance(item, dict)]
        )
        self.sbom_changed.emit()

    # --- ignore rules ---------------------------------------------------------------------------

    def role(self) -> Role:
        return self._role()

    @property
    def can_edit_policy(self) -> bool:
        return self._target is not None and self.role().rank >= Role.PMC.rank

    def policy_read_only_reason(self) -> str:
        """Why the user may not change the policy ('' when they may)."""
        if self._target is None:
            return "select a release first"
        role = self.role()
        if role.rank >= Role.PMC.rank:
            return ""
        return f"changing the project's ignore rules needs the pmc role (you are {role.value})"

    def ignore_refusal(self, result: CheckResultOut | None) -> str:
        """Why "Ignore this result…" is not offered for ``result`` ('' when it is)."""
        if result is None:
            return "select a result first"
        if result.ignored is not None:
            return f"already ignored by rule {result.ignored.rule + 1}: {result.ignored.reason}"
        status = original_status(result)
        if status == "pass":
            return "a passing result needs no ignore rule"
        if result.data.get("could_not_run"):
            return "a check that could not run cannot be ignored: it says nothing yet"
        if status == "blocker":
            refused = unignorable_reason(result.check, "blocker")
            if refused:
                return refused
        return self.policy_read_only_reason()

    def policy_editor(self) -> PolicyEditorViewModel | None:
        """The ignore-rule editor of the shown release's project (read-only for committers)."""
        if self._target is None:
            return None
        return PolicyEditorViewModel(
            self.session,
            project=self._target[0],
            report=self._report,
            can_edit=self.can_edit_policy,
            read_only_reason=self.policy_read_only_reason(),
            parent=self,
        )

    def rule_for(self, result: CheckResultOut) -> RuleDraft:
        """The rule "Ignore this result…" proposes."""
        return RuleDraft.for_result(result)
