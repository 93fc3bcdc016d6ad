"""Text for people: sizes, hashes, durations, times. Pure functions, no Qt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """``1536`` → ``1.5 KiB``; bytes are shown exactly below 1 KiB."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def short_hash(value: str, *, keep: int = 16) -> str:
    """The first ``keep`` hex characters and an ellipsis."""
    return value if len(value) <= keep else f"{value[:keep]}…"


def human_duration(delta: timedelta | float) -> str:
    """``75.2`` → ``1m 15s``; under ten seconds with one decimal, under one in ms."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def local_time(at: datetime, *, with_date: bool = False) -> str:
    """A timestamp in the user's local time zone; naive values are taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S.%f")[
        : 19 if with_date else 12
    ]
