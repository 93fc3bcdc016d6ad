"""The ignore-rule editor: a project's rules, edited as a draft and saved with a reason.

A rule ignores the results of one check whose path matches a glob (and, if given,
whose severity is one status), for a written reason; the agent keeps ignored
results in the report, out of the count. Blockers of ``signatures`` and
``checksums`` can never be ignored: a rule limited to them is refused here with
the reason, before anything is sent (as the agent would refuse it); a rule on
those checks without a status ignores only their warnings and notes. Only PMC members may change the
policy; others see the rules read-only.
"""

from __future__ import annotations

import asyncio
import glob
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError as PydanticValidationError
from PySide6.QtCore import QObject, Signal

from desktop.models.checks import original_status
from desktop.models.ignore_rules import IgnoreRulesModel, RuleRow
from desktop.qtsignals import disconnect
from desktop.session import Session
from shared.checks.policy import UNIGNORABLE_CHECKS, IgnoreRule, Policy
from shared.errors import ValidationError
from shared.protocol.checks import CheckReport, CheckResultOut, PolicyOut, PolicyUpdate

RuleStatus = Literal["blocker", "warning", "note"]
RULE_STATUSES: tuple[RuleStatus | None, ...] = (None, "blocker", "warning", "note")
"""What a rule may be limited to: ``None`` is every result that does not pass."""


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """The fields of the rule dialog, before they make an :class:`IgnoreRule`."""

    check: str = ""
    path: str = "*"
    status: RuleStatus | None = None
    reason: str = ""

    @classmethod
    def from_rule(cls, rule: IgnoreRule) -> RuleDraft:
        return cls(rule.check, rule.path, rule.status, rule.reason)

    @classmethod
    def for_result(cls, result: CheckResultOut) -> RuleDraft:
        """A rule ignoring exactly this result: its check, its path (glob-escaped), its status."""
        status = original_status(result)
        return cls(
            check=result.check,
            path=glob.escape(result.path) if result.path else "",
            status=next((s for s in RULE_STATUSES if s == status), None),
        )

    def cleaned(self) -> RuleDraft:
        return RuleDraft(self.check.strip(), self.path.strip(), self.status, self.reason.strip())


def unignorable_reason(check: str, status: str | None) -> str:
    """Why ignoring ``status`` results of ``check`` is refused ('' when it is allowed)."""
    if check in UNIGNORABLE_CHECKS and status == "blocker":
        return (
            f"blockers of the {check} check can never be ignored: a release whose signatures "
            "or checksums fail cannot go to a vote. Fix the artifacts instead "
            "(a rule for this check's warnings or notes is allowed)."
        )
    return ""


def rule_problem(draft: RuleDraft, *, known_checks: Sequence[str] = ()) -> str:
    """What is wrong with a rule, in a sentence for people ('' when nothing is).

    ``known_checks``, when given, are the check ids that exist (a rule naming
    another would ignore nothing; the agent refuses it).
    """
    draft = draft.cleaned()
    problems = (
        (not draft.check, "choose the check whose results the rule ignores"),
        (
            bool(known_checks) and draft.check not in known_checks,
            f"there is no check {draft.check!r} (checks: {', '.join(known_checks)})",
        ),
        (not draft.path, "give a path glob (* matches every path)"),
        (
            draft.status not in RULE_STATUSES,
            f"a rule cannot be limited to {draft.status!r} results",
        ),
        (True, unignorable_reason(draft.check, draft.status)),
        (
            not draft.reason,
            "write the reason: it is kept with the rule and shown beside each result it ignores",
        ),
    )
    return next((text for failed, text in problems if failed and text), "")


def rule_matches(rule: IgnoreRule | RuleDraft, result: CheckResultOut) -> bool:
    """Whether the rule would ignore this result (passes and unignorable blockers never)."""
    status = original_status(result)
    if status == "pass" or result.data.get("could_not_run"):
        return False
    if status == "blocker" and result.check in UNIGNORABLE_CHECKS:
        return False
    if isinstance(rule, RuleDraft):
        rule = IgnoreRule(check=rule.check, path=rule.path, status=rule.status, reason="-")
    return rule.matches(result.check, result.path, status)


class PolicyEditorViewModel(QObject):
    """One project's ignore rules: loaded from the agent, edited as a draft, saved at once."""

    loaded_changed = Signal()
    """the policy arrived (or arrived again); :attr:`loaded` is true from then on"""
    rules_changed = Signal()
    saving_changed = Signal(bool)
    saved = Signal()
    stale_changed = Signal(bool)
    """someone else changed the policy while this draft has unsaved edits"""

    def __init__(
        self,
        session: Session,
        *,
        project: str,
        report: CheckReport | None = None,
        can_edit: bool = True,
        read_only_reason: str = "",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self.project = project
        self.report = report
        self.can_edit = can_edit
        self.read_only_reason = "" if can_edit else read_only_reason
        self.rules = IgnoreRulesModel(self)
        self._policy: Policy | None = None
        self._based_on: datetime | None = None
        self._updated_by: str | None = None
        self._draft: list[IgnoreRule] = []
        self._latest: tuple[Policy, datetime | None, str | None] | None = None
        self._dirty = False
        self._stale = False
        self._saving: asyncio.Task[PolicyOut] | None = None
        self._closed = False
        self._following = session.policy_loaded.connect(self._on_policy)
        session.load_policy(project)

    # --- what the dialog reads ------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._policy is not None

    @property
    def dirty(self) -> bool:
        """The draft differs from the policy loaded."""
        return self._dirty

    @property
    def stale(self) -> bool:
        return self._stale

    @property
    def saving(self) -> bool:
        return self._saving is not None and not self._saving.done()

    @property
    def updated_note(self) -> str:
        """Who changed the policy last and when, for the dialog's header."""
        if self._policy is None:
            return "loading the policy…"
        if self._based_on is None:
            return "no change since the project was created"
        who = f" by {self._updated_by}" if self._updated_by else ""
        return f"last changed{who} on {self._based_on:%Y-%m-%d %H:%M} UTC"

    def draft_rules(self) -> list[IgnoreRule]:
        return list(self._draft)

    def known_checks(self) -> list[str]:
        """Check ids for the dialog's list: those of the report and of the rules."""
        names = {rule.check for rule in self._draft} | set(self._report_checks())
        return sorted(names)

    def _report_checks(self) -> list[str]:
        """The checks the agent ran on the revision on screen: every registered one."""
        if self.report is None:
            return []
        return sorted({run.check for run in self.report.runs})

    def problem(self, draft: RuleDraft, *, editing: int | None = None) -> str:
        """What is wrong with ``draft`` as a new rule (or as rule ``editing``)."""
        problem = rule_problem(draft, known_checks=self._report_checks())
        if problem:
            return problem
        clean = draft.cleaned()
        for row, rule in enumerate(self._draft):
            same = (rule.check, rule.path, rule.status) == (clean.check, clean.path, clean.status)
            if same and row != editing:
                return f"rule {row + 1} already ignores the same results"
        return ""

    def matches(self, draft: RuleDraft) -> int | None:
        """How many results of the revision on screen the rule ignores (``None``: no report)."""
        if self.report is None or not draft.check.strip():
            return None
        clean = draft.cleaned()
        return sum(1 for result in self.report.results if rule_matches(clean, result))

    def match_note(self, draft: RuleDraft) -> str:
        count = self.matches(draft)
        if count is None:
            return ""
        where = f"revision {self.report.revision}" if self.report else "this revision"
        note = f"matches {count} result{'s' if count != 1 else ''} of {where}"
        if count == 0:
            note = f"matches no result of {where}"
        clean = draft.cleaned()
        if clean.check in UNIGNORABLE_CHECKS and clean.status is None:
            note += f" (blockers of {clean.check} still count: they can never be ignored)"
        return note

    # --- editing --------------------------------------------------------------------------------

    def add(self, draft: RuleDraft) -> int:
        """Append a rule to the draft and return its row; ValidationError names a problem."""
        self._draft.append(self._rule(draft, editing=None))
        self._changed()
        return len(self._draft) - 1

    def replace(self, row: int, draft: RuleDraft) -> None:
        self._draft[row] = self._rule(draft, editing=row)
        self._changed()

    def remove(self, row: int) -> None:
        self._need_edit()
        if 0 <= row < len(self._draft):
            del self._draft[row]
            self._changed()

    def revert(self) -> None:
        """Drop the draft's edits: back to the policy last loaded."""
        self._adopt(self._policy, self._based_on, self._updated_by)

    def default_change_reason(self) -> str:
        """A summary of the edits, offered as the change reason."""
        if self._policy is None:
            return ""
        before = list(self._policy.ignores)
        added = [r for r in self._draft if r not in before]
        removed = [r for r in before if r not in self._draft]
        parts = [f"ignore {r.check} results on {r.path}: {r.reason}" for r in added]
        parts += [f"stop ignoring {r.check} results on {r.path}" for r in removed]
        return "; ".join(parts)

    def save(self, reason: str) -> asyncio.Task[PolicyOut]:
        """Send the draft as the project's policy, with ``reason`` recorded in the event."""
        self._need_edit()
        if self._policy is None:
            raise ValidationError("the policy has not arrived from the agent yet")
        if not reason.strip():
            raise ValidationError("write why the policy changes: it is kept in the event log")
        if self.saving:
            raise ValidationError("the policy is being saved already")
        update = PolicyUpdate(policy=self._draft_policy().model_dump(mode="json"), reason=reason)
        task = self._session.update_policy(self.project, update, based_on=self._based_on)
        self._saving = task
        self.saving_changed.emit(True)
        task.add_done_callback(self._saved)
        return task

    def report_problem(self, text: str) -> None:
        """Show a failure in the application's one error place."""
        self._session.error.emit(text)

    def close(self) -> None:
        """The editor closed: stop following the policy (calling it again does nothing)."""
        if self._closed:
            return
        self._closed = True
        disconnect(self._following)
        self._session.forget_policy()
        self.setParent(None)  # no longer kept alive by its parent: gone with the editor's view

    # --- internals ------------------------------------------------------------------------------

    def _need_edit(self) -> None:
        if not self.can_edit:
            raise ValidationError(self.read_only_reason or "you may not change this policy")

    def _rule(self, draft: RuleDraft, *, editing: int | None) -> IgnoreRule:
        self._need_edit()
        problem = self.problem(draft, editing=editing)
        if problem:
            raise ValidationError(problem)
        clean = draft.cleaned()
        return IgnoreRule(
            check=clean.check, path=clean.path, status=clean.status, reason=clean.reason
        )

    def _draft_policy(self) -> Policy:
        base = self._policy or Policy()
        return base.model_copy(update={"ignores": tuple(self._draft)})

    def _changed(self) -> None:
        self._dirty = self._policy is None or self._draft != list(self._policy.ignores)
        self._render()

    def _render(self) -> None:
        saved = list(self._policy.ignores) if self._policy is not None else []
        self.rules.set_rows(
            [RuleRow(rule, rule not in saved, self._count(rule)) for rule in self._draft]
        )
        self.rules_changed.emit()

    def _count(self, rule: IgnoreRule) -> int | None:
        if self.report is None:
            return None
        return sum(1 for result in self.report.results if rule_matches(rule, result))

    def _on_policy(self, out: PolicyOut) -> None:
        if out.project != self.project:
            return
        try:
            policy = Policy.model_validate(out.policy)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.report_problem(
                f"the agent sent a policy for {self.project} that is not valid: "
                f"{where}: {first['msg']}"
            )
            return
        same_as_draft = self._policy is not None and policy == self._draft_policy()
        if self._dirty and not same_as_draft:
            self._latest = (policy, out.updated_at, out.updated_by)
            self._set_stale(True)
            return
        self._adopt(policy, out.updated_at, out.updated_by)

    def reload(self) -> None:
        """Take the agent's newest policy, dropping the draft's edits."""
        latest = self._latest
        if latest is not None:
            self._adopt(*latest)
        else:
            self.revert()
        self._session.load_policy(self.project)

    def _adopt(self, policy: Policy | None, at: datetime | None, by: str | None) -> None:
        self._policy = policy
        self._based_on = at
        self._updated_by = by
        self._draft = list(policy.ignores) if policy is not None else []
        self._dirty = False
        self._latest = None
        self._set_stale(False)
        self._render()
        self.loaded_changed.emit()

    def _set_stale(self, stale: bool) -> None:
        if stale != self._stale:
            self._stale = stale
            self.stale_changed.emit(stale)

    def _saved(self, task: asyncio.Task[PolicyOut]) -> None:
        self.saving_changed.emit(False)
        if task.cancelled() or task.exception() is not None:
            return  # the session showed the error in the one error place
        out = task.result()
        self._adopt(Policy.model_validate(out.policy), out.updated_at, out.updated_by)
        self.saved.emit()
