"""A check result as rich text for the detail pane: message, place, ignore, signers, diff, data.

Pure functions from a :class:`~shared.protocol.checks.CheckResultOut` to the HTML
subset Qt's rich-text widgets render. Every value from the agent is escaped.
A LICENSE/NOTICE blocker's ``data.diff`` (a unified diff) is drawn line by line
in a monospace table: removed lines red, added lines green, hunk headers purple.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any

from desktop.theme import CHECK_STATUS_COLOURS, IGNORED_COLOUR, MUTED_TEXT
from shared.protocol.checks import CheckResultOut

MAX_DATA_CHARS = 20_000
"""The pretty-printed data is cut after this many characters (an SBOM can be large)."""
MONO = "font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace;"

_SHOWN_APART = frozenset({"diff", "fingerprints", "user_ids", "ignored"})
"""Data keys drawn in their own section, not repeated in the data dump."""


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a unified diff and what it is."""

    kind: str
    """``file`` (---/+++), ``hunk`` (@@), ``added``, ``removed``, ``context`` or ``note``"""
    text: str


_DIFF_STYLE = {
    "file": ("#f5f5f5", "#424242"),
    "hunk": ("#f3e5f5", "#6a1b9a"),
    "added": ("#e6f4ea", "#1b5e20"),
    "removed": ("#fdecea", "#b71c1c"),
    "context": ("#ffffff", "#212121"),
    "note": ("#ffffff", MUTED_TEXT),
}
"""background and text colour per kind of diff line"""


def parse_unified_diff(text: str) -> list[DiffLine]:
    """Split a unified diff into classified lines (any text is accepted, nothing raises)."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("--- ", "+++ ")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        elif line.startswith(" ") or line == "":
            kind = "context"
        else:
            kind = "note"  # "\ No newline at end of file" and the like
        lines.append(DiffLine(kind, line))
    return lines


def diff_html(text: str) -> str:
    """A unified diff as a coloured, monospace table (one row per line, whitespace kept)."""
    rows = []
    for line in parse_unified_diff(text):
        background, colour = _DIFF_STYLE[line.kind]
        weight = " font-weight: bold;" if line.kind in ("file", "hunk") else ""
        cell = escape(line.text) or "&nbsp;"
        rows.append(
            f'<tr><td bgcolor="{background}" style="color: {colour};{weight}'
            f' white-space: pre; {MONO}">{cell}</td></tr>'
        )
    return (
        '<table width="100%" cellspacing="0" cellpadding="1" '
        f'style="border: 1px solid #e0e0e0;">{"".join(rows)}</table>'
    )


def grouped_fingerprint(fingerprint: str) -> str:
    """``ABCD1234…`` → ``ABCD 1234 …`` (groups of four, as people compare them)."""
    clean = fingerprint.replace(" ", "")
    return " ".join(clean[i : i + 4] for i in range(0, len(clean), 4))


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background-color: {colour}; color: white; font-weight: bold;">'
        f"&nbsp;{escape(text.upper())}&nbsp;</span>"
    )


def _section(title: str) -> str:
    return f'<p style="margin-top: 8px; margin-bottom: 2px;"><b>{escape(title)}</b></p>'


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)] if isinstance(value, str) and value else []


def _signers(data: dict[str, Any]) -> str:
    fingerprints = _strings(data.get("fingerprints"))
    user_ids = _strings(data.get("user_ids"))
    if not fingerprints and not user_ids:
        return ""
    rows = [
        f'<tr><td style="color: {MUTED_TEXT};">fingerprint</td>'
        f'<td style="{MONO}">{escape(grouped_fingerprint(fp))}</td></tr>'
        for fp in fingerprints
    ]
    rows += [
        f'<tr><td style="color: {MUTED_TEXT};">user id</td><td>{escape(uid)}</td></tr>'
        for uid in user_ids
    ]
    for key, label in (
        ("signing_key", "signing key"),
        ("algorithm", "algorithm"),
        ("hash", "hash"),
        ("signed_at", "signed at"),
    ):
        value = data.get(key)
        if isinstance(value, str) and value:
            style = MONO if key == "signing_key" else ""
            rows.append(
                f'<tr><td style="color: {MUTED_TEXT};">{label}</td>'
                f'<td style="{style}">{escape(value)}</td></tr>'
            )
    return _section("Signer") + f'<table cellspacing="0" cellpadding="2">{"".join(rows)}</table>'


def _ignored(result: CheckResultOut) -> str:
    ignored = result.ignored
    if ignored is None:
        return ""
    by = f" — set by {escape(ignored.by)}" if ignored.by else ""
    return (
        f'<p style="color: {IGNORED_COLOUR};">'
        f"<s>{escape(ignored.original_status)}</s> &nbsp;ignored by rule {ignored.rule + 1} "
        f"of the project's policy{by}:<br><i>{escape(ignored.reason)}</i></p>"
    )


def _summarised(key: str, value: Any) -> Any:
    """Large values replaced by a short description in the data dump."""
    if key == "sbom" and isinstance(value, str):
        return f"(the CycloneDX SBOM, {len(value):,} characters: Save it from the SBOM tab)"
    if key == "components" and isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return f"({len(value):,} components: see the SBOM tab)"
    return value


def data_text(data: dict[str, Any]) -> str:
    """The result's data, pretty-printed JSON, without what other sections show; '' if empty."""
    shown = {k: _summarised(k, v) for k, v in data.items() if k not in _SHOWN_APART}
    if not shown:
        return ""
    text = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > MAX_DATA_CHARS:
        text = text[:MAX_DATA_CHARS] + f"\n… ({len(text) - MAX_DATA_CHARS:,} more characters)"
    return text


def result_html(result: CheckResultOut) -> str:
    """The whole detail of one result."""
    status = result.ignored.original_status if result.ignored else result.status
    colour = IGNORED_COLOUR if result.ignored else CHECK_STATUS_COLOURS[status]
    message = escape(result.message).replace("\n", "<br>")
    if result.ignored:
        message = f'<span style="color: {IGNORED_COLOUR};"><s>{message}</s></span>'
    where = escape(result.path) if result.path else "the release as a whole"
    inside = result.artifact and (
        result.path == result.artifact or result.path.startswith(f"{result.artifact}!/")
    )
    artifact = (
        f' &nbsp;·&nbsp; artifact <span style="{MONO}">{escape(result.artifact)}</span>'
        if result.artifact and not inside
        else ""
    )
    parts = [
        f'<p style="margin: 0 0 4px 0;">{_badge(status, colour)}'
        f" &nbsp;<b>{escape(result.check)}</b>"
        f' <span style="color: {MUTED_TEXT};">v{result.check_version}</span>'
        f' &nbsp;<span style="color: {MUTED_TEXT}; {MONO}">{where}</span>{artifact}</p>',
        f'<p style="margin: 0 0 4px 0; font-size: large;">{message}</p>',
        _ignored(result),
        _signers(result.data),
    ]
    diff = result.data.get("diff")
    if isinstance(diff, str) and diff.strip():
        parts.append(_section("Difference (- expected, + found)") + diff_html(diff))
    dump = data_text(result.data)
    if dump:
        shown = escape(dump, quote=False)
        parts.append(
            _section("Data") + f'<pre style="{MONO} color: #37474f; margin-top: 0;">{shown}</pre>'
        )
    return "".join(p for p in parts if p)
