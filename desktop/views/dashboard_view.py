"""The project dashboard: how the project releases, and how its releases went, in charts.

Charts are Qt Charts (PySide6-Addons, already a dependency of the desktop: no new library,
drawn natively, themed with the application, packaged by PyInstaller with the rest of Qt):

* releases per year (bars);
* hours from first upload to the vote, of the vote, and from passed to announced, for the
  latest releases made through the agent (stacked bars, one per release);
* check failures by check (horizontal bars).

Beside them, the release practice: the steps, the vote rules, the channels, the manual
steps and the release managers, and what the releases in progress wait for.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.theme import MUTED_TEXT
from desktop.viewmodels.dashboard import Dashboard, DashboardViewModel

BLUE, PURPLE, GREEN, RED = "#1e88e5", "#8e24aa", "#2e7d32", "#c62828"


def _chart(title: str) -> tuple[QChart, QChartView]:
    chart = QChart()
    chart.setTitle(title)
    font = QFont(chart.titleFont())
    font.setPointSizeF(font.pointSizeF() * 1.1)
    font.setBold(True)
    chart.setTitleFont(font)
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.setMargins(QMargins(4, 4, 4, 4))
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    view = QChartView(chart)
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.setMinimumHeight(250)
    return chart, view


TICKS = 5
"""Ticks on a value axis: its maximum is a multiple of TICKS - 1 nice steps, so every tick
falls on a whole number."""


def _nice_max(value: float) -> float:
    """The axis maximum: (TICKS - 1) times a step of 1, 2 or 5 times 10^n, at least ``value``."""
    intervals = TICKS - 1
    if value <= 0:
        return float(intervals)
    step = 1.0
    while step * intervals < value:
        for factor in (2.0, 2.5, 2.0):  # 1 → 2 → 5 → 10 …
            step *= factor
            if step * intervals >= value:
                break
    while step >= 2 and (step / 2) * intervals >= value and (step / 2).is_integer():
        step /= 2
    return step * intervals


def duration_unit(hours: float) -> tuple[str, float]:
    """The unit that suits spans up to ``hours`` long, and how many of it an hour is."""
    if hours >= 72:
        return "days", 1 / 24
    if hours >= 2:
        return "hours", 1.0
    if hours >= 2 / 60:
        return "minutes", 60.0
    return "seconds", 3600.0


def human_hours(hours: float) -> str:
    """``hours`` said the way a person would: 40 s, 12 min, 3.5 h, 4.2 days."""
    unit, per_hour = duration_unit(hours)
    value = hours * per_hour
    short = {"days": "days", "hours": "h", "minutes": "min", "seconds": "s"}[unit]
    return f"{value:.0f} {short}" if value >= 10 else f"{value:.1f} {short}"


def _value_axis(top: float, *, title: str = "") -> QValueAxis:
    axis = QValueAxis()
    axis.setRange(0, _nice_max(top))
    axis.setTickCount(TICKS)
    axis.setLabelFormat("%d")
    if title:
        axis.setTitleText(title)
    return axis


class DashboardView(QWidget):
    """Renders a :class:`DashboardViewModel`."""

    def __init__(self, vm: DashboardViewModel, projects: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.vm = vm
        self.project_box = QComboBox()
        self.project_box.addItems(projects)
        self.project_box.currentTextChanged.connect(self._project_chosen)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {MUTED_TEXT}")

        self.year_chart, self.year_view = _chart("Releases per year")
        self.time_chart, self.time_view = _chart(
            "Time per release (the latest made with the agent)"
        )
        self.check_chart, self.check_view = _chart("Check failures by check")
        self.practice = QLabel()
        self.practice.setWordWrap(True)
        self.practice.setTextFormat(Qt.TextFormat.RichText)
        self.practice.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.practice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        practice_scroll = QScrollArea()
        practice_scroll.setWidgetResizable(True)
        practice_scroll.setWidget(self.practice)
        practice_scroll.setMinimumWidth(420)

        top = QHBoxLayout()
        top.addWidget(QLabel("Project:"))
        top.addWidget(self.project_box)
        top.addWidget(self.summary, 1)
        charts = QGridLayout()
        charts.addWidget(self.year_view, 0, 0)
        charts.addWidget(self.check_view, 0, 1)
        charts.addWidget(self.time_view, 1, 0, 1, 2)
        body = QHBoxLayout()
        body.addLayout(charts, 3)
        body.addWidget(practice_scroll, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        layout.addWidget(self.status)
        vm.loaded.connect(self.show_dashboard)
        vm.busy_changed.connect(lambda busy, what: self.status.setText(f"{what}…" if busy else ""))
        vm.failed.connect(self.status.setText)
        if projects:
            self._project_chosen(projects[0])

    def _project_chosen(self, project: str) -> None:
        if project:
            self.vm.load(project)

    # --- rendering ----------------------------------------------------------------------------

    def show_dashboard(self, found: Dashboard) -> None:
        stats, practice = found.stats, found.practice
        times = [
            s.vote_hours for s in stats.releases if s.vote_hours is not None
        ]  # for the summary
        parts = [f"<b>{escape(practice.name)}</b> — {practice.releases} releases"]
        if practice.imported:
            parts.append(f"{practice.imported} recorded from the dist repository")
        if stats.median_vote_hours is not None:
            parts.append(f"median vote {human_hours(stats.median_vote_hours)} ({len(times)} votes)")
        if stats.median_upload_to_vote_hours is not None:
            parts.append(
                f"median first upload → vote {human_hours(stats.median_upload_to_vote_hours)}"
            )
        self.summary.setText(" · ".join(parts))
        self._years(found)
        self._times(found)
        self._checks(found)
        self.practice.setText(_practice_html(found))

    def _reset(self, chart: QChart) -> None:
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)

    def _years(self, found: Dashboard) -> None:
        chart = self.year_chart
        self._reset(chart)
        rows = found.per_year
        bars = QBarSet("Releases")
        bars.setColor(QColor(BLUE))
        for _year, count in rows:
            bars.append(count)
        series = QBarSeries()
        series.append(bars)
        series.setBarWidth(0.7)
        chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append([year for year, _ in rows] or ["—"])
        x.setLabelsAngle(-90 if len(rows) > 6 else 0)
        y = _value_axis(max((c for _, c in rows), default=1))
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x)
        series.attachAxis(y)
        chart.legend().setVisible(False)

    def _times(self, found: Dashboard) -> None:
        chart = self.time_chart
        self._reset(chart)
        rows = found.durations
        longest = max(
            (r.upload_to_vote + r.vote + r.passed_to_announced for r in rows), default=1.0
        )
        unit, per_hour = duration_unit(longest)
        chart.setTitle(f"Time per release, in {unit} (the latest made with the agent)")
        sets = []
        for label, colour, attr in (
            ("first upload → vote", BLUE, "upload_to_vote"),
            ("vote", PURPLE, "vote"),
            ("passed → announced", GREEN, "passed_to_announced"),
        ):
            bars = QBarSet(label)
            bars.setColor(QColor(colour))
            for row in rows:
                bars.append(round(getattr(row, attr) * per_hour, 2))
            sets.append(bars)
        series = QStackedBarSeries()
        for bars in sets:
            series.append(bars)
        chart.addSeries(series)
        x = QBarCategoryAxis()
        x.append([row.version for row in rows] or ["no release through the agent yet"])
        y = _value_axis(longest * per_hour, title=unit)
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(x)
        series.attachAxis(y)
        chart.legend().setVisible(True)

    def _checks(self, found: Dashboard) -> None:
        chart = self.check_chart
        self._reset(chart)
        rows = list(reversed(found.check_failures))  # the largest at the top
        bars = QBarSet("Failures")
        bars.setColor(QColor(RED))
        for _check, count in rows:
            bars.append(count)
        series = QHorizontalBarSeries()
        series.append(bars)
        series.setBarWidth(0.6)
        chart.addSeries(series)
        y = QBarCategoryAxis()
        y.append([check for check, _ in rows] or ["no check failed"])
        x = _value_axis(max((c for _, c in rows), default=1))
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(x)
        series.attachAxis(y)
        chart.legend().setVisible(False)


def _practice_html(found: Dashboard) -> str:
    p = found.practice
    muted = f"color:{MUTED_TEXT}"
    out = [f"<h3>How {escape(p.name)} releases</h3><ol>"]
    out += [f"<li>{escape(step)}</li>" for step in p.steps]
    out.append("</ol>")
    out.append(
        f"<p><b>Vote</b>: on {escape(p.vote_list)}, at least {p.vote_min_hours} h; binding: "
        f"{escape(p.binding_voters)}.</p>"
    )
    channels = ", ".join(f"{escape(c.name)} ({escape(c.kind)})" for c in p.channels)
    out.append(f"<p><b>Channels</b>: {channels}</p>")
    manual = "".join(f"<li>{escape(s)}</li>" for s in p.manual_steps)
    out.append(
        f"<p><b>Manual steps</b>:</p><ol>{manual}</ol>"
        if manual
        else f"<p><b>Manual steps</b>: <span style='{muted}'>none</span></p>"
    )
    if p.release_managers:
        rows = "".join(
            f"<tr><td>{escape(m.name)}</td><td align='right'>{m.releases}</td>"
            f"<td>{escape(m.last_version)}</td>"
            f"<td style='{muted}'>{m.last_at:%Y-%m-%d}</td></tr>"
            if m.last_at
            else f"<tr><td>{escape(m.name)}</td><td align='right'>{m.releases}</td>"
            f"<td>{escape(m.last_version)}</td><td></td></tr>"
            for m in p.release_managers
        )
        out.append(
            "<p><b>Release managers</b></p><table cellspacing='0' cellpadding='3'>"
            f"<tr style='{muted}'><td>who</td><td>releases</td><td>latest</td><td></td></tr>"
            f"{rows}</table>"
        )
    if p.in_progress:
        out.append("<p><b>In progress</b></p><ul>")
        for release in p.in_progress:
            steps = "; ".join(
                ("⏳ " if not s.waiting_for_person else f"{escape(s.role)}: ") + escape(s.title)
                for s in release.steps
            )
            out.append(
                f"<li><b>{escape(release.version)}</b> "
                f"<span style='{muted}'>({release.phase.value})</span> — "
                f"{steps or 'nothing waits'}</li>"
            )
        out.append("</ul>")
    return "".join(out)


class DashboardWindow(QDialog):
    """Project → Dashboard…: the dashboard in a window of its own."""

    def __init__(
        self, vm: DashboardViewModel, projects: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Project dashboard")
        self.setModal(False)
        self.resize(1360, 860)
        self.view = DashboardView(vm, projects)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
