"""The votes screen: the votes of your projects (open, passed, failed), the live tally, the
candidate verified here, cast a ballot — and the ballot you cast.

Widgets only: every action goes to :class:`~desktop.viewmodels.votes.VotesViewModel`.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_size
from desktop.models.votes import (
    FAIL_COLOUR,
    MINUS,
    OK_COLOUR,
    VALUE_COLOURS,
    VALUES,
    VoteRole,
    is_open,
    standing,
    time_left,
)
from desktop.theme import MUTED_TEXT
from desktop.verify import Verification
from desktop.viewmodels.votes import VoteFilter, VotesViewModel
from desktop.views.style import heading, row_table
from shared.protocol.votes import BallotOut, BallotValue, VoteOut
from shared.votes import SOURCE_TEXT

PLACEHOLDER = (
    "<p style='font-size:large'>Select a vote on the left</p>"
    "<p>The votes on the releases of your projects are listed there — open ones first, then "
    "the passed, failed and cancelled ones with their tally and ballots; an open vote's "
    "tally follows every ballot live.</p>"
)
FILTERS: tuple[tuple[str, VoteFilter], ...] = (
    ("All votes", "all"),
    ("Open", "open"),
    ("Decided", "decided"),
)
_PERMILLE = 1000


def _value_label(value: str) -> str:
    return value.replace("-", MINUS)


class TallyBox(QFrame):
    """Three large counts (+1, 0, -1) under a caption."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(self)
        title = QLabel(caption)
        title.setStyleSheet("font-weight: 600;")
        grid.addWidget(title, 0, 0, 1, 3)
        self.counts: dict[str, QLabel] = {}
        for column, value in enumerate(VALUES):
            number = QLabel("0")
            number.setAlignment(Qt.AlignmentFlag.AlignCenter)
            number.setStyleSheet(
                f"font-size: 22pt; font-weight: bold; color: {VALUE_COLOURS[value]};"
            )
            label = QLabel(_value_label(value))
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet(f"color: {MUTED_TEXT};")
            grid.addWidget(number, 1, column)
            grid.addWidget(label, 2, column)
            self.counts[value] = number

    def show_counts(self, counts: dict[BallotValue, int]) -> None:
        for value, label in self.counts.items():
            label.setText(str(counts.get(value, 0)))  # type: ignore[call-overload]


class VotesView(QWidget):
    """Renders a :class:`VotesViewModel`."""

    def __init__(self, vm: VotesViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_list())
        self._stack = QStackedWidget()
        placeholder = QLabel(PLACEHOLDER)
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setWordWrap(True)
        placeholder.setStyleSheet(f"color: {MUTED_TEXT};")
        self._stack.addWidget(placeholder)
        self._stack.addWidget(self._build_detail())
        splitter.addWidget(self._stack)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([400, 960])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        vm.vote_shown.connect(self._show_vote)
        vm.verification_changed.connect(self._show_verification)
        vm.stage_changed.connect(self._stage_changed)
        # bound methods, not lambdas: Qt drops them with this window; the view-model stays
        vm.busy_changed.connect(self._update_ballot)
        vm.message.connect(self._note)
        vm.failed.connect(self._failure)
        vm.ballot_cast.connect(self._ballot_cast)
        vm.votes.modelReset.connect(self._votes_reset)
        self._shown_id: int | None = None
        """the vote whose ballot choice was set from the user's own ballot"""
        self._show_vote(vm.vote)
        self._votes_reset()

    # --- building -------------------------------------------------------------------------------

    def _build_list(self) -> QGroupBox:
        box = QGroupBox("Votes of your projects")
        self.filter_combo = QComboBox()
        for label, which in FILTERS:
            self.filter_combo.addItem(label, which)
        self.filter_combo.setCurrentIndex(
            next(i for i, (_l, w) in enumerate(FILTERS) if w == self.vm.vote_filter)
        )
        self.filter_combo.setToolTip("Open votes first, then the decided ones, newest first")
        self.filter_combo.currentIndexChanged.connect(self._filter_changed)
        self.votes_table = row_table()
        self.votes_table.setModel(self.vm.votes)
        header = self.votes_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        for column in (1, 3, 4):  # revision and counts: the detail pane shows them
            self.votes_table.setColumnHidden(column, True)
        self.votes_table.selectionModel().selectionChanged.connect(self._table_selection)
        self.empty_votes = QLabel("No vote of your projects to show.")
        self.empty_votes.setStyleSheet(f"color: {MUTED_TEXT};")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.vm.refresh)
        row = QHBoxLayout()
        row.addWidget(self.empty_votes)
        row.addStretch(1)
        row.addWidget(refresh)
        layout = QVBoxLayout(box)
        layout.addWidget(self.filter_combo)
        layout.addWidget(self.votes_table, 1)
        layout.addLayout(row)
        return box

    def _build_detail(self) -> QWidget:
        page = QWidget()
        self.title = heading("", scale=1.5)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet(f"color: {MUTED_TEXT};")
        self.links = QLabel()
        self.links.setOpenExternalLinks(True)
        self.links.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)

        self.binding_box = TallyBox("Binding (PMC)")
        self.non_binding_box = TallyBox("Non-binding")
        self.standing_label = QLabel()
        self.standing_label.setWordWrap(True)
        self.standing_label.setStyleSheet("font-size: 11pt;")
        self.standing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tally = QHBoxLayout()
        tally.addWidget(self.binding_box)
        tally.addWidget(self.non_binding_box)
        tally.addWidget(self.standing_label, 1)

        layout = QVBoxLayout(page)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.links)
        layout.addLayout(tally)
        layout.addWidget(self._build_verification(), 2)
        layout.addWidget(self._build_ballot())
        layout.addWidget(self._build_ballots(), 2)
        return page

    def _build_verification(self) -> QGroupBox:
        box = QGroupBox("1 · Verify the candidate on this computer")
        self.verify_button = QPushButton("Download and verify")
        self.verify_button.setToolTip(
            "Download every file of the revision under vote, check each artifact's signature "
            "against the project's KEYS with GnuPG, its checksum files and the agent's hashes"
        )
        self.verify_button.clicked.connect(self._verify)
        self.progress = QProgressBar()
        self.progress.setRange(0, _PERMILLE)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.verify_summary = QLabel()
        self.verify_summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.verify_button)
        top.addWidget(self.progress, 1)
        top.addWidget(self.verify_summary, 3)
        self.files_table = row_table()
        self.files_table.setModel(self.vm.files)
        header = self.files_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.folder_label = QLabel()
        self.folder_label.setStyleSheet(f"color: {MUTED_TEXT};")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.files_table, 1)
        layout.addWidget(self.folder_label)
        return box

    def _build_ballot(self) -> QGroupBox:
        box = QGroupBox("2 · Your ballot — clear-signed with your key")
        self.value_group = QButtonGroup(self)
        self.value_buttons: dict[str, QRadioButton] = {}
        values = QHBoxLayout()
        for value in VALUES:
            button = QRadioButton(_value_label(value))
            button.setStyleSheet(f"font-weight: bold; color: {VALUE_COLOURS[value]};")
            self.value_group.addButton(button)
            self.value_buttons[value] = button
            values.addWidget(button)
        self.value_buttons["0"].setChecked(True)
        self.binding_note = QLabel()
        self.binding_note.setStyleSheet(f"color: {MUTED_TEXT};")
        values.addSpacing(12)
        values.addWidget(self.binding_note, 1)
        self.comment_edit = QLineEdit()
        self.comment_edit.setPlaceholderText(
            "Comment (optional): what you checked, why you vote so"
        )
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_edit.setPlaceholderText("key passphrase")
        self.passphrase_edit.setMaximumWidth(200)
        self.passphrase_edit.textChanged.connect(lambda _t: self._update_ballot())
        self.my_ballot_label = QLabel()
        self.my_ballot_label.setWordWrap(True)
        self.cast_button = QPushButton("Sign and cast")
        self.cast_button.clicked.connect(self._cast)
        self.value_group.buttonToggled.connect(lambda _b, _on: self._update_ballot())
        send = QHBoxLayout()
        send.addWidget(self.comment_edit, 1)
        send.addWidget(self.passphrase_edit)
        send.addWidget(self.cast_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ballot = QVBoxLayout(box)
        ballot.addWidget(self.my_ballot_label)
        ballot.addLayout(values)
        ballot.addLayout(send)
        ballot.addWidget(self.status)
        return box

    def _build_ballots(self) -> QGroupBox:
        box = QGroupBox("Ballots")
        self.ballots_table = row_table()
        self.ballots_table.setModel(self.vm.ballots)
        header = self.ballots_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        QVBoxLayout(box).addWidget(self.ballots_table)
        return box

    # --- rendering ------------------------------------------------------------------------------

    def _votes_reset(self) -> None:
        count = self.vm.votes.rowCount()
        self.empty_votes.setVisible(count == 0)
        vote = self.vm.vote
        if vote is not None:
            row = self.vm.votes.row_of_id(vote.id)
            if row >= 0:
                self.votes_table.selectRow(row)
        elif count:
            self.votes_table.selectRow(0)

    def _filter_changed(self, index: int) -> None:
        self.vm.set_filter(FILTERS[index][1])

    def _table_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:
            vote = self.vm.votes.data(indexes[0], VoteRole)
            if isinstance(vote, VoteOut) and (self.vm.vote is None or self.vm.vote.id != vote.id):
                self.vm.select_vote(vote)

    def _show_vote(self, vote: VoteOut | None) -> None:
        if vote is None:
            self._stack.setCurrentIndex(0)
            return
        self._stack.setCurrentIndex(1)
        round_note = " — Incubator round" if vote.round == "incubator" else ""
        self.title.setText(f"{vote.project} {vote.version}{round_note}")
        security = " · security release" if vote.security else ""
        if is_open(vote):
            ends = vote.ends_at.astimezone().strftime("%Y-%m-%d %H:%M")
            when = f"ends {ends} ({time_left(vote.ends_at)})"
        else:
            decided = (vote.decided_at or vote.ends_at).astimezone().strftime("%Y-%m-%d %H:%M")
            when = f"{vote.tally.outcome} {decided}"
        self.subtitle.setText(
            f"revision {vote.revision} · started by {vote.started_by} · {when} · "
            f"{vote.list_address}{security}"
        )
        self.links.setText(
            f"<a href='{escape(vote.candidate_url)}'>candidate page</a> &nbsp;·&nbsp; "
            f"<a href='{escape(vote.keys_url)}'>KEYS</a>"
        )
        self.binding_box.show_counts(vote.tally.binding)
        self.non_binding_box.show_counts(vote.tally.non_binding)
        text = standing(vote)
        colour = OK_COLOUR if text == "would pass if it ended now" else MUTED_TEXT
        reason = ""
        if vote.tally.outcome != "open":
            colour = OK_COLOUR if vote.tally.outcome == "passed" else FAIL_COLOUR
            reason = f"<br><span style='color:{MUTED_TEXT}'>{escape(vote.reason)}</span>"
        self.standing_label.setText(
            f"<span style='color:{colour}'><b>{escape(text)}</b></span>{reason}"
        )
        if vote.id != self._shown_id:
            # another vote: the choice starts at the user's own ballot in it, if any (never
            # reset when the same vote reloads, e.g. after casting)
            self._shown_id = vote.id
            self._status("", "")
            mine = self.vm.my_ballot
            self.value_buttons[mine.value if mine is not None else "0"].setChecked(True)
        self._show_verification(self.vm.verification)
        self._update_ballot()

    def _show_verification(self, verification: Verification | None) -> None:
        if verification is None:
            vote = self.vm.vote
            text = (
                "Not verified here yet: +1 needs it."
                if vote is None or is_open(vote)
                else "The vote is over: verifying here is still possible, casting is not."
            )
            self.verify_summary.setText(f"<span style='color:{MUTED_TEXT}'>{text}</span>")
            self.folder_label.setText("")
        else:
            ok = verification.ok
            colour = OK_COLOUR if ok else FAIL_COLOUR
            artifacts = len(verification.artifacts)
            if ok:
                text = (
                    f"✔ {artifacts} artifact{'s' if artifacts != 1 else ''} verified: "
                    f"signatures by keys in KEYS ({verification.keys} keys), checksums match"
                )
            else:
                text = f"✘ {len(verification.problems)} problem(s): {verification.problems[0]}"
            self.verify_summary.setText(
                f"<span style='color:{colour}'><b>{escape(text)}</b></span>"
            )
            folder = self.vm.download_folder
            self.folder_label.setText(f"Downloaded to {folder}" if folder else "")
        self._update_ballot()

    def _stage_changed(self, stage: str, done: int, total: int) -> None:
        running = bool(stage)
        self.progress.setVisible(running)
        self.verify_button.setEnabled(not running)
        if running:
            self.progress.setValue(
                _PERMILLE if total <= 0 else min(_PERMILLE, done * 1000 // total)
            )
            what = "Downloading" if stage == "downloading" else "Verifying"
            self.progress.setFormat(f"{what} {human_size(done)} of {human_size(total)}")

    def _update_ballot(self, *_signal_args: object) -> None:
        vm = self.vm
        plus = self.value_buttons["+1"]
        plus_problem = vm.cast_problem("+1")
        # the user's choice is never changed here: while a ballot is being cast (busy) or when
        # +1 is not possible, the cast button says why instead
        plus.setEnabled(not plus_problem or plus.isChecked())
        plus.setToolTip(plus_problem or "The candidate verified here: you may vote +1")
        value = self.selected_value()
        problem = vm.cast_problem(value)
        vote = vm.vote
        closed = vote is not None and not is_open(vote)
        for button in self.value_buttons.values():
            if button is not plus:
                button.setEnabled(not closed)
        if closed:
            plus.setEnabled(False)
        self.comment_edit.setEnabled(not closed)
        needs_passphrase = vm.needs_passphrase() and not closed
        self.passphrase_edit.setVisible(needs_passphrase)
        ready = not problem and (not needs_passphrase or bool(self.passphrase_edit.text()))
        self.cast_button.setEnabled(ready)
        self.cast_button.setText(
            f"The vote is {vote.tally.outcome}" if closed and vote else self._cast_text(value)
        )
        self.cast_button.setToolTip(problem)
        self._show_my_ballot()
        if closed:
            self.binding_note.setText("")
        elif vote is not None:
            self.binding_note.setText(
                "your vote is binding" if vm.binding else "your vote is non-binding (welcome!)"
            )

    def _cast_text(self, value: BallotValue) -> str:
        mine = self.vm.my_ballot
        shown = _value_label(value)
        if mine is None:
            return f"Sign and cast {shown}"
        if mine.value == value:
            return f"Sign and cast {shown} again"
        return f"Sign and change your vote to {shown}"

    def _show_my_ballot(self) -> None:
        vote, mine = self.vm.vote, self.vm.my_ballot
        if vote is None:
            self.my_ballot_label.setText("")
            return
        if mine is None:
            text = (
                "You have not voted on this release."
                if is_open(vote)
                else f"You did not vote; the vote is {vote.tally.outcome}."
            )
            self.my_ballot_label.setText(f"<span style='color:{MUTED_TEXT}'>{text}</span>")
            return
        kind = "binding" if mine.binding else "non-binding"
        cast = mine.cast_at.astimezone().strftime("%Y-%m-%d %H:%M")
        colour = VALUE_COLOURS[mine.value]
        comment = f" — “{escape(mine.comment)}”" if mine.comment else ""
        self.my_ballot_label.setText(
            f"Your ballot: <b style='color:{colour}'>{_value_label(mine.value)}</b> ({kind}), "
            f"cast {cast}, {escape(SOURCE_TEXT[mine.source])}{comment}"
        )

    def selected_value(self) -> BallotValue:
        for value, button in self.value_buttons.items():
            if button.isChecked():
                return value  # type: ignore[return-value]
        return "0"

    def _note(self, text: str) -> None:
        self._status(text, "")

    def _failure(self, text: str) -> None:
        self._status(text, FAIL_COLOUR)

    def _status(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")

    # --- actions --------------------------------------------------------------------------------

    def _verify(self) -> None:
        self.vm.verify()

    def _cast(self) -> None:
        passphrase = self.passphrase_edit.text() if self.vm.needs_passphrase() else None
        self.vm.cast(self.selected_value(), comment=self.comment_edit.text(), passphrase=passphrase)

    def _ballot_cast(self, ballot: BallotOut) -> None:
        self.comment_edit.clear()
        self.passphrase_edit.clear()
        kind = "binding" if ballot.binding else "non-binding"
        self._status(
            f"✔ Your {kind} {_value_label(ballot.value)} was recorded and goes to "
            f"{self.vm.vote.list_address if self.vm.vote else 'the dev list'}.",
            OK_COLOUR,
        )


class VotesWindow(QDialog):
    """The votes screen in a window of its own (Votes → Open votes…)."""

    def __init__(self, vm: VotesViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Votes")
        self.setModal(False)
        self.resize(1360, 860)
        self.view = VotesView(vm)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        vm.refresh()
